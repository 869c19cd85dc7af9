#include "sluice/runtime/transport/HttpConnection.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <deque>

#include "HttpConnectionDetail.h"
#include "sluice/runtime/HostApi.h"
#include "sluice/runtime/Logging.h"
#include "sluice/runtime/MessageCodecs.h"
#include "sluice/runtime/http/JsonMethodScanner.h"
#include "sluice/runtime/http/ReasonPhrase.h"
#include "sluice/runtime/routing/PathNormalizer.h"
#include "sluice/runtime/transport/ClientFields.h"
#include "sluice/runtime/transport/HttpCall.h"
#include "sluice/runtime/transport/HttpDate.h"
#include "sluice/runtime/transport/LogThrottle.h"
#include "sluice/runtime/transport/Resolver.h"
#include "sluice/runtime/transport/Worker.h"

namespace sluice::runtime::transport {

using namespace connection;  // NOLINT(google-build-using-namespace): this class's own details

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
            keepRequestBody(std::string_view(bodyBlock(), r.bytes));
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
    _spool.reset();
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
    std::size_t cookies = 0;
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
        cookies += http::fieldNameEquals(h.name, "cookie") ? 1 : 0;
        ex.requestHeaders.add(h.name, h.value);
    }
    if (cookies > 1) {
        // One Cookie field (RFC 6265 §5.4), its pairs joined with "; " as HTTP/2 crumbs are
        // (RFC 9113 §8.2.3): PHP joins two fields with ", ", so its first cookie's value would
        // take in the second field ("1, b=2"), while a policy reads each pair on its own. With
        // the arena out of memory the fields go on as they came.
        (void)ex.requestHeaders.joinValues("Cookie", "; ");
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
        auto st = _chunked->feed(_in.view(), used, [this](std::string_view d) { keepRequestBody(d); });
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
        if (_bufferingForProxy && !_spool && io().requestBody.size() > requestBufferLimit()) {
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
    if (_bufferingForProxy && !spillRequestBody()) {
        return;
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
    _spool.reset();  // its disk space is freed now, not when the next request comes
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
