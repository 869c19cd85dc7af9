#include "sluice/runtime/transport/UpstreamConnection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sluice/runtime/transport/Tls.h"

namespace sluice::runtime::transport {

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
// Reads of one response per event-loop turn; then the connection yields to the worker's other
// connections and goes on in the next turn (a backend that sends faster than the client path
// relays would otherwise hold the worker until the response ends).
constexpr int kReadsPerTurn = 16;

std::string writeError(const IoResult& r)
{
    return r.status == IoStatus::Eof || r.error == 0 ? std::string("the backend closed the connection")
                                                     : std::string("write: ") + std::strerror(r.error);
}

}  // namespace

std::string describeFailure(UpstreamFailure failure, std::string_view detail)
{
    std::string text = failure == UpstreamFailure::Connect   ? "connect failed"
                       : failure == UpstreamFailure::Timeout ? "timed out"
                       : failure == UpstreamFailure::Closed  ? "connection closed"
                                                             : "invalid response";
    if (!detail.empty()) {
        text.append(": ");
        text.append(detail);
    }
    return text;
}

UpstreamConnection::UpstreamConnection(EventLoop& loop, UpstreamPool& pool, std::string key,
                                       std::unique_ptr<Stream> stream, bool connecting)
    : _loop(loop),
      _pool(pool),
      _key(std::move(key)),
      _stream(std::move(stream)),
      _state(connecting ? State::Connecting : State::Active),
      _writable(!connecting)
{
}

UpstreamConnection::~UpstreamConnection()
{
    _loop.disarm(this);
    _loop.forget(this);
}

void UpstreamConnection::setDeadline(Clock::time_point deadline)
{
    _deadline = deadline;
    if (deadline < _armed) {
        _armed = deadline;
        _loop.arm(this, deadline);
    }
}

void UpstreamConnection::attach(UpstreamSink* sink, std::string_view requestMethod, int connectTimeoutMs,
                                int readTimeoutMs, const http::ParseLimits& limits, int idleTimeoutMs)
{
    _sink = sink;
    _limits = limits;
    _headScanned = 0;
    _headParsedSize = 0;
    _method.assign(requestMethod);
    _headDone = false;
    _responseDone = false;
    _requestQueued = false;
    _paused = false;
    _keepAlive = false;
    _receivedAny = false;
    _reuseForbidden = false;
    _trailerProblem = nullptr;
    _unreadMaybe = false;
    _backendClosed = false;
    _interimResponses = 0;
    _chunked.reset();
    _bodyRemaining = 0;
    _connectTimeoutMs = connectTimeoutMs;
    _readTimeoutMs = readTimeoutMs;
    _idleTimeoutMs = idleTimeoutMs;
    if (_state == State::Connecting || _state == State::Handshaking) {
        setDeadline(_loop.now() + std::chrono::milliseconds(connectTimeoutMs));
    } else {
        _deadline = Clock::time_point::max();  // until the backend owes something (watchBackend)
    }
}

// The read timeout measures the backend, never the client: it runs while request bytes wait for
// the backend to take them, and once the whole request is out until the response is complete. It
// does not run while the request body waits for the client's next bytes (the client's body
// timeout covers that, even when the backend has begun its answer: it may be echoing the body),
// nor while reading is paused because the client is slow to take the response (the client's
// send timeout covers that). Each call restarts it.
void UpstreamConnection::watchBackend()
{
    if (_state != State::Active) {
        return;  // connecting: the connect deadline stands; idle or closed: nothing to watch
    }
    const bool backendOwes = !_out.empty() || (!_responseDone && !_paused && _requestQueued);
    if (backendOwes) {
        setDeadline(_loop.now() + std::chrono::milliseconds(_readTimeoutMs));
    } else {
        _deadline = Clock::time_point::max();
    }
}

void UpstreamConnection::send(std::string_view a, std::string_view b, std::string_view c)
{
    if (_backendClosed) {
        return;  // the backend takes nothing more (it reset); its answer may still be being read
    }
    const std::string_view parts[3] = {a, b, c};
    std::size_t written = 0;
    if (_state == State::Active && _out.empty() && _writable) {
        // Write through: only what the socket does not take now is copied.
        iovec iov[3];
        int count = 0;
        for (std::string_view part : parts) {
            if (!part.empty()) {
                iov[count++] = iovec{const_cast<char*>(part.data()), part.size()};
            }
        }
        if (count == 0) {
            return;
        }
        IoResult r = _stream->writev(iov, count);
        if (r.status == IoStatus::Ok) {
            written = r.bytes;
        } else if (r.status == IoStatus::WouldBlock) {
            _writable = false;
        } else {
            writeFailed(r);
            return;
        }
    }
    for (std::string_view part : parts) {
        std::size_t skip = std::min(written, part.size());
        written -= skip;
        _out.append(part.substr(skip));
    }
    if (!_out.empty()) {
        _writable = false;
    }
    watchBackend();
}

// A backend that answered and closed before it took the whole request (a 413 for a body it will
// not read, say, or an early answer and a reset) makes a write fail while its answer still waits
// in the socket: the kernel hands out received bytes before the error. Read the answer before
// giving up on the connection; when reading is paused (the client has not taken what came
// before), it is read once the client catches up, and the request's remaining bytes are dropped.
void UpstreamConnection::writeFailed(const IoResult& r)
{
    if (_sink != nullptr && _state == State::Active && !_responseDone) {
        _backendClosed = true;  // the rest of the request is dropped; once the answer is whole, the exchange ends
        _out.clear();
        _readable = true;
        if (!_paused) {
            readResponse();
        }
        if (_sink == nullptr || _state != State::Active || _paused) {
            return;  // the answer ended the exchange, reading failed (and said so), or it waits
        }
    }
    fail(UpstreamFailure::Closed, writeError(r));
}

void UpstreamConnection::requestComplete()
{
    _requestQueued = true;
    watchBackend();
}

void UpstreamConnection::pauseReading(bool paused)
{
    _paused = paused;
    watchBackend();
    if (!paused && _readable && _state == State::Active && _sink != nullptr) {
        readResponse();
    }
}

void UpstreamConnection::release()
{
    _sink = nullptr;
    _loop.forget(this);  // a turn it yielded for is not owed any more
    const bool reusable = _state == State::Active && _responseDone && _keepAlive && !_reuseForbidden &&
                          !_backendClosed && !_backendFinished && _requestQueued && _out.empty() && _in.empty();
    // Bytes after a complete response are never a response of their own (RFC 9112 §6.3): a
    // connection that has any is closed, never handed to the next request.
    if (reusable && (!_unreadMaybe || !_stream->inputPending())) {
        _pool.putIdle(this);
    } else if (_state != State::Closed) {
        close();
    }
}

void UpstreamConnection::abort()
{
    _sink = nullptr;
    close();
}

void UpstreamConnection::close()
{
    if (_state == State::Closed) {
        return;
    }
    _state = State::Closed;
    _loop.remove(_stream->fd());
    _loop.disarm(this);
    _loop.forget(this);
    _pool.dispose(this);
}

// `detail` is a copy on purpose: close() may end what a reference would point into.
void UpstreamConnection::fail(UpstreamFailure failure,
                              std::string detail)  // NOLINT(performance-unnecessary-value-param)
{
    UpstreamSink* sink = _sink;
    bool started = _headDone;  // unparsed bytes are not a response: the client still gets a 502
    _sink = nullptr;
    close();
    if (sink != nullptr) {
        sink->onUpstreamFailure(failure, started, detail);
    }
}

void UpstreamConnection::idleEvent()
{
    // An idle keep-alive connection has nothing to say: data or a close both end it.
    close();
}

void UpstreamConnection::onIo(std::uint32_t events)
{
    if (_state == State::Closed) {
        return;
    }
    if (_state == State::Idle) {
        idleEvent();
        return;
    }
    if (_state == State::Connecting) {
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) {
            return;
        }
        const int error = socketError(_stream->fd());
        if (error != 0 || (events & (EPOLLERR | EPOLLHUP)) != 0) {
            fail(UpstreamFailure::Connect, error != 0 ? std::strerror(error) : "the connection was refused or reset");
            return;
        }
        _state = _stream->handshakeDone() ? State::Active : State::Handshaking;
        _writable = true;
        watchBackend();
    }
    if (_state == State::Handshaking) {
        IoResult r = _stream->handshake();
        if (r.status == IoStatus::Error || r.status == IoStatus::Eof) {
            fail(UpstreamFailure::Connect, "TLS handshake: " + _stream->handshakeFailure());
            return;
        }
        if (!_stream->handshakeDone()) {
            return;
        }
        _state = State::Active;
        _readable = true;
        watchBackend();
    }
    if ((events & EPOLLOUT) != 0) {
        _writable = true;
    }
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
        _readable = true;
        if (_responseDone) {
            _unreadMaybe = true;  // input after the response, before release(): not read below
        }
    }
    if ((events & (EPOLLHUP | EPOLLERR)) != 0) {
        _backendClosed = true;
    }
    if ((events & EPOLLRDHUP) != 0) {
        _backendFinished = true;
    }
    if (!_out.empty() && (_writable || _stream->isTls())) {
        _writable = true;
        flush();
        if (_state != State::Active) {
            return;
        }
    }
    if (_readable && _sink != nullptr) {
        readResponse();
    }
    endIfBackendGone();
}

// The answer is complete and the request body still goes to the backend (an early answer): a
// backend that reset the connection takes none of the body, and the client should not have to
// send more of it, or wait for its body timeout, for that to be noticed. (A backend that only
// half-closed may still read the body: an answer that ends at the close is one such. The next
// write that fails tells.)
void UpstreamConnection::endIfBackendGone()
{
    if (_backendClosed && _responseDone && _sink != nullptr && _state == State::Active) {
        fail(UpstreamFailure::Closed, "the backend reset the connection");
    }
}

void UpstreamConnection::flush()
{
    bool hadData = !_out.empty();
    while (!_out.empty() && _writable) {
        iovec part{const_cast<char*>(_out.data()), _out.size()};
        IoResult r = _stream->writev(&part, 1);
        if (r.status == IoStatus::Ok) {
            _out.consume(r.bytes);
            watchBackend();
        } else if (r.status == IoStatus::WouldBlock) {
            _writable = false;
        } else {
            writeFailed(r);
            return;
        }
    }
    if (hadData && _out.empty() && _sink != nullptr) {
        _sink->onUpstreamDrained();
    }
}

void UpstreamConnection::readResponse()
{
    bool headWaits = false;  // another response head may be whole in _in (after an interim one)
    int reads = 0;
    while (_state == State::Active && _sink != nullptr && !_paused && !_responseDone) {
        bool eof = false;
        bool broken = false;  // the end was a reset or an error, not a close (FIN, close_notify)
        if (_readable && !headWaits && ++reads > kReadsPerTurn) {
            _loop.resumeNext(this);  // onIo(EPOLLIN) in the next turn reads on
            return;
        }
        if (_readable && !headWaits) {
            IoResult r = _stream->read(_in.prepare(kReadChunk), kReadChunk);
            if (r.status == IoStatus::Ok) {
                _in.commit(r.bytes);
                _receivedAny = true;
                // A short read of a TCP socket took all it held (epoll(7)); later bytes raise an
                // event of their own. A full one, or TLS, may have left some.
                _unreadMaybe = r.bytes == kReadChunk || _stream->isTls();
                watchBackend();
            } else if (r.status == IoStatus::WouldBlock) {
                _readable = false;
                _unreadMaybe = false;
            } else {
                eof = true;
                broken = r.status == IoStatus::Error;
                _readable = false;
                _backendClosed = _backendClosed || broken;
            }
        }
        headWaits = false;
        if (_in.empty() && !eof) {
            return;
        }
        if (!_headDone) {
            // As for requests (http::headWorthParsing): a backend trickling a large head must not
            // cost reads x head size. At the end of the input it is parsed whatever came.
            if (!eof && !http::headWorthParsing(_in.view(), _headScanned, _headParsedSize, _limits.maxRequestLine,
                                                _limits.maxHeaderBytes)) {
                _headScanned = _in.size();
                if (!_readable) {
                    return;
                }
                continue;
            }
            _headScanned = _in.size();
            _headParsedSize = _in.size();
            http::ParseResult pr = http::parseResponseHead(_in.view(), _limits, _method, _head);
            if (pr.status == http::ParseStatus::Error) {
                fail(UpstreamFailure::BadResponse, pr.reason);
                return;
            }
            if (pr.status == http::ParseStatus::Incomplete) {
                if (eof) {
                    std::string why = _receivedAny ? "the backend closed the connection inside the response head"
                                                   : "the backend closed the connection without a response";
                    if (const std::string tls = _stream->readFailure(); !tls.empty()) {
                        why += " (TLS: " + tls + ")";
                    }
                    fail(UpstreamFailure::Closed, why);
                    return;
                }
                if (!_readable) {
                    return;
                }
                continue;
            }
            if (_head.status >= 100 && _head.status < 200) {
                if (_head.status == 101) {
                    fail(UpstreamFailure::BadResponse, "101 Switching Protocols: upgrades are not proxied");
                    return;
                }
                // An interim response: the client gets its own 100. Bounded, as Go's client bounds
                // them, so that a backend cannot keep an exchange going, or fill memory, with them.
                if (++_interimResponses > kMaxInterimResponses) {
                    fail(UpstreamFailure::BadResponse, "more than 16 interim (1xx) responses");
                    return;
                }
                _in.consume(_head.headLength);
                _headScanned = 0;
                _headParsedSize = 0;
                headWaits = !_in.empty();
                continue;
            }
            _headDone = true;
            _keepAlive = _head.keepAlive;
            if (_head.framing == http::BodyFraming::ContentLength) {
                _bodyRemaining = _head.contentLength;
            } else if (_head.framing == http::BodyFraming::Chunked) {
                _chunked = std::make_unique<http::ChunkedDecoder>();
            }
            std::size_t headLength = _head.headLength;
            _sink->onUpstreamHead(_head);  // views into _in stay valid during the call
            _in.consume(headLength);
            if (_sink == nullptr || _state != State::Active) {
                return;
            }
            if (_head.framing == http::BodyFraming::None ||
                (_head.framing == http::BodyFraming::ContentLength && _bodyRemaining == 0)) {
                _responseDone = true;
            } else if (_in.empty()) {
                // No body bytes yet: an empty delivery tells the sink to send the head now rather
                // than with the first body bytes (one send for head and body when they come together).
                _sink->onUpstreamData({});
                if (_sink == nullptr || _state != State::Active) {
                    return;
                }
            }
        }
        if (!_responseDone && !_in.empty()) {
            switch (_head.framing) {
                case http::BodyFraming::ContentLength: {
                    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(_bodyRemaining, _in.size()));
                    _bodyRemaining -= n;
                    _responseDone = _bodyRemaining == 0;
                    std::string_view data(_in.data(), n);
                    _sink->onUpstreamData(data);
                    _in.consume(n);
                    break;
                }
                case http::BodyFraming::UntilClose: {
                    std::string_view data = _in.view();
                    _sink->onUpstreamData(data);
                    _in.consume(data.size());
                    break;
                }
                case http::BodyFraming::Chunked: {
                    // One read may hold many chunks: they go to the sink together, so that the
                    // client gets one write per read, not one per chunk (a million one-byte
                    // chunks were a million sends). One chunk goes as it is, without a copy.
                    std::size_t used = 0;
                    std::string_view single;
                    bool several = false;
                    _decoded.clear();
                    auto st = _chunked->feed(_in.view(), used, [this, &single, &several](std::string_view d) {
                        if (d.empty()) {
                            return;
                        }
                        if (!several && single.empty()) {
                            single = d;
                            return;
                        }
                        if (!several) {
                            _decoded.append(single);
                            several = true;
                        }
                        _decoded.append(d);
                    });
                    const std::string_view data = several ? _decoded.view() : single;
                    if (!data.empty()) {
                        _sink->onUpstreamData(data);  // views into _in stay valid during the call
                    }
                    _in.consume(used);
                    _decoded.clear();
                    if (_sink == nullptr || _state != State::Active) {
                        return;
                    }
                    if (st == http::ChunkedDecoder::Status::Error && !_chunked->dataComplete()) {
                        fail(UpstreamFailure::BadResponse, _chunked->error());
                        return;
                    }
                    if (st == http::ChunkedDecoder::Status::Error) {
                        // The body is whole; only the trailer section is bad (a framing field, a
                        // malformed line, too large). Trailers are dropped anyway (a recipient may
                        // discard them, RFC 9110 §6.5.1), so the response goes out whole; where
                        // this message ends is in doubt, so the connection is not reused.
                        _trailerProblem = _chunked->error();
                        _keepAlive = false;
                        _reuseForbidden = true;
                    }
                    _responseDone = st != http::ChunkedDecoder::Status::NeedMore;
                    break;
                }
                case http::BodyFraming::None: _responseDone = true; break;
            }
            if (_sink == nullptr || _state != State::Active) {
                return;
            }
        }
        if (!_responseDone && eof) {
            // A body that ends at the close is whole only at a close: after a reset, the kernel
            // may have dropped what the backend wrote last, and the client must not be told that
            // the body ended (a last chunk).
            if (_head.framing == http::BodyFraming::UntilClose && !broken) {
                _responseDone = true;
                _keepAlive = false;
            } else {
                fail(UpstreamFailure::Closed, broken ? "the backend reset the connection inside the response body"
                                                     : "the backend closed the connection inside the response body");
                return;
            }
        }
        if (_responseDone) {
            if (!_in.empty()) {
                _keepAlive = false;  // bytes after the response: never reuse this connection
            }
            if (eof) {
                _keepAlive = false;
            }
            watchBackend();  // request bytes may still wait for the backend (an early answer)
            _sink->onUpstreamEnd();
            endIfBackendGone();  // a reset seen while reading was paused raises no new event
            return;
        }
        if (!_readable) {
            return;
        }
    }
}

Clock::time_point UpstreamConnection::onTimer(Clock::time_point now)
{
    _armed = Clock::time_point::max();
    if (_state == State::Closed) {
        return Clock::time_point::max();
    }
    if (now < _deadline) {
        _armed = _deadline;
        return _deadline;
    }
    if (_state == State::Idle) {
        close();
        return Clock::time_point::max();
    }
    if (_sink == nullptr) {
        return Clock::time_point::max();
    }
    if (_state == State::Connecting || _state == State::Handshaking) {
        fail(UpstreamFailure::Connect, std::string(_state == State::Connecting ? "no connection" : "no TLS handshake") +
                                           " within " + std::to_string(_connectTimeoutMs) + " ms");
    } else {
        fail(UpstreamFailure::Timeout, std::string(_out.empty() ? "nothing received" : "no request bytes taken") +
                                           " for " + std::to_string(_readTimeoutMs) + " ms");
    }
    return Clock::time_point::max();
}

UpstreamPool::UpstreamPool(EventLoop& loop, std::size_t maxIdlePerKey, int idleTimeoutMs)
    : _loop(loop), _maxIdle(maxIdlePerKey), _idleTimeoutMs(idleTimeoutMs)
{
}

UpstreamPool::~UpstreamPool() = default;

UpstreamConnection* UpstreamPool::acquire(const std::string& key, const Address& address, ConnectError& error,
                                          const TlsClientContext* tls, const std::string& serverName, bool verifyIdle,
                                          bool pooled)
{
    auto it = pooled ? _idle.find(key) : _idle.end();
    if (it != _idle.end()) {
        while (!it->second.empty()) {
            UpstreamConnection* c = it->second.back();
            it->second.pop_back();
            if (c->_state == UpstreamConnection::State::Idle && verifyIdle && c->_stream->inputPending()) {
                c->close();
                continue;
            }
            if (c->_state == UpstreamConnection::State::Idle) {
                c->_state = UpstreamConnection::State::Active;
                c->_reused = true;
                c->_deadline = Clock::time_point::max();
                return c;
            }
        }
    }
    int fd = connectTcp(address, error);
    if (fd < 0 && (error.code == EMFILE || error.code == ENFILE) && shed(kShedAtOnce) > 0) {
        // Out of descriptors while idle connections to other backends (or this one, for a
        // request that needs a new connection) hold some: they go first, as idle client
        // connections do at max_connections.
        error = ConnectError{};
        fd = connectTcp(address, error);
    }
    if (fd < 0) {
        return nullptr;
    }
    std::unique_ptr<Stream> stream;
    if (tls != nullptr) {
        SSL* ssl = tls->newSession(fd, serverName);
        if (ssl == nullptr) {
            ::close(fd);
            error.text = "cannot create a TLS session: " + opensslError();
            error.local = true;
            return nullptr;
        }
        stream = std::make_unique<TlsStream>(fd, ssl, false);
    } else {
        stream = std::make_unique<Stream>(fd);
    }
    auto conn = std::make_unique<UpstreamConnection>(_loop, *this, key, std::move(stream), true);
    UpstreamConnection* raw = conn.get();
    if (!_loop.add(fd, raw)) {
        error.text = "cannot register the socket with the event loop";
        error.local = true;
        return nullptr;  // conn (and the fd) are released here
    }
    _owned.emplace(raw, std::move(conn));
    return raw;
}

void UpstreamPool::putIdle(UpstreamConnection* c)
{
    auto& list = _idle[c->_key];
    if (list.size() >= _maxIdle) {
        c->close();
        return;
    }
    c->_state = UpstreamConnection::State::Idle;
    c->_readable = false;
    // An idle connection holds no buffer: its 64 KiB read block goes to the worker's block cache
    // for the next busy connection (a pool of 1,024 idle connections would otherwise hold 64 MiB).
    c->_in.shrinkIfEmpty(0);
    c->_out.shrinkIfEmpty(0);
    c->_decoded.shrinkIfEmpty(0);
    list.push_back(c);
    c->setDeadline(_loop.now() + std::chrono::milliseconds(c->_idleTimeoutMs > 0 ? c->_idleTimeoutMs : _idleTimeoutMs));
}

void UpstreamPool::dispose(UpstreamConnection* c)
{
    auto it = _idle.find(c->_key);
    if (it != _idle.end()) {
        auto& list = it->second;
        list.erase(std::remove(list.begin(), list.end(), c), list.end());
    }
    _loop.defer([this, c] { _owned.erase(c); });
}

std::size_t UpstreamPool::shed(std::size_t most)
{
    // The longest idle first: each list is in the order its connections came back.
    std::vector<UpstreamConnection*> victims;
    for (std::size_t depth = 0; victims.size() < most; ++depth) {
        bool any = false;
        for (const auto& [key, list] : _idle) {
            if (depth < list.size() && victims.size() < most) {
                victims.push_back(list[depth]);
                any = true;
            }
        }
        if (!any) {
            break;
        }
    }
    for (UpstreamConnection* c : victims) {
        c->close();                 // out of the idle list and the loop; deleted later ...
        c->_stream->closeSocket();  // ... but its descriptor is free now
    }
    return victims.size();
}

std::size_t UpstreamPool::idleCount() const noexcept
{
    std::size_t n = 0;
    for (const auto& [k, v] : _idle) {
        n += v.size();
    }
    return n;
}

}  // namespace sluice::runtime::transport
