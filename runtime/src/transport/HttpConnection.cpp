#include "sluice/runtime/transport/HttpConnection.h"

#include <linux/sockios.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>

#include "sluice/runtime/HostApi.h"
#include "sluice/runtime/Logging.h"
#include "sluice/runtime/MessageCodecs.h"
#include "sluice/runtime/http/JsonMethodScanner.h"
#include "sluice/runtime/http/ReasonPhrase.h"
#include "sluice/runtime/routing/PathNormalizer.h"
#include "sluice/runtime/transport/ClientFields.h"
#include "sluice/runtime/transport/HttpCall.h"
#include "sluice/runtime/transport/HttpDate.h"
#include "sluice/runtime/transport/LocationRewrite.h"
#include "sluice/runtime/transport/LogThrottle.h"
#include "sluice/runtime/transport/Resolver.h"
#include "sluice/runtime/transport/Worker.h"
#include "sluice/sdk/HttpSyntax.hpp"

namespace sluice::runtime::transport {

namespace {

// Exchanges of connections that went idle, kept per worker thread for the next request of any
// connection: an idle keep-alive connection holds none (10,000 idle clients must cost little),
// and a busy one takes a warm one (its vectors and strings keep their capacity) without malloc.
constexpr std::size_t kSpareExchanges = 256;
// A spare exchange keeps body buffers up to this capacity for reuse; larger ones are freed.
constexpr std::size_t kKeptBodyCapacity = 64 * 1024;

std::vector<std::unique_ptr<Exchange>>& spareExchanges()
{
    thread_local std::vector<std::unique_ptr<Exchange>> spare;
    return spare;
}

constexpr std::size_t kReadChunk = 32 * 1024;
constexpr std::size_t kGatherBytes = 64 * 1024;  // request body bytes read ahead into the input buffer, at most
// Request bodies with a Content-Length go from the client's socket to the backend's through one
// per-thread block (no copy unless the backend's socket is full): at most this much per read.
constexpr std::size_t kBodyBlock = 128 * 1024;

char* bodyBlock()
{
    thread_local std::unique_ptr<char[]> block(new char[kBodyBlock]);
    return block.get();  // NOLINT(clang-analyzer-cplusplus.NewDelete): the analyzer loses the thread_local owner
}
constexpr std::size_t kHighWatermark = 256 * 1024;
// Pipelined requests answered without a backend in one go before the connection yields.
constexpr std::size_t kAnsweredPerTurn = 32;
// Moves to the next address of an endpoint's host name, per exchange, after connect failures.
constexpr std::uint8_t kMaxAddressMoves = 8;
// Lingering close after an answer with input still arriving: at most this long in all, closed
// earlier when the client is silent for kLingerIdleMs; reads per loop iteration are bounded.
constexpr int kLingerTotalMs = 5000;
constexpr int kLingerIdleMs = 1000;
constexpr std::size_t kLingerReadBytes = 256 * 1024;

// nginx's status for an exchange its client abandoned; only ever logged, never sent.
constexpr int kClientClosedRequest = 499;

// Stable error codes of the gateway's own responses (README, "Errors").
constexpr std::int64_t kBadRequest = 101400;
constexpr std::int64_t kRequestTimeout = 101408;
constexpr std::int64_t kTooLarge = 101413;
constexpr std::int64_t kUriTooLong = 101414;
constexpr std::int64_t kUnsupportedMediaType = 101415;
constexpr std::int64_t kInternal = 101500;
constexpr std::int64_t kBackendUnreachable = 101503;
constexpr std::int64_t kBackendTimeout = 101504;
constexpr std::int64_t kBackendBadResponse = 101502;
constexpr std::int64_t kNoEndpoint = 101507;
constexpr std::int64_t kNoLocalResources = 101508;
constexpr auto kLocalFailureLogEvery = std::chrono::seconds(10);
constexpr std::int64_t kNoResource = 900906;
constexpr std::int64_t kMethodNotAllowed = 900907;

constexpr std::string_view kFormOverrideRefused =
    "A _method parameter in a form body (or a JSON one) is not accepted: send the request with the method itself.";
constexpr std::string_view kFormTypeRefused =
    "A POST body needs one Content-Type, and a multipart one exactly one boundary of at most 200 characters.";
constexpr std::string_view kFormCharsetRefused =
    "A form body (or a JSON one) in this charset is not accepted: send it in UTF-8 (or another ASCII-compatible "
    "charset).";
constexpr std::string_view kFormOrJsonRefused =
    "A POST body's Content-Type names a form and JSON at once: send one of them.";
constexpr std::string_view kEncodedFormRefused =
    "A form or JSON body is not accepted with a Content-Encoding: send it uncompressed.";

using http::fieldNameEquals;

// Every answer has one Date: the first that says something; a second one, or an empty one, is
// left out (and the gateway's written when none was kept).
class OneDate {
public:
    // True for a Date field to leave out.
    bool extra(std::string_view name, std::string_view value) noexcept
    {
        if (!fieldNameEquals(name, "date")) {
            return false;
        }
        if (_seen || value.find_first_not_of(" \t") == std::string_view::npos) {
            return true;
        }
        _seen = true;
        return false;
    }
    bool seen() const noexcept { return _seen; }

private:
    bool _seen = false;
};

// One append per field line of usual size (four appends cost about twice as many instructions).
void appendHeader(std::string& out, std::string_view name, std::string_view value)
{
    char line[256];
    const std::size_t length = name.size() + value.size() + 4;
    if (length > sizeof line) {
        out.append(name);
        out.append(": ");
        out.append(value);
        out.append("\r\n");
        return;
    }
    char* p = line;
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = ':';
    *p++ = ' ';
    if (!value.empty()) {  // an empty view may have no data pointer
        std::memcpy(p, value.data(), value.size());
        p += value.size();
    }
    *p++ = '\r';
    *p = '\n';
    out.append(line, length);
}

void appendHex(std::string& out, std::size_t n)
{
    char buf[20];
    int len = std::snprintf(buf, sizeof buf, "%zx\r\n", n);
    out.append(buf, static_cast<std::size_t>(len));
}

}  // namespace

// A plugin's timer on the current exchange.
class HttpConnection::ExchangeTimer final : public TimerTarget {
public:
    ExchangeTimer(HttpConnection& owner, sluice_timer_id id, sluice_timer_callback cb, void* user)
        : _owner(owner), _loop(owner._loop), _id(id), _cb(cb), _user(user)
    {
    }
    // Through the loop, not the owner: a timer that fired is destroyed by a deferred task, which
    // may run after the connection itself was freed in the same pass (the loop outlives both).
    ~ExchangeTimer() override { _loop.disarm(this); }

    Clock::time_point onTimer(Clock::time_point) override
    {
        HttpConnection& owner = _owner;
        auto& timers = owner.services().timers;
        auto it = timers.find(_id);
        if (it == timers.end()) {
            return Clock::time_point::max();
        }
        // Keep this object alive until the loop is done with it; the plugin may cancel other
        // timers or start new ones from the callback.
        std::unique_ptr<ExchangeTimer> self = std::move(it->second);
        timers.erase(it);
        owner._loop.defer([dead = std::shared_ptr<ExchangeTimer>(std::move(self))] {});
        if (owner.exchangeIfCurrent(owner._generation) != nullptr) {
            _cb(_user, owner.ex().handle(), _id);
        }
        return Clock::time_point::max();
    }

private:
    HttpConnection& _owner;
    EventLoop& _loop;
    sluice_timer_id _id;
    sluice_timer_callback _cb;
    void* _user;
};

sluice_status HttpConnection::startTimer(std::uint64_t delayMs, sluice_timer_callback cb, void* user,
                                         sluice_timer_id* id)
{
    if (_closed || ex().owner != this) {
        return SLUICE_E_WRONG_PHASE;
    }
    constexpr std::uint64_t kMaxDelayMs = 24ull * 3600 * 1000;
    if (delayMs > kMaxDelayMs) {
        return SLUICE_E_INVALID;
    }
    sluice_timer_id timerId = ++_nextTimerId;
    auto timer = std::make_unique<ExchangeTimer>(*this, timerId, cb, user);
    _loop.arm(timer.get(), _loop.now() + std::chrono::milliseconds(delayMs));
    services().timers.emplace(timerId, std::move(timer));
    *id = timerId;
    return SLUICE_OK;
}

sluice_status HttpConnection::cancelTimer(sluice_timer_id id)
{
    if (_services == nullptr) {
        return SLUICE_E_NOT_FOUND;
    }
    auto it = _services->timers.find(id);
    if (it == _services->timers.end()) {
        return SLUICE_E_NOT_FOUND;
    }
    _services->timers.erase(it);
    return SLUICE_OK;
}

sluice_status HttpConnection::resume(sluice_action next)
{
    if (!ex().paused || _state != State::Paused) {
        return SLUICE_E_INVALID;  // only a paused exchange resumes, and only once
    }
    if (next != SLUICE_ACTION_CONTINUE && next != SLUICE_ACTION_RESPOND && next != SLUICE_ACTION_ERROR) {
        return SLUICE_E_INVALID;
    }
    ex().paused = false;
    // Continue after the plugin's callback has returned, never inside it.
    _loop.defer([this, next, generation = _generation] {
        if (exchangeIfCurrent(generation) != nullptr) {
            continueAfterPause(next);
        }
    });
    return SLUICE_OK;
}

sluice_status HttpConnection::httpCall(const sluice_http_request& request, sluice_http_callback cb, void* user)
{
    if (_closed || ex().owner != this) {
        return SLUICE_E_WRONG_PHASE;
    }
    auto call = std::make_unique<HttpCall>(*this, _generation, cb, user);
    HttpCall* raw = call.get();
    services().calls.emplace(raw, std::move(call));
    sluice_status st = raw->start(request);
    if (st != SLUICE_OK) {
        services().calls.erase(raw);
    }
    return st;
}

void HttpConnection::callFinished(HttpCall* call)
{
    if (_services == nullptr) {
        return;
    }
    auto it = _services->calls.find(call);
    if (it == _services->calls.end()) {
        return;
    }
    std::shared_ptr<HttpCall> dead(std::move(it->second));
    _services->calls.erase(it);
    _loop.defer([dead] {});  // the call's own frames may still be on the stack
}

sluice_status HttpConnection::counterAdd(std::string_view key, std::int64_t delta, std::uint64_t windowMs,
                                         sluice_counter_callback cb, void* user)
{
    if (_closed || ex().owner != this) {
        return SLUICE_E_WRONG_PHASE;
    }
    std::int64_t value = LocalCounters::instance().add(std::string(key), delta, windowMs);
    _loop.defer([this, cb, user, value, generation = _generation] {
        if (Exchange* ex = exchangeIfCurrent(generation)) {
            cb(user, ex->handle(), SLUICE_OK, value);
        }
    });
    return SLUICE_OK;
}

void HttpConnection::endExchangeServices()
{
    ++_generation;
    if (_services == nullptr) {
        return;
    }
    _services->timers.clear();
    for (auto& [raw, call] : _services->calls) {
        call->cancel();
        _loop.defer([dead = std::shared_ptr<HttpCall>(std::move(call))] {});
    }
    _services->calls.clear();
}

HttpConnection::Services& HttpConnection::services()
{
    if (_services == nullptr) {
        _services = std::make_unique<Services>();
    }
    return *_services;
}

HttpConnection::HttpConnection(Worker& worker, std::unique_ptr<Stream> stream, Address peer, bool tls)
    : _worker(worker),
      _loop(worker.loop()),
      _stream(std::move(stream)),
      _peer(peer),
      _peerText(peer.str()),
      _peerIp(peer.ip()),
      _tls(tls)
{
}

HttpConnection::~HttpConnection()
{
    if (_services != nullptr) {
        _services->timers.clear();
        _services->calls.clear();
    }
    _loop.disarm(this);
    _loop.forget(this);
    releaseExchange();
}

Exchange& HttpConnection::takeExchange()
{
    auto& spare = spareExchanges();
    if (!spare.empty()) {
        _exchange = std::move(spare.back());
        spare.pop_back();
    } else {
        _exchange = std::make_unique<Exchange>();
    }
    return *_exchange;
}

void HttpConnection::releaseExchange() noexcept
{
    if (_exchange == nullptr) {
        return;
    }
    // Nothing may point into the arena once it is reset. A spare exchange keeps the arena's
    // first chunk (4 KiB): the next request takes it without malloc.
    _exchange->reset();
    for (std::string* body : {&_exchange->transportBuffers.requestBody, &_exchange->transportBuffers.responseBody}) {
        if (body->capacity() > kKeptBodyCapacity) {
            std::string().swap(*body);  // a spare exchange keeps no large buffer
        }
    }
    _exchange->transportBuffers.head.headers.clear();  // views into input that is gone
    auto& spare = spareExchanges();
    if (spare.size() < kSpareExchanges) {
        try {
            spare.push_back(std::move(_exchange));
        } catch (...) {
            // No room to keep it: it is freed below.
        }
    }
    _exchange.reset();
}

void HttpConnection::start()
{
    _state = _stream->handshakeDone() ? State::ReadHead : State::Handshake;
    _waitingSince = _loop.now();
    _headStartedAt = _waitingSince;
    setDeadline(_worker.snapshot()->config.http.headerTimeoutMs);
}

bool HttpConnection::inputArrived() const noexcept
{
    char byte = 0;
    return ::recv(_stream->fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void HttpConnection::setDeadline(int ms) { setDeadlineAt(_loop.now() + std::chrono::milliseconds(ms)); }

void HttpConnection::setDeadlineAt(Clock::time_point deadline)
{
    _deadline = deadline;
    if (_deadline < _armed) {
        _armed = _deadline;
        _loop.arm(this, _deadline);
    }
}

void HttpConnection::answerPlainHttpOnTls()
{
    // As nginx does: the client gets a readable answer instead of a bare close. Written on the
    // socket itself (there is no TLS session); the request is read and dropped first, so that the
    // close does not turn into a reset that could destroy the answer in flight.
    const std::string body = errorBody(kBadRequest, "Bad Request", "A plain HTTP request was sent to the HTTPS port.");
    const std::string answer = "HTTP/1.1 400 Bad Request\r\nDate: " + std::string(httpDateNow()) +
                               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                               "\r\nConnection: close\r\n\r\n" + body;
    const int fd = _stream->fd();
    for (int i = 0; i < 4 && ::recv(fd, _worker.scratch(), Worker::kScratchSize, MSG_DONTWAIT) > 0; ++i) {
    }
    // For the access log (written when the caller closes): a request that could not be read.
    _requestStart = _loop.now();
    _requestKnown = false;
    _loggedStatus = 400;
    _loggedFrom = _outSent;
    _loggedUpstream = nullptr;
    const ssize_t sent = ::send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent > 0) {  // best effort: the connection closes either way
        _outSent += static_cast<std::uint64_t>(sent);
    }
    ::shutdown(fd, SHUT_WR);
}

void HttpConnection::drain()
{
    _draining = true;
    // Between requests, or a TLS client that has sent nothing yet, is closed, as an idle one is
    // at the connection limit: unless a request (or the ClientHello) has reached the socket in
    // the meantime, whose event may come later in this batch of the loop. Closing with unread
    // input would reset the connection; such a request is served instead, and its answer ends
    // the connection.
    const bool between =
        (_state == State::ReadHead && _in.empty()) || (_state == State::Handshake && _stream->silent());
    if (between && !inputArrived()) {
        if (_out.empty()) {
            closeNow();
        } else {
            _state = State::Closing;  // an answer is still going out: closed once it has gone
        }
        return;
    }
    _keepAlive = false;
}

void HttpConnection::onIo(std::uint32_t events)
{
    if (_closed) {
        return;
    }
    if ((events & EPOLLOUT) != 0) {
        _writable = true;
    }
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
        _readable = true;
    }
    // A TLS client's close_notify is data, not a FIN: any input may be the end there.
    const std::uint32_t endEvents = EPOLLRDHUP | EPOLLHUP | EPOLLERR | (_stream->isTls() ? EPOLLIN : 0u);
    const bool endReported = (events & endEvents) != 0;
    _endReported = _endReported || endReported;
    if (endReported && abandonIfClientGone()) {
        return;
    }
    if (_state == State::Handshake) {
        IoResult r = _stream->handshake();
        if (r.status == IoStatus::Error || r.status == IoStatus::Eof) {
            if (_stream->peerSpokePlainHttp()) {
                answerPlainHttpOnTls();
            } else {
                logHandshakeFailure();
            }
            closeNow();
            return;
        }
        if (!_stream->handshakeDone()) {
            return;
        }
        _state = State::ReadHead;
        _readable = true;  // TLS may already hold decrypted application data
    }
    if (!_out.empty() && (_writable || _stream->isTls())) {
        _writable = true;  // TLS may have waited for a read before it could write
        flush();
        if (_closed) {
            return;
        }
    }
    if (_readable) {
        readLoop();
    }
    // The end may have come with the request's last bytes (edge-triggered: not reported again),
    // or an earlier answer's last bytes may have gone out just now.
    if (endReported && !_closed) {
        abandonIfClientGone();
    }
}

bool HttpConnection::abandonIfClientGone()
{
    if (!clientGaveUp()) {
        return false;
    }
    if (_loggedStatus == 0) {
        _loggedStatus = kClientClosedRequest;
        _loggedFrom = _outSent;  // nothing of this exchange was sent
    }
    closeNow();  // ends the backend call too
    return true;
}

// The client went away while its whole request was in and its answer was still awaited: reset
// (it can read nothing more), or closed its side where http.abort_on_client_close says that
// this means it gave up. A request pipelined behind it, read or not, an earlier answer still on
// its way to it, or this request having come pipelined behind an earlier one, means it still
// reads: a client that sends its requests and then its FIN waits for every answer, whenever
// the gateway sees the FIN.
bool HttpConnection::clientGaveUp()
{
    if ((_state != State::Proxy && _state != State::Paused) || !_bodyEnded || !_in.empty() || _snapshot == nullptr) {
        return false;
    }
    switch (_stream->peerState()) {
        case Stream::PeerState::Reset: return true;
        case Stream::PeerState::Ended: return _snapshot->config.http.abortOnClientClose && _out.empty() && !_pipelined;
        case Stream::PeerState::Open: return false;
    }
    return false;
}

std::string_view HttpConnection::readBodyBlock(std::uint64_t inHand)
{
    // Never past the body's end: pipelined bytes stay in the socket for the next request.
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(_bodyRemaining - inHand, kBodyBlock));
    if (want == 0 || !_readable || _peerClosed) {
        return {};
    }
    IoResult r = _stream->read(bodyBlock(), want);
    if (r.status != IoStatus::Ok) {
        _readable = false;
        _peerClosed = r.status != IoStatus::WouldBlock;
        return {};
    }
    noteRead(r.bytes, want);
    return {bodyBlock(), r.bytes};
}

void HttpConnection::countBody(std::uint64_t n) noexcept
{
    _bodyRemaining -= n;
    _bodyEnded = _bodyRemaining == 0;
}

// A short read of a TCP socket took all it held: with edge-triggered epoll, bytes (or a FIN)
// that come later raise an event of their own, so a read that would only find nothing is saved
// (one system call per request). Not once an end was reported (the FIN may already be behind
// the bytes just read, and would be reported no more), nor with TLS (it may hold whole records).
void HttpConnection::noteRead(std::size_t got, std::size_t asked) noexcept
{
    if (got < asked && !_endReported && !_stream->isTls()) {
        _readable = false;
    }
}

bool HttpConnection::fillInput()
{
    IoResult r;
    if (_in.empty() && _state == State::ReadBody && _bodyMode == BodyMode::Length && !_bodyEnded) {
        // A body with a known length collected whole (for a handler, or before proxying) goes
        // straight to the exchange's body, so that the input buffer does not hold a second copy.
        // Never past its end: pipelined bytes stay in the socket for the next request.
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(_bodyRemaining, kBodyBlock));
        r = _stream->read(bodyBlock(), want);
        if (r.status == IoStatus::Ok) {
            noteRead(r.bytes, want);
            io().requestBody.append(bodyBlock(), r.bytes);
            countBody(r.bytes);
            return true;
        }
    } else if (_in.empty() &&
               (_state == State::ReadHead || (_state == State::ReadBody && _bodyMode == BodyMode::Chunked))) {
        // Read into the worker's buffer and keep only what arrived: a small request costs a
        // small buffer, an idle keep-alive connection none at all, and a client trickling a
        // chunked body that is buffered no read buffer beside it.
        r = _stream->read(_worker.scratch(), Worker::kScratchSize);
        if (r.status == IoStatus::Ok) {
            noteRead(r.bytes, Worker::kScratchSize);
            _in.append(_worker.scratch(), r.bytes);
            return true;
        }
    } else {
        r = _stream->read(_in.prepare(kReadChunk), kReadChunk);
        if (r.status == IoStatus::Ok) {
            noteRead(r.bytes, kReadChunk);
            _in.commit(r.bytes);
            return true;
        }
    }
    _readable = false;
    if (r.status != IoStatus::WouldBlock) {
        _peerClosed = true;
    }
    return false;
}

void HttpConnection::readLoop()
{
    if (_answeredIn != _loop.iteration()) {
        _answeredIn = _loop.iteration();
        _answered = 0;
    }
    while (!_closed) {
        switch (_state) {
            case State::ReadHead:
                if (!_in.empty()) {
                    if (_answered >= kAnsweredPerTurn) {
                        _loop.resumeNext(this);  // let the worker's other connections run first
                        return;
                    }
                    const std::uint32_t served = _served;
                    processInput();
                    if (_state != State::ReadHead || _closed) {
                        continue;
                    }
                    if (_served != served) {
                        // The request was answered within processInput (a 404, 405, a local
                        // answer): parse the next one from what is here before reading more, so
                        // that input is read only as fast as it is answered.
                        ++_answered;
                        continue;
                    }
                }
                if (_peerClosed) {
                    // No request can come any more. Answers still going out (the client
                    // half-closed after its requests, and reads slowly) go out whole first.
                    if (!_out.empty()) {
                        _state = State::Closing;
                        return;
                    }
                    closeNow();
                    return;
                }
                if (!_readable) {
                    return;
                }
                if (_out.size() > kHighWatermark) {
                    return;  // a client that does not read its answers gets no more read; EPOLLOUT resumes
                }
                {
                    bool wasEmpty = _in.empty();
                    if (!fillInput()) {
                        if (_peerClosed) {
                            continue;
                        }
                        return;
                    }
                    if (wasEmpty) {
                        // The request's first byte: the header deadline runs from here, and so
                        // does the time a stalled head is judged by (Worker::reclaimIdle).
                        _headStartedAt = _loop.now();
                        setDeadline(_snapshot ? _snapshot->config.http.headerTimeoutMs
                                              : _worker.snapshot()->config.http.headerTimeoutMs);
                    }
                }
                break;
            case State::ReadBody:
                bufferRequestBody();
                if (_state != State::ReadBody || _closed) {
                    continue;
                }
                if (_peerClosed) {
                    closeNow();
                    return;
                }
                if (!_readable || !fillInput()) {
                    if (_peerClosed) {
                        continue;
                    }
                    return;
                }
                setDeadline(_snapshot->config.http.bodyTimeoutMs);
                break;
            case State::Proxy: {
                if (_bodyEnded || _clientReadPaused || _upstream == nullptr) {
                    return;
                }
                if (_bodyMode == BodyMode::Length) {
                    pumpRequestBody();  // reads the socket itself, until it would block
                    if (_closed || _bodyEnded || _clientReadPaused || _state != State::Proxy) {
                        continue;
                    }
                    if (_peerClosed) {
                        closeNow();  // the client gave up in the middle of its body
                    }
                    return;
                }
                // Chunked: gather what is readable now (bounded) and forward it in one send,
                // rather than one send per small read.
                bool gathered = false;
                while (_readable && !_peerClosed && _in.size() < kGatherBytes && fillInput()) {
                    gathered = true;
                }
                pumpRequestBody();
                if (_closed || _bodyEnded || _clientReadPaused || _state != State::Proxy) {
                    continue;
                }
                if (gathered) {
                    // body_timeout_ms is the longest the body may stall, not how long it may take.
                    setDeadline(_snapshot->config.http.bodyTimeoutMs);
                }
                if (_peerClosed) {
                    closeNow();  // the client gave up in the middle of its body
                    return;
                }
                if (!_readable || !fillInput()) {
                    if (_peerClosed) {
                        continue;
                    }
                    return;
                }
                setDeadline(_snapshot->config.http.bodyTimeoutMs);
                break;
            }
            case State::Lingering: drainLinger(false); return;
            case State::Handshake:
            case State::Paused:
            case State::Respond:
            case State::Closing: return;
        }
    }
}

void HttpConnection::processInput()
{
    const HttpConfig& cfg = _worker.snapshot()->config.http;
    const std::string_view input = _in.view();
    if (!http::headWorthParsing(input, _scanned, _parsedSize, cfg.maxRequestLine, cfg.maxHeaderBytes)) {
        _scanned = input.size();
        return;
    }
    _scanned = input.size();
    _parsedSize = input.size();
    http::ParseLimits limits;
    limits.maxRequestLine = cfg.maxRequestLine;
    limits.maxHeaderBytes = cfg.maxHeaderBytes;
    limits.maxHeaderCount = cfg.maxHeaders;
    http::ParseResult r = http::parseRequestHead(_in.view(), limits, head());
    if (r.status == http::ParseStatus::Incomplete) {
        return;
    }
    if (r.status == http::ParseStatus::Error) {
        dropRefusedHead();
        int status = r.httpStatus;
        std::int64_t code = status == 413 ? kTooLarge : 101000 + status;
        respondLocal(status, code, http::reasonPhrase(status), r.reason, true);
        return;
    }
    startExchange();
}

void HttpConnection::dropRefusedHead()
{
    // A HEAD refused for what follows its method still gets no content (RFC 9110 §9.3.2). Read
    // from the bytes, not from the parsed head: after a timeout that may be older than they are
    // (the head is not parsed again at every read: http::headWorthParsing). Blank lines may come first.
    const std::string_view in = _in.view();
    const std::size_t start = in.find_first_not_of("\r\n");
    _isHead = start != std::string_view::npos && in.substr(start, 5) == "HEAD ";
    _snapshot = _worker.snapshot();
    ex().reset();
    _headConsumed = false;
    _in.clear();
    _scanned = 0;
    _parsedSize = 0;
    _bodyMode = BodyMode::None;
    _bodyEnded = true;
    _pipeline = nullptr;
}

void HttpConnection::startExchange()
{
    _scanned = 0;
    _parsedSize = 0;
    _snapshot = _worker.snapshot();
    _requestStart = _loop.now();
    _requestKnown = true;
    _loggedStatus = 0;
    _loggedUpstream = nullptr;
    ex().reset();
    _isHead = head().method == "HEAD";
    _versionMinor = head().versionMinor;
    const HttpConfig& cfg = _snapshot->config.http;
    ++_served;
    _keepAlive = head().keepAlive && !_draining && _served < cfg.maxRequestsPerConnection;
    _headConsumed = false;
    _bodyEnded = false;
    _continueSent = false;
    _responseStarted = false;
    _headWritten = false;
    _responseChainRan = false;
    _upstreamEnded = false;
    _awaitingBody = false;
    _bufferResponse = false;
    _bufferingForProxy = false;
    _chunkedPrefix = false;
    _bodyBuffered = false;
    io().heldResponse.clear();
    io().responseBody.clear();
    io().tried.clear();
    _staleRetried = false;
    _sameEndpointAgain = nullptr;
    _addressMoves = 0;
    _firstAttemptMs = -1;
    _lastFailure.reset();
    _endpoint = nullptr;
    _api = nullptr;
    _pipeline = nullptr;
    _chainEnd = 0;
    io().requestBody.clear();
    _chunked.reset();
    _formScan.reset();
    _formScanChosen = false;
    switch (head().framing) {
        case http::BodyFraming::ContentLength:
            _bodyMode = head().contentLength > 0 ? BodyMode::Length : BodyMode::None;
            _bodyRemaining = head().contentLength;
            break;
        case http::BodyFraming::Chunked:
            _bodyMode = BodyMode::Chunked;
            _chunked = std::make_unique<http::ChunkedDecoder>(cfg.maxBodyBytes);
            break;
        default: _bodyMode = BodyMode::None; break;
    }
    if (_bodyMode == BodyMode::None) {
        _bodyEnded = true;
    }
    if (_bodyMode == BodyMode::Length && head().contentLength > cfg.maxBodyBytes) {
        // Refused before any 100 Continue: the client never sends the body.
        _in.consume(head().headLength);
        _headConsumed = true;
        respondLocal(413, kTooLarge, "Content Too Large",
                     "The request body exceeds the limit of " + std::to_string(cfg.maxBodyBytes) + " bytes.", true);
        return;
    }
    routeAndRun();
}

void HttpConnection::routeAndRun()
{
    std::string error;
    routing::NormalizeInfo pathInfo;
    auto path = routing::normalizePath(head().path, error, pathInfo);
    if (!path) {
        _in.consume(head().headLength);
        _headConsumed = true;
        if (error == routing::kPathTooLong) {
            respondLocal(414, kUriTooLong, "URI Too Long",
                         "The request path is longer than 8 KiB once normalised (its escapes written out).");
        } else {
            respondLocal(400, kBadRequest, "Bad Request",
                         error.empty() ? "The request path is not acceptable." : error);
        }
        return;
    }
    if (const char* problem = routing::queryProblem(head().query)) {
        _in.consume(head().headLength);
        _headConsumed = true;
        respondLocal(400, kBadRequest, "Bad Request", problem);
        return;
    }
    routing::RouteMatch match = _snapshot->router->route(head().method, *path, pathInfo);
    if (match.status != routing::RouteStatus::Matched) {
        _in.consume(head().headLength);
        _headConsumed = true;
        if (match.status == routing::RouteStatus::Escaped) {
            respondLocal(400, kBadRequest, "Bad Request", "The path leaves its API through a '..' segment.");
        } else if (match.status == routing::RouteStatus::PrefixParameter) {
            respondLocal(400, kBadRequest, "Bad Request",
                         "Path parameters (';') are not accepted on an API's context or version.");
        } else if (match.status == routing::RouteStatus::MethodNotAllowed) {
            ex().responseHeaders.set("Allow", match.allowedMethods);
            respondLocal(405, kMethodNotAllowed, "Method Not Allowed",
                         "The resource does not support " + std::string(head().method) + ".");
        } else {
            respondLocal(404, kNoResource, "Not Found", "No matching resource found for the request.");
        }
        return;
    }
    _api = match.api;
    _pipeline = match.resource != nullptr ? &match.resource->pipeline : &match.api->pipeline;

    // The exchange: copies of everything handlers may see. Hop-by-hop fields (including those
    // the client named in Connection) never enter it, so nothing a handler adds is stripped.
    Exchange& ex = this->ex();
    ex.method.assign(head().method);
    ex.path = match.canonicalPath.empty() ? std::move(*path) : std::move(match.canonicalPath);
    ex.query.assign(head().query);
    const MethodOverride overrides = methodOverride();
    bool overridden = false;
    // A name read as "_method" has a '_', or a '.', '+' or ' ' that PHP reads as one, or escapes
    // (the check is a scan without allocation unless a name has escapes).
    if (overrides != MethodOverride::Forward && ex.query.find_first_of("_.+ %") != std::string::npos) {
        std::string kept;
        overridden =
            queryOverridesMethod(ex.query, head().method, overrides == MethodOverride::Strip ? &kept : nullptr);
        if (overrides == MethodOverride::Strip) {
            ex.query = std::move(kept);
        }
    }
    ex.scheme = _tls ? "https" : "http";
    ex.host.assign(head().host);
    ex.clientAddress = _peerText;
    ex.apiName = _api->config.name;
    ex.apiVersion = _api->config.version;
    ex.resource = match.resource != nullptr ? match.resource->config.uriTemplate : std::string();
    ex.protocol = head().versionMinor == 0 ? "HTTP/1.0" : "HTTP/1.1";
    ex.pathParams = std::move(match.pathParams);
    ex.resourcePath = std::move(match.resourcePath);
    ex.nothingAfterPrefix = match.nothingAfterPrefix;
    if (_stream->isTls()) {
        if (!_peerPem) {
            // The client's certificate is fixed for the connection (no renegotiation): encode once.
            _peerPem = _stream->peerCertificatePem();
        }
        if (!_peerPem->empty()) {
            ex.peerCertificatePem = *_peerPem;
        }
    }
    http::HopByHopFilter hopByHop(head().headers);
    // A name with '_' or '.' read as another field's spelt otherwise ("X_Api_Key" beside
    // "X-Api-Key"): the backend would see one of the two values, perhaps not the one a policy
    // checked. It is dropped; the spelling without such bytes stays.
    const http::CgiLookAlikes lookAlikes(head().headers);
    for (std::size_t i = 0; i < head().headers.size(); ++i) {
        const http::HeaderField& h = head().headers[i];
        const ClientField kind = classifyClientField(h.name);
        if (kind == ClientField::Dropped || hopByHop(h.name) || lookAlikes(i)) {
            continue;
        }
        if (kind == ClientField::MethodOverride && overrides != MethodOverride::Forward) {
            overridden = overridden || h.value != head().method;
            continue;
        }
        if (kind == ClientField::ProxyInformation && !peerTrusted()) {
            continue;
        }
        ex.requestHeaders.add(h.name, h.value);
    }
    ex.owner = this;
    ex.driver = this;
    ex.codecs = _snapshot->codecs.get();
    ex.maxBodyBytes = _snapshot->config.http.maxBodyBytes;
    _in.consume(head().headLength);
    _headConsumed = true;
    if (overridden && overrides == MethodOverride::Reject) {
        respondLocal(400, kBadRequest, "Bad Request",
                     "Method overrides (X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override, a _method "
                     "query parameter) are not accepted: send the request with the method itself.");
        return;
    }

    ex.requestBodyStreams = _bodyMode != BodyMode::None && !_pipeline->needsRequestBody();
    if (_pipeline->needsRequestBody() && _bodyMode != BodyMode::None) {
        _state = State::ReadBody;
        sendContinueIfExpected();
        setDeadline(_snapshot->config.http.bodyTimeoutMs);
        return;  // readLoop() continues with bufferRequestBody()
    }
    runRequestChain();
}

void HttpConnection::bufferRequestBody()
{
    const std::uint64_t limit = _snapshot->config.http.maxBodyBytes;
    if (_bodyMode == BodyMode::Length) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(_bodyRemaining, _in.size()));
        io().requestBody.append(_in.data(), n);
        _in.consume(n);
        countBody(n);
        if (!_bodyEnded) {
            _in.shrinkIfEmpty(0);  // the rest is read straight into the body (fillInput)
        }
    } else if (_bodyMode == BodyMode::Chunked) {
        std::size_t used = 0;
        auto st = _chunked->feed(_in.view(), used, [this](std::string_view d) { io().requestBody.append(d); });
        _in.consume(used);
        if (st == http::ChunkedDecoder::Status::Error) {
            if (_chunked->tooLarge()) {
                respondLocal(413, kTooLarge, "Content Too Large",
                             "The request body exceeds the limit of " + std::to_string(limit) + " bytes.", true);
            } else {
                respondLocal(400, kBadRequest, "Bad Request", _chunked->error(), true);
            }
            return;
        }
        _bodyEnded = st == http::ChunkedDecoder::Status::Done;
        if (_bufferingForProxy && io().requestBody.size() > _snapshot->config.http.requestBufferBytes) {
            // Longer than request_buffer_bytes (also when its end came in the same read): it
            // streams from here, as a longer Content-Length does.
            _bufferingForProxy = false;
            _chunkedPrefix = true;
            proxy();
            return;
        }
        if (!_bodyEnded) {
            _in.shrinkIfEmpty(0);  // a client that trickles a body holds its decoded bytes only
        }
    }
    if (_bodyEnded && _bufferingForProxy) {
        _bufferingForProxy = false;
        _bodyBuffered = true;
        proxy();
        return;
    }
    if (_bodyEnded) {
        ex().requestBody = std::move(io().requestBody);
        io().requestBody.clear();
        _bodyMode = BodyMode::Length;  // forwarded with a Content-Length from the buffer
        runRequestChain();
    }
}

void HttpConnection::runRequestChain(std::size_t from)
{
    if (_pipeline->empty()) {
        proxy();
        return;
    }
    _state = State::Proxy;
    ChainResult r = _pipeline->runRequest(ex(), from);
    _chainEnd = r.index;
    switch (r.outcome) {
        case ChainOutcome::Continue:
            _chainEnd = _pipeline->handlers().size();
            if (const sluice_status formatted =
                    ex().codecs != nullptr ? ex().codecs->format(ex(), SLUICE_MSG_REQUEST) : SLUICE_OK;
                formatted == SLUICE_E_TOO_LARGE) {
                respondLocal(413, kTooLarge, "Content Too Large",
                             "The request body, as changed by the API's policies, exceeds the limit of " +
                                 std::to_string(_snapshot->config.http.maxBodyBytes) + " bytes.");
                return;
            } else if (formatted != SLUICE_OK) {
                respondLocal(500, kInternal, "Internal Server Error", "The changed request could not be formatted.");
                return;
            }
            proxy();
            return;
        case ChainOutcome::Respond:
        case ChainOutcome::Error: respondPrepared(false); return;
        case ChainOutcome::Pause:
            _state = State::Paused;
            _pausedPhase = SLUICE_PHASE_REQUEST;
            _pausedIndex = r.index;
            ex().paused = true;
            setDeadline(_api->endpoints->timeouts.readMs);
            return;
    }
}

void HttpConnection::continueAfterPause(sluice_action next)
{
    _state = State::Proxy;
    _deadline = Clock::time_point::max();
    if (next == SLUICE_ACTION_RESPOND && !ex().localResponse) {
        Logging::get("pipeline")->error("a handler resumed with RESPOND without preparing a response");
        next = SLUICE_ACTION_ERROR;
    }
    if (next == SLUICE_ACTION_ERROR) {
        ex().localResponse =
            LocalResponse{500, "application/json",
                          errorBody(kInternal, "Internal Server Error", "The gateway could not process the request.")};
        next = SLUICE_ACTION_RESPOND;
    }
    if (_pausedPhase == SLUICE_PHASE_REQUEST) {
        if (next == SLUICE_ACTION_CONTINUE) {
            runRequestChain(_pausedIndex + 1);
        } else {
            _chainEnd = _pausedIndex;
            respondPrepared(false);
        }
        return;
    }
    if (next == SLUICE_ACTION_CONTINUE) {
        runResponsePhase(_pausedIndex);
        if (!_closed && _state == State::Proxy) {
            flush();  // the head (and any held body bytes) waited for the pause
        }
        if (!_closed && _state == State::Proxy && !_bodyEnded && _upstream != nullptr) {
            // The request body still goes to the backend (it answered early): nothing read the
            // client while the handler paused, and its read events are spent. Read on.
            setDeadline(_snapshot->config.http.bodyTimeoutMs);
            if (!_clientReadPaused) {
                readAgainLater(State::Proxy);
            }
        }
    } else {
        replaceBackendResponse();
    }
}

// A response-phase handler answered (or failed) instead of the backend: its answer goes out
// with the fields handlers added, not with the backend's, rewritten or not, which describe
// another body (its Content-Encoding, ETag, Set-Cookie ...). As Envoy's local replies do.
void HttpConnection::replaceBackendResponse()
{
    if (_upstream != nullptr) {
        _upstream->abort();
        _upstream = nullptr;
    }
    ex().responseHeaders.dropReceived();
    respondPrepared(false, false);
}

void HttpConnection::sendContinueIfExpected()
{
    if (head().expectContinue && !_continueSent && head().versionMinor >= 1 && !_bodyEnded) {
        _continueSent = true;
        writeOut("HTTP/1.1 100 Continue\r\n\r\n");
        flush();
    }
}

// The current attempt failed in a way that counts against its endpoint (suspension).
// An answer the gateway cannot use (an invalid head or framing) came from a backend that is up
// and answering: it is that request's failure, not the endpoint's (nginx leaves invalid_header
// out of its failures too). A request that makes the application answer so - a reflected field
// breaking the head, say - must not suspend the endpoint for every client.
void HttpConnection::reportEndpointFailure(UpstreamFailure failure)
{
    if (failure == UpstreamFailure::BadResponse ||
        (failure == UpstreamFailure::Timeout && !_api->endpoints->suspension.onTimeout)) {
        return;
    }
    const std::int64_t ms =
        _endpoint->reportFailure(upstream::monotonicMs(), _attemptStartMs, _api->endpoints->suspension);
    if (ms > 0) {
        Logging::get("upstream")
            ->warn("{} of {}: suspended for {} ms", _endpoint->shownUrl, _api->endpoints->apiName, ms);
    }
}

// Reads the client on the next turn of the loop, if this exchange is still on and in `state`:
// after a pause (or while nothing read), a read event may have come and gone.
void HttpConnection::readAgainLater(State state)
{
    _loop.defer([this, state, generation = _generation] {
        if (exchangeIfCurrent(generation) != nullptr && _state == state) {
            readLoop();
        }
    });
}

// A short body with a Content-Length that is not all here yet (of a longer one, what arrived
// with the head goes out with it, in one write), or a chunked body, which may be short: it is
// buffered until it ends or outgrows the limit.
bool HttpConnection::bodyWorthBuffering()
{
    const std::uint64_t limit = _snapshot->config.http.requestBufferBytes;
    if (_bodyEnded || _bodyBuffered || ex().requestBody || limit == 0) {
        return false;
    }
    if (_bodyMode == BodyMode::Chunked) {
        return !_chunkedPrefix;
    }
    return _bodyMode == BodyMode::Length && head().contentLength <= limit && _in.size() < _bodyRemaining;
}

// A short body with a Content-Length that is all here already.
bool HttpConnection::bodyWholeHere()
{
    const std::uint64_t limit = _snapshot->config.http.requestBufferBytes;
    return _bodyMode == BodyMode::Length && !_bodyEnded && !_bodyBuffered && !ex().requestBody && limit > 0 &&
           head().contentLength <= limit && _in.size() >= _bodyRemaining;
}

void HttpConnection::proxy()
{
    if (!ex().requestBody && !_bodyBuffered && !_bodyEnded && refusedByFormHead()) {
        return;
    }
    if (bodyWholeHere()) {
        // A short body that came whole with the head is held as one read whole (below), so that
        // a failure before the backend answers can send it again (a retry; any method after a
        // failed connect), however the client's bytes were cut into packets.
        const auto n = static_cast<std::size_t>(_bodyRemaining);
        io().requestBody.clear();
        io().requestBody.append(_in.data(), n);
        _in.consume(n);
        countBody(n);
        _bodyBuffered = true;
    }
    if (bodyWorthBuffering()) {
        // Read it whole before the backend is contacted, so that a client slow to send it never
        // holds a backend connection (as nginx's proxy_request_buffering). Handlers have run:
        // a request they refuse is answered before its body is read.
        _bufferingForProxy = true;
        _state = State::ReadBody;
        // At most request_buffer_bytes, and at most 1 MiB before any byte of it came.
        io().requestBody.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(head().contentLength, 1u << 20)));
        sendContinueIfExpected();
        setDeadline(_snapshot->config.http.bodyTimeoutMs);
        bufferRequestBody();  // takes what is here; proxy() runs again once the body is whole
        if (!_closed && _state == State::ReadBody && (_readable || _peerClosed)) {
            readAgainLater(State::ReadBody);  // called after a pause, the read edge may be spent
        }
        return;
    }
    _state = State::Proxy;
    // From here the backend's wait is the upstream connection's read timeout; the client's
    // deadline covers only a stalled request body or a client that stops reading.
    _deadline = Clock::time_point::max();
    // Take what the client has already sent (bounded), so that it leaves with the head.
    std::string_view early;
    if (!_bodyEnded && !ex().requestBody) {
        if (_bodyMode == BodyMode::Length) {
            early = readBodyBlock(std::min<std::uint64_t>(_bodyRemaining, _in.size()));
        } else {
            while (_readable && !_peerClosed && _in.size() < kGatherBytes && fillInput()) {
            }
        }
    }
    if (!startFormScan(early) || !connectUpstream(early)) {
        return;
    }
    sendContinueIfExpected();
    if (!_closed && !_bodyEnded) {
        setDeadline(_snapshot->config.http.bodyTimeoutMs);
        pumpRequestBody();
        if (!_closed && !_bodyEnded && !_clientReadPaused && (_readable || _peerClosed)) {
            // The read edge may have been consumed before a pause: pick the body up again (or
            // notice that the client left in the middle of it).
            readAgainLater(State::Proxy);
        }
    }
}

bool HttpConnection::connectUpstream(std::string_view early)
{
    upstream::EndpointSet& endpoints = *_api->endpoints;
    while (true) {
        _attemptStartMs = upstream::monotonicMs();
        // A request that met a dead pooled connection goes again to the same endpoint.
        _endpoint = _sameEndpointAgain != nullptr ? std::exchange(_sameEndpointAgain, nullptr)
                                                  : endpoints.pick(_attemptStartMs, io().tried);
        if (_endpoint == nullptr) {
            takeBodyInHand();
            if (!io().tried.empty()) {
                Logging::get("upstream")
                    ->warn("{} {}: no other endpoint of {} to try (giving up)", ex().method, ex().path,
                           endpoints.apiName);
            }
            if (io().tried.empty() && !_lastFailure) {
                if (const auto seconds = endpoints.retryAfterSeconds(_attemptStartMs)) {
                    ex().responseHeaders.set("Retry-After", std::to_string(*seconds));
                }
                respondLocal(503, kNoEndpoint, "Service Unavailable",
                             "Every endpoint of the API is suspended after failures or failing its health "
                             "checks; retry later.");
            } else {
                respondUpstreamFailure(_lastFailure.value_or(UpstreamFailure::Connect));
            }
            return false;
        }
        if (_firstAttemptMs < 0) {
            // The exchange's first attempt: a retry on the same endpoint (another address of its
            // name, a new connection after a stale one) does not start the window again.
            _firstAttemptMs = _attemptStartMs;
        }
        io().tried.push_back(_endpoint);
        ConnectError error;
        // A request that cannot be sent a second time (a body that streams, or a method that is
        // not idempotent, RFC 9112 §9.3.1.1) would get a 502 from a stale pooled connection:
        // check the connection first. An idempotent request in hand is retried instead.
        const bool replayable = (_bodyMode == BodyMode::None || ex().requestBody.has_value() || _bodyBuffered) &&
                                http::isIdempotentMethod(ex().method);
        const upstream::EndpointTarget& target = _endpoint->target();
        _loggedUpstream = &target;
        _upstream = _worker.pool().acquire(target.poolKey, target.address, error, _endpoint->tlsContext.get(),
                                           _endpoint->serverName, !replayable, !_staleRetried);
        if (_upstream == nullptr && error.local) {
            // Every endpoint would fail the same way, and none of them is to blame. Once per
            // kLocalFailureLogEvery per worker: this happens to every request while it lasts.
            thread_local LogThrottle throttle(kLocalFailureLogEvery);
            std::size_t suppressed = 0;
            if (throttle.due(_loop.now(), suppressed)) {
                Logging::get("upstream")
                    ->warn(
                        "{} {}: cannot open a connection to {}: {} (the gateway's own limit; the endpoint is not "
                        "suspended){}",
                        ex().method, ex().path, _endpoint->shownUrl, error.text,
                        suppressed == 0
                            ? std::string()
                            : "; " + std::to_string(suppressed + 1) + " such answers since the last message");
            }
            _endpoint = nullptr;
            takeBodyInHand();
            respondLocal(503, kNoLocalResources, "Service Unavailable",
                         "The gateway is out of connections or memory and cannot reach the backend now; retry "
                         "later.",
                         !_bodyEnded);
            return false;
        }
        if (_upstream == nullptr) {
            Logging::get("upstream")->warn("{}: {}", _endpoint->shownUrl, error.text);
            reportEndpointFailure(UpstreamFailure::Connect);
            continue;
        }
        break;
    }
    const bool once = bodyBackendsMayIgnore();
    buildUpstreamHead(once);
    _upstream->attach(this, ex().method, _api->endpoints->timeouts.connectMs, _api->endpoints->timeouts.readMs,
                      _snapshot->responseLimits, _api->endpoints->timeouts.idleMs);
    if (once) {
        _upstream->forbidReuse();
    }
    if (ex().requestBody) {
        _upstream->send(io().upstreamHead, *ex().requestBody);
    } else if (_bodyBuffered) {
        _upstream->send(io().upstreamHead, io().requestBody);
    } else if (_chunkedPrefix) {
        // What was buffered of a chunked body goes out as one chunk with the head; the chunked
        // decoder goes on with the rest (pumpRequestBody).
        std::string& chunk = io().text;
        chunk.clear();
        appendHex(chunk, io().requestBody.size());  // with its CRLF
        chunk.append(io().requestBody);
        chunk.append("\r\n");
        if (_bodyEnded) {
            chunk.append("0\r\n\r\n");  // all of it was here: nothing is left to pump
        }
        io().requestBody.clear();
        _upstream->send(io().upstreamHead, chunk);
    } else if (_bodyMode == BodyMode::Length && !_bodyEnded && (!_in.empty() || !early.empty())) {
        // The body bytes already here (buffered with the head, then read just now) go out with
        // the head, in one write.
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(_bodyRemaining, _in.size()));
        countBody(n + early.size());
        std::string_view first(_in.data(), n);
        // Taken from the input before the send (the view stays valid: consume() moves no byte):
        // a send that fails at once ends the exchange, whose end must not find them there and take
        // them for a pipelined request.
        _in.consume(n);
        _upstream->send(io().upstreamHead, first, early);
    } else {
        _upstream->send(io().upstreamHead);
    }
    if (_bodyEnded && _upstream != nullptr) {
        _upstream->requestComplete();
    }
    return _upstream != nullptr;
}

void HttpConnection::takeBodyInHand()
{
    if (_bodyMode == BodyMode::Length && !_bodyEnded && _headConsumed && _in.size() >= _bodyRemaining) {
        const auto n = static_cast<std::size_t>(_bodyRemaining);
        _in.consume(n);
        countBody(n);
    }
}

// A body on a method for which a body has no defined meaning (RFC 9110 section 9.3): a backend
// may answer without reading it (Python's http.server does) and then read it as the next
// request on the connection, which, pooled, would be another client's: a request smuggled past
// the API's resources, whose answer goes to that client. Such a request's connection (new or
// pooled) carries nothing after it: Connection: close, never pooled again.
bool HttpConnection::bodyBackendsMayIgnore()
{
    const std::string& m = ex().method;
    if (m != "GET" && m != "HEAD" && m != "DELETE" && m != "OPTIONS") {
        return false;
    }
    if (ex().requestBody) {
        return !ex().requestBody->empty();
    }
    return _bodyMode == BodyMode::Chunked || (_bodyMode == BodyMode::Length && head().contentLength > 0);
}

void HttpConnection::buildUpstreamHead(bool closeAfter)
{
    const Exchange& ex = this->ex();
    std::string& h = io().upstreamHead;
    h.clear();
    h.append(ex.method);
    h.push_back(' ');
    h.append(_endpoint->basePath);
    if (!ex.nothingAfterPrefix || _endpoint->basePath.empty() || _endpoint->basePathSlash) {
        h.append(ex.resourcePath);  // "/" when nothing followed the prefix
    }
    if (!ex.query.empty()) {
        h.push_back('?');
        h.append(ex.query);
    }
    h.append(" HTTP/1.1\r\n");
    appendHeader(h, "Host", _endpoint->hostHeader);

    const bool trusted = peerTrusted();
    // Several field lines of a list header are one list, in order (RFC 9110 §5.3).
    std::string& priorFor = io().priorFor;
    std::string& priorVia = io().priorVia;
    priorFor.clear();
    priorVia.clear();
    std::string priorForwarded;  // rare: no member keeps its capacity
    const bool handlersRan = !_pipeline->empty();
    for (const auto& [name, value] : ex.requestHeaders.entries()) {
        if (transportOwned(name)) {
            std::string* list = fieldNameEquals(name, "x-forwarded-for") ? &priorFor
                                : fieldNameEquals(name, "via")           ? &priorVia
                                : fieldNameEquals(name, "forwarded")     ? &priorForwarded
                                                                         : nullptr;
            if (list != nullptr && !value.empty()) {
                if (!list->empty()) {
                    list->append(", ");
                }
                list->append(value);
            }
            continue;
        }
        if (handlersRan && (http::isHopByHopName(name) || httpoxyField(name) || cgiLookAlike(name))) {
            continue;  // the client's were dropped on arrival; these came from a handler
        }
        appendHeader(h, name, value);
    }
    h.append("X-Forwarded-For: ");
    if (trusted && !priorFor.empty()) {
        h.append(priorFor);
        h.append(", ");
    }
    h.append(_peerIp);
    h.append("\r\n");
    if (trusted && !priorForwarded.empty()) {
        appendHeader(h, "Forwarded", priorForwarded);
    }
    appendHeader(h, "X-Forwarded-Proto", ex.scheme);
    if (!ex.host.empty()) {
        appendHeader(h, "X-Forwarded-Host", ex.host);
    }
    h.append("Via: ");
    if (!priorVia.empty()) {
        h.append(priorVia);
        h.append(", ");
    }
    h.append(_versionMinor == 0 ? "1.0 sluice\r\n" : "1.1 sluice\r\n");
    if (ex.requestBody) {
        appendHeader(h, "Content-Length", std::to_string(ex.requestBody->size()));
    } else if (_bodyBuffered) {
        appendHeader(h, "Content-Length", std::to_string(io().requestBody.size()));  // a chunked one too
    } else if (_bodyMode == BodyMode::Length) {
        appendHeader(h, "Content-Length", std::to_string(head().contentLength));
    } else if (_bodyMode == BodyMode::Chunked) {
        h.append("Transfer-Encoding: chunked\r\n");
    } else if (ex.method == "POST" || ex.method == "PUT" || ex.method == "PATCH") {
        h.append("Content-Length: 0\r\n");
    }
    if (closeAfter) {
        h.append("Connection: close\r\n");
    }
    h.append("\r\n");
}

void HttpConnection::pumpRequestBody()
{
    if (_upstream == nullptr || _bodyEnded) {
        return;
    }
    if (_bodyMode == BodyMode::Length) {
        if (!_in.empty()) {
            // Bytes buffered with the head (or while a handler paused) go first.
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(_bodyRemaining, _in.size()));
            countBody(n);
            std::string_view data(_in.data(), n);
            if (!formBodyAllowed(data)) {
                return;
            }
            _in.consume(n);  // before the send, as in connectUpstream
            _upstream->send(data);
            if (_upstream == nullptr) {
                return;  // the send failed and the failure was handled
            }
        }
        // Then straight from the client's socket to the backend's, never past the body's end
        // (pipelined bytes stay in the socket for the next request).
        bool progressed = false;
        while (!_bodyEnded && _in.empty() && _upstream->pending() <= kHighWatermark) {
            std::string_view block = readBodyBlock(0);
            if (block.empty()) {
                break;
            }
            progressed = true;
            countBody(block.size());
            if (!formBodyAllowed(block)) {
                return;
            }
            _upstream->send(block);
            if (_upstream == nullptr) {
                return;
            }
        }
        if (progressed && !_bodyEnded) {
            setDeadline(_snapshot->config.http.bodyTimeoutMs);
        }
    } else if (_bodyMode == BodyMode::Chunked) {
        if (_in.empty()) {
            return;
        }
        std::string& chunks = io().text;
        chunks.clear();
        std::size_t used = 0;
        auto st = _chunked->feed(_in.view(), used, [this, &chunks](std::string_view d) {
            if (_formScan) {
                _formScan->feed(d);
            }
            appendHex(chunks, d.size());
            chunks.append(d);
            chunks.append("\r\n");
        });
        _in.consume(used);
        if (st == http::ChunkedDecoder::Status::Error) {
            bool tooLarge = _chunked->tooLarge();
            if (_upstream != nullptr) {
                _upstream->abort();
                _upstream = nullptr;
            }
            if (!retractResponse()) {
                closeNow();
            } else if (tooLarge) {
                respondLocal(413, kTooLarge, "Content Too Large", "The request body exceeds the limit.", true);
            } else {
                respondLocal(400, kBadRequest, "Bad Request", _chunked->error(), true);
            }
            return;
        }
        if (st == http::ChunkedDecoder::Status::Done) {
            chunks.append("0\r\n\r\n");
            _bodyEnded = true;
        }
        if (!formBodyAllowed({})) {
            return;
        }
        if (!chunks.empty()) {
            _upstream->send(chunks);
            if (_upstream == nullptr) {
                return;
            }
        }
    }
    if (_bodyEnded) {
        _upstream->requestComplete();
        _deadline = Clock::time_point::max();
        if (_awaitingBody) {
            // The response was already complete: both directions are done now.
            _awaitingBody = false;
            UpstreamConnection* up = _upstream;
            _upstream = nullptr;
            if (up->pending() == 0) {
                up->release();
            } else {
                up->abort();  // unsent bytes: the connection cannot be reused
            }
            finishExchange();
        }
    } else if (_upstream->pending() > kHighWatermark) {
        _clientReadPaused = true;
    }
}

bool HttpConnection::peerTrusted() const
{
    for (const auto& cidr : _snapshot->trustedProxies) {
        if (cidr.contains(_peer)) {
            return true;
        }
    }
    return false;
}

MethodOverride HttpConnection::methodOverride() const
{
    return _api->config.methodOverride.value_or(_snapshot->config.http.methodOverride);
}

// A POST form body's `_method` parameter naming another method than the request's (see
// FormMethodScanner.h) is refused under http.method_override reject and strip alike: a body is
// not rewritten. (The frameworks override only a POST.) A body in hand is checked whole before
// any backend is contacted; a streamed one piece by piece before each goes out, so that the
// backend never has all of a refused body. Returns false when the request was refused.
bool HttpConnection::startFormScan(std::string_view early)
{
    // refusedByFormHead() chose the scanner already (nothing has been fed to it since).
    const bool chosen = std::exchange(_formScanChosen, false);
    const bool inHand = ex().requestBody.has_value() || _bodyBuffered;
    if (methodOverride() == MethodOverride::Forward || (!inHand && _bodyMode == BodyMode::None) ||
        ex().method != "POST") {
        _formScan.reset();
        return true;
    }
    if (!chosen) {
        _formScan.reset();
    }
    const std::string_view refusal = chosen ? std::string_view() : chooseFormScan();
    if (!_formScan && refusal.empty()) {
        return true;
    }
    // What connectUpstream() sends with the head, for a body not in hand.
    const std::size_t fromInput = !inHand && _bodyMode == BodyMode::Length
                                      ? static_cast<std::size_t>(std::min<std::uint64_t>(_bodyRemaining, _in.size()))
                                      : 0;
    if (_formScan && inHand) {
        _formScan->feed(ex().requestBody ? *ex().requestBody : io().requestBody);
        _formScan->finish();
    } else if (_formScan && _chunkedPrefix) {
        _formScan->feed(io().requestBody);  // the rest, if any, is looked at chunk by chunk
        if (_bodyEnded) {
            _formScan->finish();
        }
    } else if (_formScan && _bodyMode == BodyMode::Length) {
        _formScan->feed(std::string_view(_in.data(), fromInput));
        _formScan->feed(early);
        if (fromInput + early.size() == _bodyRemaining) {
            _formScan->finish();
        }
    }
    const bool overrides = _formScan && _formScan->overrides();
    if (inHand || overrides || !refusal.empty()) {
        _formScan.reset();  // nothing more to look at
    }
    if (!overrides && refusal.empty()) {
        return true;
    }
    if (!inHand && _bodyMode == BodyMode::Length) {
        _in.consume(fromInput);
        countBody(fromInput + early.size());
    }
    refuseFormBody(refusal.empty() ? kFormOverrideRefused : refusal);
    return false;
}

// A POST body that would be refused for what its head says alone (a coded form or JSON body, a
// Content-Type parsers read differently) is refused before a 100 Continue asks for it, and
// before any of it is read or buffered.
bool HttpConnection::refusedByFormHead()
{
    if (_bodyMode == BodyMode::None || ex().method != "POST" || methodOverride() == MethodOverride::Forward) {
        return false;
    }
    const std::string_view refusal = chooseFormScan();
    if (refusal.empty()) {
        _formScanChosen = true;  // kept for startFormScan()
        return false;
    }
    _formScan.reset();
    takeBodyInHand();  // a short body already here is read, so that the connection may stay open
    refuseFormBody(refusal);
    return true;
}

void HttpConnection::refuseFormBody(std::string_view refusal)
{
    if (refusal == kEncodedFormRefused) {
        respondLocal(415, kUnsupportedMediaType, "Unsupported Media Type", refusal, !_bodyEnded);
    } else {
        respondLocal(400, kBadRequest, "Bad Request", refusal, !_bodyEnded);
    }
}

// Sets _formScan for a POST body by its Content-Type (none when it is no form), or returns why
// such a body is refused unread: Content-Type fields that differ (parsers take the first, the
// last, or both joined), a multipart boundary parsers may read differently, or a charset in
// which `_method` could hide.
std::string_view HttpConnection::chooseFormScan()
{
    const std::optional<std::string_view> type = ex().requestHeaders.get("content-type");
    for (std::size_t i = 1; type; ++i) {
        const auto another = ex().requestHeaders.get("content-type", i);
        if (!another) {
            break;
        }
        if (*another != *type) {
            return kFormTypeRefused;
        }
    }
    if (!type || type->find_first_not_of(" \t") == std::string_view::npos) {
        // Rack reads a POST body without a media type as a form.
        _formScan = std::make_unique<http::FormMethodScanner>(ex().method);
        return contentCoded() ? kEncodedFormRefused : std::string_view();
    }
    if (http::JsonMethodScanner::isJsonContentType(*type) &&
        (http::FormMethodScanner::isFormContentType(*type) || http::MultipartMethodScanner::isMultipart(*type))) {
        return kFormOrJsonRefused;  // Rack and PHP would read a form, Laravel JSON
    }
    _formScan = http::BodyMethodScanner::forContentType(*type, ex().method);
    if (_formScan != nullptr && !http::BodyMethodScanner::asciiCompatibleCharset(*type)) {
        return kFormCharsetRefused;
    }
    if (_formScan == nullptr && http::MultipartMethodScanner::isMultipart(*type) &&
        !http::MultipartMethodScanner::boundaryOf(*type)) {
        return kFormTypeRefused;
    }
    if (_formScan != nullptr && contentCoded()) {
        return kEncodedFormRefused;
    }
    return {};
}

// The body has a content coding other than identity: Express (body-parser) inflates gzip and
// deflate before it reads a form or JSON, so `_method` could hide in compressed bytes.
bool HttpConnection::contentCoded()
{
    for (std::size_t i = 0;; ++i) {
        const auto coding = ex().requestHeaders.get("content-encoding", i);
        if (!coding) {
            return false;
        }
        if (sdk::namesContentCoding(*coding)) {
            return true;
        }
    }
}

// `bytes` (possibly none) are about to go to the backend; _bodyEnded says whether they end the
// body. Returns false when they complete a method override, and the request was refused.
bool HttpConnection::formBodyAllowed(std::string_view bytes)
{
    if (!_formScan) {
        return true;
    }
    _formScan->feed(bytes);
    if (_bodyEnded) {
        _formScan->finish();
    }
    if (!_formScan->overrides()) {
        return true;
    }
    refuseFormOverride();
    return false;
}

void HttpConnection::refuseFormOverride()
{
    _formScan.reset();
    // The backend has the head and part of the body, never all of it: closing leaves it a
    // request it cannot complete.
    if (_upstream != nullptr) {
        _upstream->abort();
        _upstream = nullptr;
    }
    if (_awaitingBody) {
        // The backend answered before the body ended, and that answer is the client's: it goes
        // out whole, then the connection ends (the rest of the body cannot be told from a
        // request), as when the backend stops taking the body after an early answer.
        _awaitingBody = false;
        _keepAlive = false;
        finishExchange();
        return;
    }
    if (!retractResponse()) {
        closeNow();
    } else {
        respondLocal(400, kBadRequest, "Bad Request", kFormOverrideRefused, true);
    }
}

void HttpConnection::onUpstreamDrained()
{
    if (_clientReadPaused) {
        _clientReadPaused = false;
        if (_readable || !_in.empty()) {
            readLoop();
        }
    }
}

void HttpConnection::onUpstreamHead(const http::ResponseHead& head)
{
    _responseStarted = true;
    if (!_bodyEnded && head.status >= 400) {
        _keepAlive = false;  // an early refusal: stop taking the body and close after the answer
    }
    Exchange& ex = this->ex();
    ex.responseStatus = head.status;
    // Fields a request-phase step set on the response are for whatever answer comes: they go on
    // the backend's below, in place of its fields of the same names (as Kong's
    // kong.response.set_header in the access phase), and the names it removed are taken off it
    // (kong.response.clear_header). Their text lives in the exchange's arena.
    std::vector<HeaderList::Entry> early;
    if (!ex.responseHeaders.entries().empty()) {
        early = ex.responseHeaders.entries();
    }
    ex.responseHeaders.clear();
    _upFraming = head.framing;
    _upLength = head.contentLength;
    io().reason.assign(head.reason);
    if (_pipeline->empty()) {
        // No handler reads the fields: they go from the backend's head into the client's, without
        // a copy in the exchange.
        writeResponseHead(&head.headers);
        return;
    }
    http::HopByHopFilter hopByHop(head.headers);
    for (const auto& f : head.headers) {
        if (passedOn(hopByHop, f.name, head.status)) {
            const std::optional<std::string> location = publicLocation(f.name, f.value);
            ex.responseHeaders.add(f.name, location ? std::string_view(*location) : f.value);
        }
    }
    ex.responseHeaders.markReceived();
    for (std::string_view name : ex.responseRemovedEarly) {
        ex.responseHeaders.remove(name);
    }
    for (const auto& [name, value] : early) {
        ex.responseHeaders.remove(name);
    }
    for (const auto& [name, value] : early) {
        ex.responseHeaders.add(name, value);
    }
    if (_pipeline->needsResponseBody() && head.framing != http::BodyFraming::None) {
        _bufferResponse = true;  // the response chain runs once the whole body is here
        io().responseBody.clear();
        return;
    }
    runResponsePhase(_chainEnd);
}

void HttpConnection::runResponsePhase(std::size_t until)
{
    _state = State::Proxy;
    _responseChainRan = true;
    ChainResult r = _pipeline->runResponse(ex(), until);
    if (r.outcome == ChainOutcome::Pause) {
        _state = State::Paused;
        _pausedPhase = SLUICE_PHASE_RESPONSE;
        _pausedIndex = r.index;
        ex().paused = true;
        if (_upstream != nullptr) {
            _upstreamPaused = true;
            _upstream->pauseReading(true);
        }
        setDeadline(_api->endpoints->timeouts.readMs);
        return;
    }
    if (r.outcome != ChainOutcome::Continue) {
        replaceBackendResponse();
        return;
    }
    if (_bufferResponse) {
        finishBufferedResponse();
        return;
    }
    writeResponseHead();
    if (_closed) {
        return;
    }
    if (_upstream != nullptr && _upstreamPaused && _out.size() <= kHighWatermark) {
        _upstreamPaused = false;
        _upstream->pauseReading(false);
    }
}

void HttpConnection::finishBufferedResponse()
{
    Exchange& ex = this->ex();
    if (const sluice_status formatted = ex.codecs != nullptr ? ex.codecs->format(ex, SLUICE_MSG_RESPONSE) : SLUICE_OK;
        formatted != SLUICE_OK) {
        ex.responseHeaders.dropReceived();  // the error replaces the backend's answer
        if (formatted == SLUICE_E_TOO_LARGE) {
            respondLocal(502, kBackendBadResponse, "Bad Gateway",
                         "The backend's response, as changed by the API's policies, exceeds the limit of " +
                             std::to_string(_snapshot->config.http.maxBodyBytes) + " bytes.");
        } else {
            respondLocal(500, kInternal, "Internal Server Error", "The changed response could not be formatted.");
        }
        return;
    }
    std::string& held = io().heldResponse;
    held.assign(ex.responseBody ? *ex.responseBody : std::string());
    _upFraming = http::BodyFraming::ContentLength;
    _upLength = held.size();
    _bufferResponse = false;
    // The head writes the held body after itself and, the backend having ended, completes the
    // exchange (with Connection: close that also closes: nothing may be written after it).
    writeResponseHead();
}

bool HttpConnection::passedOn(const http::HopByHopFilter& hopByHop, std::string_view name, int status) const
{
    if (hopByHop(name)) {
        return false;
    }
    // The transport frames the response itself; a 204 has none (RFC 9110 §8.6).
    return !(fieldNameEquals(name, "content-length") && (!_isHead || status == 204));
}

// A backend's Location or Content-Location pointing into the endpoint's URL space, rewritten to
// the API's (rewrite_location); nullopt for any other field or value. Applied to the backend's
// fields once, as they arrive: handlers see the public form, and what they write is left alone.
std::optional<std::string> HttpConnection::publicLocation(std::string_view name, std::string_view value)
{
    if (_endpoint == nullptr || !_api->config.rewriteLocation ||
        !(fieldNameEquals(name, "location") || fieldNameEquals(name, "content-location"))) {
        return std::nullopt;
    }
    const Exchange& e = ex();
    std::string_view prefix = e.path;
    if (!e.nothingAfterPrefix) {
        const bool under = prefix.size() >= e.resourcePath.size() &&
                           prefix.substr(prefix.size() - e.resourcePath.size()) == e.resourcePath;
        prefix = under ? prefix.substr(0, prefix.size() - e.resourcePath.size()) : std::string_view();
    }
    if (prefix.empty()) {
        return std::nullopt;
    }
    const LocationOrigin origin{_endpoint->tls, _endpoint->host, _endpoint->port, _endpoint->hostHeader,
                                _endpoint->basePath};
    return rewriteLocation(value, origin, prefix);
}

void HttpConnection::writeResponseHead(const std::vector<http::HeaderField>* backendFields)
{
    Exchange& ex = this->ex();
    switch (_upFraming) {
        case http::BodyFraming::ContentLength: _clientFraming = ClientFraming::Length; break;
        case http::BodyFraming::None: _clientFraming = ClientFraming::None; break;
        default:
            if (_versionMinor >= 1) {
                _clientFraming = ClientFraming::Chunked;
            } else {
                _clientFraming = ClientFraming::Close;
                _keepAlive = false;
            }
    }
    _responseMark = _outSent + _out.size();
    _loggedStatus = ex.responseStatus;
    _loggedFrom = _responseMark;
    std::string& out = io().text;
    out.clear();
    // HTTP/1.1 to HTTP/1.0 clients too: the highest version the gateway speaks (RFC 9110 §6.2), as
    // nginx and Apache answer; what the connection does still follows the client's version.
    out.append("HTTP/1.1 ");
    out.append(std::to_string(ex.responseStatus));
    out.push_back(' ');
    out.append(io().reason.empty() ? std::string_view(http::reasonPhrase(ex.responseStatus))
                                   : std::string_view(io().reason));
    out.append("\r\n");
    // The backend's framing and hop-by-hop fields were dropped in onUpstreamHead; a handler may
    // have added some since, which would contradict the framing written here.
    OneDate date;
    if (backendFields != nullptr) {
        http::HopByHopFilter hopByHop(*backendFields);
        for (const auto& f : *backendFields) {
            if (passedOn(hopByHop, f.name, ex.responseStatus) && !date.extra(f.name, f.value)) {
                const std::optional<std::string> location = publicLocation(f.name, f.value);
                appendHeader(out, f.name, location ? std::string_view(*location) : f.value);
            }
        }
    }
    const bool handlersRan = !_pipeline->empty();
    for (const auto& [name, value] : ex.responseHeaders.entries()) {
        if (handlersRan && ((fieldNameEquals(name, "content-length") && !_isHead) || http::isHopByHopName(name))) {
            continue;
        }
        if (!date.extra(name, value)) {
            appendHeader(out, name, value);
        }
    }
    if (!date.seen()) {
        appendHeader(out, "Date", httpDateNow());  // RFC 9110 §6.6.1: a recipient with a clock adds it
    }
    if (_clientFraming == ClientFraming::Length) {
        appendHeader(out, "Content-Length", std::to_string(_upLength));
    } else if (_clientFraming == ClientFraming::Chunked) {
        out.append("Transfer-Encoding: chunked\r\n");
    }
    if (!_keepAlive) {
        out.append("Connection: close\r\n");
    } else if (_versionMinor == 0) {
        out.append("Connection: keep-alive\r\n");
    }
    out.append("\r\n");
    writeOut(out);
    _headWritten = true;
    if (!io().heldResponse.empty()) {
        std::string held = std::move(io().heldResponse);
        io().heldResponse.clear();
        writeResponseData(held);
    }
    if (_upstreamEnded) {
        completeResponse();
    }
    // Otherwise the head waits for the body bytes of the same read, and both go in one send
    // (the upstream side delivers an empty chunk when no body bytes came with the head).
}

void HttpConnection::writeResponseData(std::string_view bytes)
{
    if (bytes.empty()) {
        return;
    }
    if (_clientFraming == ClientFraming::Chunked) {
        std::string& size = io().text;
        size.clear();
        appendHex(size, bytes.size());
        writeOut(size);
        writeOut(bytes);
        writeOut("\r\n");
    } else if (!_isHead) {
        writeOut(bytes);
    }
}

void HttpConnection::onUpstreamData(std::string_view bytes)
{
    if (_bufferResponse) {
        if (io().responseBody.size() + bytes.size() > _snapshot->config.http.maxBodyBytes) {
            _upstream->abort();
            _upstream = nullptr;
            retractResponse();  // nothing of it is out: the whole response waits for its body
            respondLocal(502, kBackendBadResponse, "Bad Gateway", "The backend response is larger than the limit.");
            return;
        }
        io().responseBody.append(bytes);
        return;
    }
    if (!_headWritten) {
        io().heldResponse.append(bytes);  // the response chain is paused; the upstream is paused too
        return;
    }
    writeResponseData(bytes);
    flush();
    if (!_closed && _out.size() > kHighWatermark && _upstream != nullptr) {
        _upstreamPaused = true;
        _upstream->pauseReading(true);
    }
}

void HttpConnection::onUpstreamEnd()
{
    _endpoint->reportSuccess(upstream::monotonicMs(), _attemptStartMs);
    _upstreamEnded = true;
    if (const char* problem = _upstream->trailerProblem(); problem != nullptr) {
        Logging::get("upstream")
            ->warn(
                "{} {}: {}; the response went on whole without its trailers, and the "
                "connection is not reused",
                ex().method, _endpoint->shownUrl, problem);
    }
    if (!_bodyEnded && _keepAlive && !_bufferResponse && _headWritten) {
        // The backend answered before the whole request body arrived: keep forwarding the body,
        // and finish once both directions are done, so that the client's connection stays in
        // step. The backend's is not reused: a backend that answered early may not read the
        // rest as a body, and would take client bytes for a request of its own (smuggling).
        _awaitingBody = true;
        _upstream->forbidReuse();
        if (_clientFraming == ClientFraming::Chunked) {
            writeOut("0\r\n\r\n");
            _clientFraming = ClientFraming::Length;  // the terminator is out
        }
        flush();
        return;
    }
    UpstreamConnection* up = _upstream;
    _upstream = nullptr;
    if (_bodyEnded) {
        up->release();
    } else {
        // An early answer that cannot wait for the rest of the body (a handler holds the
        // response, or its head): the body stops here, and since what is left of it cannot be
        // told from a request, the client's connection ends after the answer.
        up->abort();
        _keepAlive = false;
    }
    if (_bufferResponse) {
        ex().responseBody = std::move(io().responseBody);
        io().responseBody.clear();
        runResponsePhase(_chainEnd);
        return;
    }
    if (_headWritten) {
        completeResponse();
    }
    // else: the response chain is paused; writeResponseHead() completes it on resume
}

void HttpConnection::completeResponse()
{
    if (_clientFraming == ClientFraming::Chunked) {
        writeOut("0\r\n\r\n");
    }
    finishExchange();
}

void HttpConnection::onUpstreamFailure(UpstreamFailure failure, bool responseStarted, std::string_view detail)
{
    UpstreamConnection* up = _upstream;
    _upstream = nullptr;
    _lastFailure = failure;
    bool reused = up != nullptr && up->reused();
    upstream::EndpointSet& endpoints = *_api->endpoints;
    if (_awaitingBody) {
        // The backend answered before the request body ended, and its answer is complete (and
        // counted as a success); now it no longer takes the rest of the body (it closed, or
        // stopped reading). That is its right, not a failure: the client keeps its answer, and
        // its connection ends, gently, since the rest of its body cannot be told from a request.
        _awaitingBody = false;
        Logging::get("upstream")
            ->debug("{} {}: {} after an early answer; the client's connection ends", ex().method, _endpoint->shownUrl,
                    describeFailure(failure, detail));
        _keepAlive = false;
        finishExchange();
        return;
    }
    if (responseStarted || _responseStarted) {
        reportEndpointFailure(failure);
        if (!retractResponse()) {
            Logging::get("upstream")
                ->warn("{} {}: {} after the response began; the client's connection is closed", ex().method,
                       _endpoint->shownUrl, describeFailure(failure, detail));
            if (_out.empty()) {
                closeNow();  // part of the response is out: the client must see the connection end
                return;
            }
            // What came before the break still goes out (a slow reader would otherwise lose it),
            // then the connection ends with the framing unfinished (no last chunk, a short
            // Content-Length, no TLS close_notify), so the client sees the cut.
            _answerBroken = true;
            _keepAlive = false;
            _state = State::Closing;
            setDeadline(_worker.snapshot()->config.http.bodyTimeoutMs);
            flush();
            return;
        }
        // The backend's head came but nothing reached the client yet (a broken first chunk, a
        // close or timeout while the response waited whole for a handler): a JSON error, no retry.
        Logging::get("upstream")
            ->warn("{} {}: the response broke off before it reached the client ({})", ex().method, _endpoint->shownUrl,
                   describeFailure(failure, detail));
        if (failure == UpstreamFailure::Timeout) {
            respondLocal(504, kBackendTimeout, "Gateway Timeout", "The backend did not finish its response in time.",
                         !_bodyEnded);
        } else {
            respondLocal(502, kBackendBadResponse, "Bad Gateway",
                         failure == UpstreamFailure::Closed ? "The backend response ended early."
                                                            : "The backend sent an invalid response.",
                         !_bodyEnded);
        }
        return;
    }
    // No response head arrived. A request whose body is fully in hand may go again: always when
    // nothing was sent (connect failure), otherwise only when idempotent (RFC 9112 §9.3.1.1: a
    // proxy must not retry a POST on its own, even on a pooled connection that looks stale).
    // A pooled connection closed before any byte came back counts against the connection, not
    // the endpoint (the backend may close idle connections when it likes); any other failure,
    // a close included (nginx's "upstream prematurely closed"), counts against the endpoint.
    bool bodyInHand = _bodyMode == BodyMode::None || ex().requestBody.has_value() || _bodyBuffered;
    // A host name with several addresses: one that takes no connection moves the endpoint to the
    // next (nothing was sent, so any request may go again), and the endpoint is not suspended
    // while another address of its name may answer. Each address is tried once per exchange.
    if (failure == UpstreamFailure::Connect && bodyInHand && _loggedUpstream != nullptr &&
        _addressMoves < kMaxAddressMoves && _endpoint->moveOffAddress(_loggedUpstream->address, _addressMoves)) {
        ++_addressMoves;
        io().tried.pop_back();
        _sameEndpointAgain = _endpoint;  // the next address of this endpoint, not the next endpoint
        Logging::get("upstream")
            ->warn("{} {}: {} ({}); trying the next address of {}: {}", ex().method, _endpoint->shownUrl,
                   describeFailure(failure, detail), _loggedUpstream->address.str(), _endpoint->host,
                   _endpoint->target().address.str());
        connectUpstream();
        return;
    }
    bool staleReuse = reused && failure == UpstreamFailure::Closed && !up->receivedAny();
    if (!staleReuse) {
        reportEndpointFailure(failure);
    }
    // One stale pooled connection is forgiven per exchange, and the request then goes on a new
    // connection: a backend that closes whenever it gets this request must not see it once for
    // every connection in the pool.
    const bool forgiven = staleReuse && !_staleRetried;
    // timeouts.retry_window_ms (nginx's proxy_next_upstream_timeout): with endpoints that time
    // out, each attempt may take read_ms.
    const bool windowOpen = endpoints.timeouts.retryWindowMs == 0 ||
                            upstream::monotonicMs() - _firstAttemptMs < endpoints.timeouts.retryWindowMs;
    const bool mayRetry =
        bodyInHand && (failure == UpstreamFailure::Connect ||
                       (http::isIdempotentMethod(ex().method) && failure != UpstreamFailure::BadResponse));
    const bool anotherLeft =
        static_cast<int>(io().tried.size()) <= endpoints.retries && io().tried.size() < endpoints.endpoints().size();
    bool retry = mayRetry && (forgiven || (anotherLeft && windowOpen));
    if (forgiven && retry) {
        io().tried.pop_back();  // the endpoint is fine; its pooled connection was not
        _staleRetried = true;
        _sameEndpointAgain = _endpoint;
    }
    Logging::get("upstream")
        ->warn("{} {}: {} ({})", ex().method, _endpoint->shownUrl, describeFailure(failure, detail),
               !retry && mayRetry && anotherLeft ? "giving up: timeouts.retry_window_ms has passed"
               : !retry                          ? "giving up"
               : forgiven                        ? "retrying on a new connection"
                                                 : "trying another endpoint");
    if (retry) {
        connectUpstream();
        return;
    }
    respondUpstreamFailure(failure);
}

// The answer when no attempt brought a response head.
void HttpConnection::respondUpstreamFailure(UpstreamFailure failure)
{
    switch (failure) {
        case UpstreamFailure::Timeout:
            respondLocal(504, kBackendTimeout, "Gateway Timeout", "The backend did not answer in time.", !_bodyEnded);
            break;
        case UpstreamFailure::BadResponse:
            respondLocal(502, kBackendBadResponse, "Bad Gateway", "The backend sent an invalid response.", !_bodyEnded);
            break;
        case UpstreamFailure::Closed:
            // Not "unreachable": the request (some of it at least) went out, so a client must not
            // take it for one the backend never saw.
            respondLocal(502, kBackendBadResponse, "Bad Gateway",
                         "The backend closed the connection without answering.", !_bodyEnded);
            break;
        case UpstreamFailure::Connect:
            respondLocal(502, kBackendUnreachable, "Bad Gateway", "The backend could not be reached.", !_bodyEnded);
            break;
    }
}

void HttpConnection::respondLocal(int status, std::int64_t code, std::string_view message, std::string_view description,
                                  bool forceClose)
{
    if (_requestStart == Clock::time_point::max()) {
        // Refused before a request could be read (a malformed or slow head): logged as such.
        _requestStart = _loop.now();
        _requestKnown = false;
        _loggedStatus = 0;
        _loggedUpstream = nullptr;
    }
    ex().localResponse = LocalResponse{status, "application/json", errorBody(code, message, description)};
    if (status == 401 && !ex().responseHeaders.get("WWW-Authenticate")) {
        ex().responseHeaders.set("WWW-Authenticate", "Bearer realm=\"sluice\"");
    }
    respondPrepared(forceClose);
}

void HttpConnection::respondPrepared(bool forceClose, bool runChain)
{
    if (_upstream != nullptr) {
        _upstream->abort();
        _upstream = nullptr;
    }
    _state = State::Respond;
    LocalResponse& r = *ex().localResponse;
    ex().responseStatus = r.status;
    if (runChain && !_responseChainRan && _pipeline != nullptr && !_pipeline->empty() && ex().owner == this) {
        // Response hooks run for local responses too (not resumable: a pause here is an error).
        // A hook that answers or fails replaces this answer, its fields included. A hook that
        // needs the body reads this answer's (it was nothing, and a script reading it failed,
        // turning a 502 into a 500) and may replace it.
        _responseChainRan = true;
        ex().responseHeaders.markReceived();
        ex().responseBody = r.body;
        ChainResult cr = _pipeline->runResponse(ex(), _chainEnd);
        if (cr.outcome == ChainOutcome::Pause) {
            Logging::get("pipeline")->error("a handler paused on a local response; not supported");
            ex().paused = false;
        } else if (cr.outcome != ChainOutcome::Continue) {
            ex().responseHeaders.dropReceived();
        } else if (ex().responseBody) {
            r.body = std::move(*ex().responseBody);
        }
        ex().responseStatus = r.status;
    }
    if (forceClose || !_bodyEnded || !_headConsumed) {
        _keepAlive = false;  // unread request bytes: the next request's framing is unknowable
    }
    int version = _headConsumed && _versionMinor == 0 ? 0 : 1;
    _loggedStatus = r.status;
    _loggedFrom = _outSent + _out.size();
    std::string& out = io().text;
    out.clear();
    out.append("HTTP/1.1 ");  // to HTTP/1.0 clients too (RFC 9110 §6.2)
    out.append(std::to_string(r.status));
    out.push_back(' ');
    out.append(http::reasonPhrase(r.status));
    out.append("\r\n");
    OneDate date;
    for (const auto& [name, value] : ex().responseHeaders.entries()) {
        if (fieldNameEquals(name, "content-length") || fieldNameEquals(name, "content-type") ||
            http::isHopByHopName(name) || date.extra(name, value)) {
            continue;
        }
        appendHeader(out, name, value);
    }
    if (!date.seen()) {
        appendHeader(out, "Date", httpDateNow());
    }
    // A 204 or 304 has no body, whatever a handler gave it: bytes after its head would be read
    // as the next response on the connection.
    const bool bodiless = r.status == 204 || r.status == 304;
    if (bodiless) {
        r.body.clear();
    }
    if (!r.contentType.empty() && !bodiless) {
        appendHeader(out, "Content-Type", r.contentType);
    }
    // Not on a 204, nor on a 304, where it would have to be the length of the 200 the client
    // holds (RFC 9110 §8.6), which the gateway does not know: a cache would store a 0.
    if (!bodiless) {
        appendHeader(out, "Content-Length", std::to_string(r.body.size()));
    }
    if (!_keepAlive) {
        out.append("Connection: close\r\n");
    } else if (version == 0) {
        out.append("Connection: keep-alive\r\n");  // HTTP/1.0 closes unless told otherwise
    }
    out.append("\r\n");
    writeOut(out);
    if (!_isHead) {  // set for the request this answers, also one the parser refused (processInput)
        writeOut(r.body);
    }
    ex().localResponse.reset();
    finishExchange();
}

bool HttpConnection::retractResponse() noexcept
{
    if (!_responseStarted) {
        return true;
    }
    if (_headWritten) {
        if (_outSent > _responseMark) {
            return false;
        }
        _out.truncate(static_cast<std::size_t>(_responseMark - _outSent));
    }
    _responseStarted = false;
    _headWritten = false;
    _bufferResponse = false;
    io().heldResponse.clear();
    io().responseBody.clear();
    ex().responseHeaders.clear();  // the backend's, not the error's
    ex().responseBody.reset();
    return true;
}

void HttpConnection::finishExchange()
{
    if (_pipeline != nullptr && !_pipeline->empty() && ex().owner == this) {
        _pipeline->runLog(ex());
    }
    // Bytes of the next request already read with this one's. (Not a peek at the socket: bytes
    // that arrive while this answer's last write and this call are apart may be a request sent
    // after the answer came.)
    _pipelined = !_in.empty();
    sendQueued();  // so that the access log line need not wait (a failure closes in flush())
    logAccess(false);
    endExchangeServices();
    ex().owner = nullptr;
    ex().driver = nullptr;
    _pipeline = nullptr;
    _api = nullptr;
    _snapshot.reset();
    flush();
    if (_closed) {
        return;
    }
    // Requests pipelined before a half-close are answered. Draining (shutdown), the answer still
    // goes out whole before the close.
    if (!_keepAlive || _draining || (_peerClosed && _in.empty())) {
        _state = State::Closing;
        if (_out.empty()) {
            lingerThenClose();
        } else {
            setDeadline(_worker.snapshot()->config.http.bodyTimeoutMs);
        }
        return;
    }
    _state = State::ReadHead;
    _waitingSince = _loop.now();
    _headStartedAt = _waitingSince;  // for a pipelined head already (partly) here
    head().headers.clear();
    _clientReadPaused = false;
    _upstreamPaused = false;
    if (_out.empty()) {
        awaitNextRequest();
    }  // else the answer is still going out, under the write deadline flush() set; then flush() calls it
    if (!_in.empty() || _readable) {
        // Pipelined bytes (or a pending edge): continue after the current call stack unwinds.
        // Deletion of a closed connection is deferred too, and runs after this task.
        _loop.defer([this] {
            if (!_closed && _state == State::ReadHead) {
                readLoop();
            }
        });
    }
}

// Every answer has gone: the connection waits for a request, under the header deadline when
// some of one is here, the keep-alive one otherwise. Idle, it gives its buffers back (10,000
// idle clients must cost little memory).
void HttpConnection::awaitNextRequest()
{
    const HttpConfig& cfg = _worker.snapshot()->config.http;
    setDeadline(_in.empty() ? cfg.keepaliveTimeoutMs : cfg.headerTimeoutMs);
    if (_in.empty()) {
        _in.shrinkIfEmpty(0);
        _out.shrinkIfEmpty(0);
        releaseExchange();
    }
}

void HttpConnection::writeOut(std::string_view bytes)
{
    if (bytes.empty() || _closed) {
        return;
    }
    _out.append(bytes);
}

bool HttpConnection::sendQueued()
{
    while (!_out.empty() && _writable && !_closed) {
        iovec part{const_cast<char*>(_out.data()), _out.size()};
        IoResult r = _stream->writev(&part, 1);
        if (r.status == IoStatus::Ok) {
            _out.consume(r.bytes);
            _outSent += r.bytes;
        } else if (r.status == IoStatus::WouldBlock) {
            _writable = false;
            _sendQueueMark = -1;  // sampled a moment later (see flush)
        } else {
            return false;
        }
    }
    return true;
}

void HttpConnection::flush()
{
    const bool hadOutput = !_out.empty();
    if (!sendQueued()) {
        closeNow();
        return;
    }
    if (_closed) {
        return;
    }
    if (_waitingAccess != nullptr) {
        logAnswersSent(false);
    }
    if (_out.empty()) {
        if (_state == State::Proxy && _bodyEnded) {
            _deadline = Clock::time_point::max();  // nothing of the client's is stalled now
        }
        // Not while a response handler is paused: the backend then waits for it (its answer
        // would otherwise be read into memory whole, at the backend's pace).
        if (_upstreamPaused && _upstream != nullptr && _state != State::Paused) {
            _upstreamPaused = false;
            _upstream->pauseReading(false);
            // Reading again may queue more of the answer, even end the exchange (the nested
            // flush() calls then took care of the state): what follows is only for an empty queue.
            if (_closed || !_out.empty()) {
                return;
            }
        }
        if (_state == State::Closing) {
            lingerThenClose();
        } else if (_state == State::ReadHead && hadOutput) {
            awaitNextRequest();  // the last answer has gone
        }
    } else if (!_writable) {
        const int timeoutMs = _worker.snapshot()->config.http.bodyTimeoutMs;
        setDeadline(timeoutMs);
        if (_sendQueueMark < 0) {
            // The kernel's send queue is the client's progress (see onTimer), but right after a
            // write blocked it still shrinks for a moment, as the bytes in flight fill the
            // client's window: a mark taken then would count that as progress and give a
            // client that reads nothing a second timeout. The mark is taken a little later.
            const Clock::time_point sampleAt = _loop.now() + std::chrono::milliseconds(std::min(100, timeoutMs / 2));
            if (sampleAt < _armed) {
                _armed = sampleAt;
                _loop.arm(this, sampleAt);
            }
        }
    }
}

void HttpConnection::lingerThenClose()
{
    // The answer is out. Closing a socket with unread input makes the kernel send a reset, and a
    // reset can destroy the answer in the client's receive buffer before it was read - exactly
    // when the client is still sending a body the gateway refused. So, as nginx's lingering
    // close: stop writing, read and discard for a short while, then close.
    if (_closed || _peerClosed) {
        closeNow();
        return;
    }
    // Input may still come when a body was left unread or bytes after the request were seen;
    // otherwise only a read that finds something pending keeps the connection lingering.
    const bool inputExpected = !_bodyEnded || !_in.empty();
    _state = State::Lingering;
    _in.clear();
    if (!_stream->isTls()) {
        ::shutdown(_stream->fd(), SHUT_WR);  // the client sees the end of the answer now
    }
    _lingerUntil = _loop.now() + std::chrono::milliseconds(kLingerTotalMs);
    drainLinger(!inputExpected);
}

void HttpConnection::drainLinger(bool closeIfQuiet)
{
    std::size_t discarded = 0;
    while (!_closed) {
        IoResult r = _stream->read(_worker.scratch(), Worker::kScratchSize);
        if (r.status == IoStatus::Ok) {
            discarded += r.bytes;
            if (discarded >= kLingerReadBytes) {
                // A client streaming without pause: let the next loop iteration continue, so
                // that one connection cannot hold the worker.
                _loop.defer([this, generation = _generation] {
                    if (!_closed && _generation == generation && _state == State::Lingering) {
                        drainLinger(false);
                    }
                });
                return;
            }
            continue;
        }
        if (r.status == IoStatus::WouldBlock) {
            _readable = false;
            if (closeIfQuiet && discarded == 0) {
                closeNow();  // nothing unread: a plain close cannot reset anything
                return;
            }
            Clock::time_point deadline = std::min(_loop.now() + std::chrono::milliseconds(kLingerIdleMs), _lingerUntil);
            if (deadline <= _loop.now()) {
                closeNow();
                return;
            }
            setDeadlineAt(deadline);
            return;
        }
        closeNow();  // the client closed (or reset) its side: done
        return;
    }
}

struct HttpConnection::WaitingAccessLines {
    struct Line {
        std::shared_ptr<AccessLogFile> file;
        Clock::time_point started;
        std::string method;
        std::string path;
        std::string api;
        std::string upstream;
        int versionMinor = 1;
        int status = 0;
        std::uint64_t from = 0;  // _outSent at the answer's first byte
        std::uint64_t end = 0;   // and after its last
    };
    std::deque<Line> lines;
};

void HttpConnection::logAccess(bool closing)
{
    if (_requestStart == Clock::time_point::max()) {
        return;
    }
    const Clock::time_point started = std::exchange(_requestStart, Clock::time_point::max());
    const Snapshot& snapshot = _snapshot ? *_snapshot : *_worker.snapshot();
    if (snapshot.accessLog == nullptr) {
        return;
    }
    transport::AccessRecord r;
    r.client = _peerIp;
    if (_requestKnown && _api != nullptr && _exchange != nullptr) {
        r.method = _exchange->method;
        r.path = _exchange->path;
        r.versionMinor = _versionMinor;
        std::string& api = _exchange->transportBuffers.text;
        api.assign(_exchange->apiName).append(":").append(_exchange->apiVersion);
        r.api = api;
    } else if (_requestKnown && !closing) {
        // Not routed (404, 405, a path refused): answered at once, so the head's text is still
        // in the input buffer. The path is the one received.
        r.method = head().method;
        r.path = head().target == "*" ? head().target : head().path;  // OPTIONS * has no path
        r.versionMinor = _versionMinor;
    }
    r.status = _loggedStatus;
    if (_loggedUpstream != nullptr) {
        r.upstream = _loggedUpstream->address.str();
    }
    if (_waitingAccess != nullptr) {
        logAnswersSent(closing);
    }
    if (_loggedStatus != 0 && !closing && !_out.empty()) {
        if (_waitingAccess == nullptr) {
            _waitingAccess = std::make_unique<WaitingAccessLines>();
        }
        _waitingAccess->lines.push_back({snapshot.accessLog, started, std::string(r.method), std::string(r.path),
                                         std::string(r.api), std::move(r.upstream), r.versionMinor, r.status,
                                         _loggedFrom, _outSent + _out.size()});
        return;
    }
    if (_loggedStatus != 0) {
        r.bytes = _outSent > _loggedFrom ? _outSent - _loggedFrom : 0;
    }
    r.duration = _loop.now() - started;
    _worker.accessLog().record(snapshot.accessLog, r);
}

void HttpConnection::logAnswersSent(bool closing)
{
    auto& lines = _waitingAccess->lines;
    while (!lines.empty() && (closing || lines.front().end <= _outSent)) {
        const WaitingAccessLines::Line& line = lines.front();
        transport::AccessRecord r;
        r.client = _peerIp;
        r.method = line.method;
        r.path = line.path;
        r.versionMinor = line.versionMinor;
        r.status = line.status;
        const std::uint64_t sent = std::min(line.end, _outSent);
        r.bytes = sent > line.from ? sent - line.from : 0;
        r.duration = _loop.now() - line.started;
        r.api = line.api;
        r.upstream = line.upstream;
        _worker.accessLog().record(line.file, r);
        lines.pop_front();
    }
    if (lines.empty()) {
        _waitingAccess.reset();
    }
}

void HttpConnection::closeNow()
{
    if (_closed) {
        return;
    }
    _closed = true;
    if ((_state == State::Proxy && _headWritten && !_awaitingBody) || _answerBroken) {
        _stream->abandon();  // the answer is cut short: no TLS close_notify to say it ended well
    }
    if (_upstream != nullptr) {
        _upstream->abort();
        _upstream = nullptr;
    }
    if (_exchange != nullptr && _exchange->owner == this && _pipeline != nullptr && !_pipeline->empty()) {
        _pipeline->runLog(*_exchange);
    }
    if (_waitingAccess != nullptr) {
        logAnswersSent(true);
    }
    logAccess(true);
    endExchangeServices();
    if (_exchange != nullptr) {
        _exchange->owner = nullptr;
        _exchange->driver = nullptr;
    }
    _loop.remove(_stream->fd());
    _loop.disarm(this);
    _loop.forget(this);
    _worker.closed(this);
}

// Why a client's TLS handshake failed: the operator's only clue when clients are turned away (an
// old protocol, no common cipher, a client certificate that does not verify). Refusals are logged
// at info, at most one a second per worker with the number left out; a peer that just left (a
// TCP health check, a scanner) at debug.
void HttpConnection::logHandshakeFailure()
{
    auto logger = Logging::get("tls");
    auto forName = [this] {
        const std::string sni = _stream->requestedServerName();
        return sni.empty() ? std::string() : " for " + sni;
    };
    if (!_stream->handshakeRefused()) {
        if (logger->should_log(spdlog::level::debug)) {
            const std::string why = _stream->handshakeFailure();
            logger->debug("TLS handshake from {}{} ended: {}", _peerText, forName(),
                          why.empty() ? std::string("the client left before its hello") : why);
        }
        return;
    }
    thread_local LogThrottle throttle(std::chrono::seconds(1));
    std::size_t suppressed = 0;
    if (throttle.due(_loop.now(), suppressed)) {
        logger->info("TLS handshake from {}{} refused: {}{}", _peerText, forName(), _stream->handshakeFailure(),
                     suppressed == 0 ? std::string()
                                     : " (" + std::to_string(suppressed) + " more refused since the last message)");
    }
}

// Bytes the kernel holds for the client (not yet sent or not yet acknowledged); -1 if unknown.
int HttpConnection::sendQueue() const noexcept
{
    int queued = -1;
    return ::ioctl(_stream->fd(), SIOCOUTQ, &queued) == 0 ? queued : -1;
}

Clock::time_point HttpConnection::onTimer(Clock::time_point now)
{
    _armed = Clock::time_point::max();
    if (_closed) {
        return Clock::time_point::max();
    }
    if (now < _deadline) {
        if (!_out.empty() && !_writable && _sendQueueMark < 0) {
            _sendQueueMark = sendQueue();
        }
        _armed = _deadline;
        return _deadline;
    }
    if (!_out.empty() && !_writable && _sendQueueMark >= 0) {
        // Waiting to write. The kernel wakes a blocked writer only once a good part of a large
        // send buffer is free, which a slow reader may take longer than the body timeout to free
        // while it reads all the time: a queue that shrank since the write blocked is progress.
        const int queued = sendQueue();
        if (queued >= 0 && queued < _sendQueueMark) {
            _sendQueueMark = queued;
            _deadline = now + std::chrono::milliseconds(_worker.snapshot()->config.http.bodyTimeoutMs);
            _armed = _deadline;
            return _deadline;
        }
    }
    switch (_state) {
        case State::ReadHead:
            if (!_out.empty() || _in.empty()) {
                closeNow();  // the client stopped taking its answer, or an idle keep-alive connection
            } else {
                dropRefusedHead();
                respondLocal(408, kRequestTimeout, "Request Timeout", "The request head did not arrive in time.", true);
            }
            break;
        case State::ReadBody:
            respondLocal(408, kRequestTimeout, "Request Timeout", "The request body stalled.", true);
            break;
        case State::Paused:
            Logging::get("pipeline")->error("a paused handler did not resume in time");
            ex().paused = false;
            if (!retractResponse()) {
                closeNow();
            } else {
                respondLocal(504, kBackendTimeout, "Gateway Timeout", "A policy did not complete in time.", true);
            }
            break;
        case State::Handshake:
            // A scanner or a slowloris client, usually: debug, as a client that leaves mid-way.
            Logging::get("tls")->debug("TLS handshake from {} did not complete within header_timeout_ms", _peerText);
            closeNow();
            break;
        case State::Proxy:
            if (_bodyEnded && _out.empty()) {
                _deadline = Clock::time_point::max();  // a stale deadline: nothing is stalled
                break;
            }
            if (_clientReadPaused && _out.empty()) {
                // The client is not reading because the backend has not taken what came before:
                // the backend is the one waited for, and its read_ms judges it. Look again later.
                _deadline = now + std::chrono::milliseconds(_worker.snapshot()->config.http.bodyTimeoutMs);
                break;
            }
            if (!_bodyEnded && !_responseStarted) {
                respondLocal(408, kRequestTimeout, "Request Timeout", "The request body stalled.", true);
            } else {
                closeNow();  // the client stopped reading the response
            }
            break;
        default: closeNow(); break;
    }
    return _closed ? Clock::time_point::max() : _deadline;
}

}  // namespace sluice::runtime::transport
