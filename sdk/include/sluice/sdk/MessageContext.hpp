#pragma once

// MessageContext: the C++ view of one exchange, handed to every hook. A thin, allocation-free
// wrapper over the host table; every call returns what the host said (no exceptions).

#include <cstdint>
#include <optional>
#include <string_view>

#include "sluice/abi.h"
#include "sluice/sdk/HttpSyntax.hpp"
#include "sluice/sdk/Logger.hpp"
#include "sluice/sdk/Value.hpp"

namespace sluice::sdk {

enum class Action : int {
    Continue = SLUICE_ACTION_CONTINUE,
    Respond = SLUICE_ACTION_RESPOND,
    Pause = SLUICE_ACTION_PAUSE,
    Error = SLUICE_ACTION_ERROR
};

enum class Message : int { Request = SLUICE_MSG_REQUEST, Response = SLUICE_MSG_RESPONSE };

class MessageContext {
public:
    MessageContext(const sluice_host_api* host, sluice_exchange* exchange, Logger logger) noexcept
        : _host(host), _ex(exchange), _logger(logger)
    {
    }

    sluice_exchange* exchange() const noexcept { return _ex; }
    const sluice_host_api* host() const noexcept { return _host; }
    const Logger& log() const noexcept { return _logger; }

    // --- request attributes
    std::optional<std::string_view> attribute(sluice_attribute which) const noexcept
    {
        sluice_str out{};
        return ok(_host->get_attribute(_ex, which, &out)) ? std::optional<std::string_view>(view(out)) : std::nullopt;
    }
    std::string_view method() const noexcept { return attribute(SLUICE_ATTR_METHOD).value_or(""); }
    std::string_view path() const noexcept { return attribute(SLUICE_ATTR_PATH).value_or(""); }
    std::optional<std::string_view> pathParam(std::string_view name) const noexcept
    {
        sluice_str out{};
        return ok(_host->get_path_param(_ex, str(name), &out)) ? std::optional<std::string_view>(view(out))
                                                               : std::nullopt;
    }
    std::optional<std::string_view> queryParam(std::string_view name, std::size_t index = 0) const noexcept
    {
        sluice_str out{};
        return ok(_host->get_query_param(_ex, str(name), index, &out)) ? std::optional<std::string_view>(view(out))
                                                                       : std::nullopt;
    }
    std::optional<std::string_view> peerCertificatePem() const noexcept
    {
        sluice_str out{};
        return ok(_host->get_peer_certificate(_ex, &out)) ? std::optional<std::string_view>(view(out)) : std::nullopt;
    }

    // --- headers
    std::optional<std::string_view> header(Message msg, std::string_view name, std::size_t index = 0) const noexcept
    {
        sluice_str out{};
        return ok(_host->header_get(_ex, kind(msg), str(name), index, &out))
                   ? std::optional<std::string_view>(view(out))
                   : std::nullopt;
    }
    std::optional<std::string_view> requestHeader(std::string_view name) const noexcept
    {
        return header(Message::Request, name);
    }
    sluice_status setHeader(Message msg, std::string_view name, std::string_view value) const noexcept
    {
        return _host->header_set(_ex, kind(msg), str(name), str(value));
    }
    sluice_status addHeader(Message msg, std::string_view name, std::string_view value) const noexcept
    {
        return _host->header_add(_ex, kind(msg), str(name), str(value));
    }
    sluice_status removeHeader(Message msg, std::string_view name) const noexcept
    {
        return _host->header_remove(_ex, kind(msg), str(name));
    }
    // Whether msg's body is content-coded: any Content-Encoding line naming a coding other than
    // identity (a second line adds codings to the list: "identity" then "br" is coded).
    bool contentCoded(Message msg) const noexcept
    {
        for (std::size_t i = 0;; ++i) {
            const std::optional<std::string_view> coding = header(msg, "Content-Encoding", i);
            if (!coding) {
                return false;
            }
            if (namesContentCoding(*coding)) {
                return true;
            }
        }
    }
    // For a step that reads the response body: asks the backend for all of it, identity-coded
    // (Accept-Encoding: identity, no Range or If-Range). Request phase. False when a field
    // could not be changed.
    bool askWholeIdentityResponse() const noexcept
    {
        return setHeader(Message::Request, "Accept-Encoding", "identity") == SLUICE_OK &&
               removeHeader(Message::Request, "Range") == SLUICE_OK &&
               removeHeader(Message::Request, "If-Range") == SLUICE_OK;
    }
    // Calls f(name, value) for each header of msg in wire order.
    template <typename F>
    sluice_status forEachHeader(Message msg, F&& f) const
    {
        std::size_t n = 0;
        sluice_status st = _host->header_count(_ex, kind(msg), &n);
        for (std::size_t i = 0; st == SLUICE_OK && i < n; ++i) {
            sluice_header h{};
            st = _host->header_at(_ex, kind(msg), i, &h);
            if (st == SLUICE_OK) {
                f(view(h.name), view(h.value));
            }
        }
        return st;
    }

    // --- bodies and built messages
    std::optional<std::string_view> body(Message msg) const noexcept
    {
        sluice_str out{};
        return ok(_host->body_get(_ex, kind(msg), &out)) ? std::optional<std::string_view>(view(out)) : std::nullopt;
    }
    sluice_status setBody(Message msg, std::string_view bytes) const noexcept
    {
        return _host->body_set(_ex, kind(msg), str(bytes));
    }
    ValueView message(Message msg) const noexcept
    {
        const sluice_value* out = nullptr;
        return ok(_host->message_get(_ex, kind(msg), &out)) ? ValueView{out} : ValueView{};
    }
    sluice_status setMessage(Message msg, const sluice_value* value, std::string_view mediaType) const noexcept
    {
        return _host->message_set(_ex, kind(msg), value, str(mediaType));
    }
    void* allocate(std::size_t size) const noexcept { return _host->arena_alloc(_ex, size); }

    // --- properties
    std::optional<std::string_view> property(std::string_view name) const noexcept
    {
        sluice_str out{};
        return ok(_host->property_get(_ex, str(name), &out)) ? std::optional<std::string_view>(view(out))
                                                             : std::nullopt;
    }
    sluice_status setProperty(std::string_view name, std::string_view value) const noexcept
    {
        return _host->property_set(_ex, str(name), str(value));
    }

    // --- responding
    sluice_status respond(int status, std::string_view contentType, std::string_view body) const noexcept
    {
        return _host->respond(_ex, status, str(contentType), str(body));
    }
    sluice_status respondError(int status, std::int64_t code, std::string_view message,
                               std::string_view description) const noexcept
    {
        return _host->respond_error(_ex, status, code, str(message), str(description));
    }

    // --- async (the callback runs later on this exchange's worker)
    sluice_status resume(Action next) const noexcept { return _host->resume(_ex, static_cast<sluice_action>(next)); }
    sluice_status startTimer(std::uint64_t delayMs, sluice_timer_callback cb, void* user,
                             sluice_timer_id* id = nullptr) const noexcept
    {
        sluice_timer_id ignored = 0;
        return _host->timer_start(_ex, delayMs, cb, user, id != nullptr ? id : &ignored);
    }
    sluice_status cancelTimer(sluice_timer_id id) const noexcept { return _host->timer_cancel(_ex, id); }
    sluice_status httpCall(const sluice_http_request& request, sluice_http_callback cb, void* user) const noexcept
    {
        return _host->http_call(_ex, &request, cb, user);
    }
    sluice_status counterAdd(std::string_view key, std::int64_t delta, std::uint64_t windowMs,
                             sluice_counter_callback cb, void* user) const noexcept
    {
        return _host->counter_add(_ex, str(key), delta, windowMs, cb, user);
    }
    sluice_status validateToken(std::string_view keyManager, std::string_view token, sluice_token_callback cb,
                                void* user) const noexcept
    {
        return _host->key_manager_validate(_ex, str(keyManager), str(token), cb, user);
    }
    sluice_status emitAnalytics(std::string_view type, std::string_view json) const noexcept
    {
        return _host->analytics_emit(_ex, str(type), str(json));
    }

private:
    static bool ok(sluice_status s) noexcept { return s == SLUICE_OK; }
    static sluice_message_kind kind(Message m) noexcept { return static_cast<sluice_message_kind>(m); }

    const sluice_host_api* _host;
    sluice_exchange* _ex;
    Logger _logger;
};

}  // namespace sluice::sdk
