#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sluice/runtime/http/ChunkedDecoder.h"
#include "sluice/runtime/http/HttpParser.h"
#include "sluice/runtime/transport/Buffer.h"
#include "sluice/runtime/transport/EventLoop.h"
#include "sluice/runtime/transport/Net.h"

namespace sluice::runtime::transport {

enum class UpstreamFailure {
    Connect,     // could not connect (nothing was sent)
    Timeout,     // connect or read timeout
    Closed,      // the backend closed or reset the connection before the response was complete
    BadResponse  // the response head or body framing was invalid
};

// What the proxying side receives from an upstream connection.
class UpstreamSink {
public:
    virtual ~UpstreamSink() = default;
    virtual void onUpstreamHead(const http::ResponseHead& head) = 0;
    virtual void onUpstreamData(std::string_view bytes) = 0;
    virtual void onUpstreamEnd() = 0;
    // `responseStarted`: some response bytes already arrived. `detail` says what went wrong, for
    // the log (the socket error, OpenSSL's reason or the certificate check that failed, the
    // parser's complaint); it may be empty.
    virtual void onUpstreamFailure(UpstreamFailure failure, bool responseStarted, std::string_view detail) = 0;
    // The request bytes queued with send() have drained below the low watermark.
    virtual void onUpstreamDrained() = 0;
};

class UpstreamPool;
class TlsClientContext;

// A failure and its detail as one log phrase: "connect failed: Connection refused".
std::string describeFailure(UpstreamFailure failure, std::string_view detail);

// One connection to a backend, used by one exchange at a time and pooled between exchanges.
class UpstreamConnection final : public IoHandler, public TimerTarget {
public:
    UpstreamConnection(EventLoop& loop, UpstreamPool& pool, std::string key, std::unique_ptr<Stream> stream,
                       bool connecting);
    ~UpstreamConnection() override;

    // Starts an exchange: `sink` receives the response to the request sent with send().
    // `limits` bound the response head (maxHeaderBytes, maxHeaderCount; maxRequestLine bounds the
    // status line). `idleTimeoutMs` (0: the pool's) is how long the connection may then wait in
    // the pool for its next exchange.
    void attach(UpstreamSink* sink, std::string_view requestMethod, int connectTimeoutMs, int readTimeoutMs,
                const http::ParseLimits& limits = http::ParseLimits(), int idleTimeoutMs = 0);
    // Writes request bytes (up to three pieces, in order, in one system call) and queues what the
    // socket does not take now; a failure is reported to the sink before this returns.
    void send(std::string_view a, std::string_view b = {}, std::string_view c = {});
    // Bytes queued but not yet written.
    std::size_t pending() const noexcept { return _out.size(); }
    // The whole request has been queued (starts the read timeout once written).
    void requestComplete();
    // Stops/starts delivering response data (flow control towards a slow client).
    void pauseReading(bool paused);
    // Detaches the sink. A connection whose response was complete, that may be kept alive and
    // has nothing unread (checked when a read may have left bytes in the socket) returns to the
    // pool; otherwise it is closed.
    void release();
    // Closes immediately (the exchange was abandoned).
    void abort();
    // This connection is not to be reused, whatever the response said (e.g. the backend answered
    // before it had the whole request body, and may take the rest for a request of its own).
    void forbidReuse() noexcept { _reuseForbidden = true; }

    bool reused() const noexcept { return _reused; }
    // The backend reset the connection: it takes no more request bytes (its answer may still come).
    bool backendClosed() const noexcept { return _backendClosed; }
    // Why the trailer section of this exchange's chunked response was dropped as invalid (the
    // body came whole, and went on), or nullptr.
    const char* trailerProblem() const noexcept { return _trailerProblem; }
    // Some bytes of a response to this exchange arrived (parsed or not).
    bool receivedAny() const noexcept { return _receivedAny; }
    const std::string& key() const noexcept { return _key; }

    void onIo(std::uint32_t events) override;
    Clock::time_point onTimer(Clock::time_point now) override;

private:
    friend class UpstreamPool;
    enum class State { Connecting, Handshaking, Active, Idle, Closed };

    void flush();
    void writeFailed(const IoResult& r);
    void watchBackend();
    void readResponse();
    void endIfBackendGone();
    void fail(UpstreamFailure failure, std::string detail = {});
    void close();
    void idleEvent();

    EventLoop& _loop;
    UpstreamPool& _pool;
    std::string _key;
    std::unique_ptr<Stream> _stream;
    State _state;
    UpstreamSink* _sink = nullptr;
    Buffer _in;
    Buffer _decoded;  // the chunks of one read, when there are several, delivered together
    Buffer _out;
    http::ResponseHead _head;
    http::ParseLimits _limits;
    std::size_t _headScanned = 0;     // bytes of _in tried as a response head without an answer
    std::size_t _headParsedSize = 0;  // the size of _in at the last parse (http::headWorthParsing)
    std::string _method;
    bool _headDone = false;
    bool _responseDone = false;
    bool _requestQueued = false;
    bool _paused = false;
    bool _writable = false;
    bool _readable = false;
    bool _reused = false;
    bool _keepAlive = false;
    bool _receivedAny = false;
    bool _reuseForbidden = false;
    const char* _trailerProblem = nullptr;
    // Bytes may wait unread in the socket or the TLS layer: the last read filled its buffer (or
    // was TLS), or input was signalled after the response was complete. With edge-triggered
    // events nothing would report them again, so release() looks before pooling.
    bool _unreadMaybe = false;
    // The backend reset the connection (EPOLLHUP, EPOLLERR, a read or write error): nothing more
    // can be written to it, and send() drops what the request still has, while its answer is
    // read to its end (or to the error). Kept, since edge-triggered events say it once.
    bool _backendClosed = false;
    // The backend closed its side (EPOLLRDHUP), maybe along with the answer's last bytes, which
    // then raise no later event: it sends no further answer, so the connection is never pooled.
    // (A backend that half-closes may go on reading, and a request sent to it would wait for
    // read_ms in vain.)
    bool _backendFinished = false;
    static constexpr int kMaxInterimResponses = 16;
    int _interimResponses = 0;  // 1xx responses read for this exchange
    std::uint64_t _bodyRemaining = 0;
    std::unique_ptr<http::ChunkedDecoder> _chunked;
    int _connectTimeoutMs = 60000;
    int _readTimeoutMs = 60000;
    int _idleTimeoutMs = 0;  // 0: the pool's
    Clock::time_point _deadline = Clock::time_point::max();
    Clock::time_point _armed = Clock::time_point::max();
    void setDeadline(Clock::time_point deadline);
};

// Per-worker keep-alive pool of upstream connections, keyed by Endpoint::poolKey.
class UpstreamPool {
public:
    explicit UpstreamPool(EventLoop& loop, std::size_t maxIdlePerKey = 1024, int idleTimeoutMs = 60000);
    ~UpstreamPool();

    // An idle connection for `key`, or a new one connecting to `address` (nullptr and `error`
    // when the connection cannot even be started).
    // With `tls`, the connection runs TLS with SNI/verification for `serverName`. With
    // `verifyIdle`, a pooled connection is first checked (one non-blocking peek) for a close the
    // loop has not seen yet: for requests that could not be sent again on another connection.
    // Without `pooled`, always a new connection.
    UpstreamConnection* acquire(const std::string& key, const Address& address, ConnectError& error,
                                const TlsClientContext* tls = nullptr, const std::string& serverName = {},
                                bool verifyIdle = false, bool pooled = true);

    std::size_t idleCount() const noexcept;
    int idleTimeoutMs() const noexcept { return _idleTimeoutMs; }
    // Closes up to `most` idle connections at once, the longest idle first, and frees their
    // descriptors; how many it closed.
    std::size_t shed(std::size_t most);

private:
    friend class UpstreamConnection;
    static constexpr std::size_t kShedAtOnce = 16;  // idle connections closed when descriptors run out
    void putIdle(UpstreamConnection* c);
    // Removes from the idle list and deletes at the end of the loop iteration.
    void dispose(UpstreamConnection* c);

    EventLoop& _loop;
    std::size_t _maxIdle;
    int _idleTimeoutMs;
    std::unordered_map<std::string, std::vector<UpstreamConnection*>> _idle;
    std::unordered_map<UpstreamConnection*, std::unique_ptr<UpstreamConnection>> _owned;
};

}  // namespace sluice::runtime::transport
