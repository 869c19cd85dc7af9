// HttpConnection, the proxied exchange: the request's body and head to the backend, the backend's
// answer back to the client (its head, data, end and failures), and the response phase.
#include "sluice/runtime/transport/HttpConnection.h"

#include <algorithm>
#include <cerrno>

#include "HttpConnectionDetail.h"
#include "sluice/runtime/Logging.h"
#include "sluice/runtime/MessageCodecs.h"
#include "sluice/runtime/http/ReasonPhrase.h"
#include "sluice/runtime/transport/ClientFields.h"
#include "sluice/runtime/transport/HttpDate.h"
#include "sluice/runtime/transport/LocationRewrite.h"
#include "sluice/runtime/transport/LogThrottle.h"
#include "sluice/runtime/transport/Worker.h"

namespace sluice::runtime::transport {

using namespace connection;  // NOLINT(google-build-using-namespace): this class's own details

// The longest request body read whole before the backend is contacted: http.request_buffer_bytes,
// or every body the gateway accepts (http.max_body_bytes) for an API with request_buffering,
// whose backend then never gets a chunked body: one that cannot read those (thin) would read the
// rest of such a body as further requests.
std::uint64_t HttpConnection::requestBufferLimit() const
{
    return _api != nullptr && _api->config.requestBuffering ? _snapshot->config.http.maxBodyBytes
                                                            : _snapshot->config.http.requestBufferBytes;
}

// A short body with a Content-Length that is not all here yet (of a longer one, what arrived
// with the head goes out with it, in one write), or a chunked body, which may be short: it is
// buffered until it ends or outgrows the limit.
bool HttpConnection::bodyWorthBuffering()
{
    const std::uint64_t limit = requestBufferLimit();
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
    const std::uint64_t limit = requestBufferLimit();
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
        if (_api->config.requestBuffering && _bodyMode == BodyMode::Length &&
            head().contentLength > _snapshot->config.http.requestBufferBytes) {
            // request_buffering, and a body longer than request_buffer_bytes: to its file from the start.
            if (!openSpool()) {
                return;
            }
        } else {
            // At most request_buffer_bytes (or a chunked body's first part; the rest of a
            // request_buffering one goes to a file), and at most 1 MiB before any byte of it came.
            io().requestBody.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(head().contentLength, 1u << 20)));
        }
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
                        LogThrottle::sinceLastMessage(suppressed, "such answers"));
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
    } else if (_bodyBuffered && _spool) {
        UpstreamConnection* up = _upstream;
        _upstream->send(io().upstreamHead);
        if (_upstream == up) {
            _spool->sent = 0;  // every attempt sends it from its start
            pumpSpooledBody();
        }
        return _upstream != nullptr;  // the request is complete once the file is out
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
        // A chunked one too; a spooled one is all in its file.
        appendHeader(h, "Content-Length", std::to_string(_spool ? _spool->size() : io().requestBody.size()));
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

// With request_buffering, the part of a body past http.request_buffer_bytes goes to a file
// without a name (BodySpool.h) as it arrives, so that a client sending a long body costs disk,
// not memory (nginx's client_body_temp_path). False when the request was refused: the file could
// not be made or written; the rest of the body is not read.
bool HttpConnection::spillRequestBody()
{
    std::string& body = io().requestBody;
    if (!_api->config.requestBuffering || (!_spool && body.size() <= _snapshot->config.http.requestBufferBytes)) {
        return true;
    }
    if (!_spool && !openSpool()) {
        return false;
    }
    if (!body.empty()) {
        // A chunked body that outgrew request_buffer_bytes: what is in memory moves to the file,
        // and the rest goes there straight (fillInput, bufferRequestBody).
        _spool->append(body);
        std::string().swap(body);
    }
    if (_spool->writeError() != 0) {
        spoolFailed(_spool->writeErrorText(), true, isShortage(_spool->writeError()));
        return false;
    }
    return true;
}

void HttpConnection::keepRequestBody(std::string_view data)
{
    if (_spool) {
        _spool->append(data);  // a failure is kept in the spool and answered by spillRequestBody()
    } else {
        io().requestBody.append(data);
    }
}

// Out of descriptors, memory or disk space: a shortage that passes (503, retry later), as when
// no connection to the backend can be opened; anything else is the gateway's fault (500).
bool HttpConnection::isShortage(int err) noexcept
{
    return isLocalResourceError(err) || err == ENOSPC || err == EDQUOT;
}

bool HttpConnection::openSpool()
{
    std::string error;
    int err = 0;
    _spool = BodySpool::open(_snapshot->config.http.bodyTempDir, error, &err);
    if (!_spool) {
        spoolFailed(error, true, isShortage(err));
        return false;
    }
    return true;
}

// The next blocks of a spooled body, while the backend's socket takes them (from
// connectUpstream, then from onUpstreamDrained); the request is complete after the last one.
void HttpConnection::pumpSpooledBody()
{
    UpstreamConnection* up = _upstream;
    // A backend that reset takes nothing more (send() drops it): its answer is read to its end.
    while (_spool->sent < _spool->size() && up->pending() <= kHighWatermark && !up->backendClosed()) {
        std::string error;
        const std::int64_t n = _spool->read(_spool->sent, bodyBlock(), kBodyBlock, error);
        if (n < 0) {
            spoolFailed(error, false);
            return;
        }
        _spool->sent += static_cast<std::uint64_t>(n);
        up->send(std::string_view(bodyBlock(), static_cast<std::size_t>(n)));
        if (_upstream != up) {
            return;  // the send failed and the failure was handled (another attempt starts over)
        }
        if (_spool->sent == _spool->size()) {
            up->requestComplete();
        }
    }
}

// The gateway could not keep or read back a spooled body: its own failure (500), or a shortage of
// descriptors, memory or disk (503); logged at most once per kLocalFailureLogEvery per worker,
// since a full disk fails every such request.
void HttpConnection::spoolFailed(std::string_view error, bool whileReading, bool shortage)
{
    thread_local LogThrottle throttle(kLocalFailureLogEvery);
    std::size_t suppressed = 0;
    if (throttle.due(_loop.now(), suppressed)) {
        Logging::get("transport")
            ->error("{} {}: {}{}", ex().method, ex().path, error,
                    LogThrottle::sinceLastMessage(suppressed, "such failures"));
    }
    if (_upstream != nullptr) {
        _upstream->abort();
        _upstream = nullptr;
    }
    if (!whileReading && !retractResponse()) {
        closeNow();  // some of the backend's answer is out: only closing is honest
        return;
    }
    if (shortage) {
        respondLocal(503, kNoLocalResources, "Service Unavailable",
                     "The gateway is out of file descriptors, memory or disk space for the request body now; retry "
                     "later.",
                     !_bodyEnded);
        return;
    }
    respondLocal(500, kInternal, "Internal Server Error", "The gateway could not hold the request body.", !_bodyEnded);
}

// A spooled POST body read back for its `_method` parameter (startFormScan); false when the
// file could not be read (and the request was answered).
bool HttpConnection::scanSpooledBody()
{
    for (std::uint64_t offset = 0; offset < _spool->size();) {
        std::string error;
        const std::int64_t n = _spool->read(offset, bodyBlock(), kBodyBlock, error);
        if (n < 0) {
            spoolFailed(error, true);
            return false;
        }
        _formScan->feed(std::string_view(bodyBlock(), static_cast<std::size_t>(n)));
        offset += static_cast<std::uint64_t>(n);
    }
    return true;
}

void HttpConnection::onUpstreamDrained()
{
    if (_spool && _bodyBuffered && _upstream != nullptr && _spool->sent < _spool->size()) {
        pumpSpooledBody();
        return;
    }
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

}  // namespace sluice::runtime::transport
