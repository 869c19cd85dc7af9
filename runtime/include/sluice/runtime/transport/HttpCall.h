#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sluice/abi.h"
#include "sluice/runtime/transport/EventLoop.h"
#include "sluice/runtime/transport/Net.h"
#include "sluice/runtime/transport/UpstreamConnection.h"

namespace sluice::runtime::transport {

class HttpConnection;

// One outgoing HTTP call a plugin made through the host (http_call): resolved off-loop, sent
// over the worker's upstream pool, answered once through the plugin's callback on the worker.
// Dropped silently when the exchange that made it has ended.
class HttpCall final : public UpstreamSink, public TimerTarget {
public:
    static constexpr std::size_t kMaxResponseBytes = 8u << 20;
    static constexpr std::uint32_t kDefaultTimeoutMs = 10000;

    HttpCall(HttpConnection& owner, std::uint64_t generation, sluice_http_callback cb, void* user);
    ~HttpCall() override;

    // Validates and starts the call; SLUICE_OK or an error (then the callback never runs).
    sluice_status start(const sluice_http_request& request);
    // The exchange ended: stop without calling back.
    void cancel();

    void onUpstreamHead(const http::ResponseHead& head) override;
    void onUpstreamData(std::string_view bytes) override;
    void onUpstreamEnd() override;
    void onUpstreamFailure(UpstreamFailure failure, bool responseStarted, std::string_view detail) override;
    void onUpstreamDrained() override {}
    // timeout_ms ran out while the name was being looked up (the timer is armed only then).
    Clock::time_point onTimer(Clock::time_point now) override;

private:
    void connect();
    void finish(sluice_status status, std::string error);

    HttpConnection& _owner;
    EventLoop& _loop;  // outlives the call; its owner may not (a call is destroyed by a deferred task)
    std::uint64_t _generation;
    sluice_http_callback _cb;
    void* _user;
    HttpUrl _url;
    Address _address;
    std::string _method;
    std::string _request;
    std::uint32_t _timeoutMs = kDefaultTimeoutMs;
    UpstreamConnection* _upstream = nullptr;
    int _status = 0;
    std::vector<std::pair<std::string, std::string>> _headers;
    std::string _body;
    bool _done = false;
    bool _sending = false;       // in connect(), writing the request
    bool _staleRetried = false;  // a pooled connection failed before any answer; now on a new one
    // Expires with the call: a name lookup that answers later finds out from it (see start()).
    std::shared_ptr<const bool> _alive = std::make_shared<const bool>(true);
};

}  // namespace sluice::runtime::transport
