#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/runtime/Exchange.h"
#include "sluice/runtime/Snapshot.h"
#include "sluice/runtime/http/ChunkedDecoder.h"
#include "sluice/runtime/http/FormMethodScanner.h"
#include "sluice/runtime/http/HttpParser.h"
#include "sluice/runtime/transport/BodySpool.h"
#include "sluice/runtime/transport/Buffer.h"
#include "sluice/runtime/transport/EventLoop.h"
#include "sluice/runtime/transport/Net.h"
#include "sluice/runtime/transport/UpstreamConnection.h"

namespace sluice::runtime::transport {

class Worker;
class HttpCall;

// One client connection: parses requests strictly, routes them, runs the handler chain and
// proxies to the backend, streaming bodies both ways with flow control. Requests on one
// connection are handled one after another (pipelined bytes wait in the input buffer).
// Implemented in three files: HttpConnection.cpp (reading, routing, the handler chain, the
// gateway's own answers, writing, lifetime and timers), HttpConnectionProxy.cpp (the request to
// the backend and its answer back) and HttpConnectionMethodOverride.cpp (`_method` in bodies).
class HttpConnection final : public IoHandler, public TimerTarget, public UpstreamSink, public ExchangeDriver {
public:
    HttpConnection(Worker& worker, std::unique_ptr<Stream> stream, Address peer, bool tls);
    ~HttpConnection() override;

    void start();
    // Graceful shutdown: close now when idle, else after the current exchange.
    void drain();
    // Waiting for a request (the first or the next one) with nothing buffered either way, or for
    // a TLS client's first byte: such a connection can be closed to make room for a new client
    // (close) as a timeout would close it.
    bool idle() const noexcept
    {
        return !_closed && ((_state == State::ReadHead && _in.empty() && _out.empty()) ||
                            (_state == State::Handshake && _stream->silent()));
    }
    // Has sent part of a request head, and no whole one, since `since` or before: a slow or
    // stalled client (slowloris), which gives way to new clients when there is no room.
    bool stalledInHead(Clock::time_point since) const noexcept
    {
        return !_closed && _state == State::ReadHead && !_in.empty() && _out.empty() && _headStartedAt < since;
    }
    // Since when the head being read has been coming (its first byte, or the end of the exchange
    // before when it was pipelined).
    Clock::time_point headStartedAt() const noexcept { return _headStartedAt; }
    // Ends the connection at once, whatever it is doing: to make room for a new client when
    // idle, or at the end of the shutdown grace period.
    void close() { closeNow(); }
    // Bytes from the client wait in the socket (one non-blocking peek; an end of stream is not
    // bytes).
    bool inputArrived() const noexcept;
    // Since when it waits for a request: accepted, or the last response handed over.
    Clock::time_point waitingSince() const noexcept { return _waitingSince; }

    void onIo(std::uint32_t events) override;
    Clock::time_point onTimer(Clock::time_point now) override;

    void onUpstreamHead(const http::ResponseHead& head) override;
    void onUpstreamData(std::string_view bytes) override;
    void onUpstreamEnd() override;
    void onUpstreamFailure(UpstreamFailure failure, bool responseStarted, std::string_view detail) override;
    void onUpstreamDrained() override;

    // ExchangeDriver: the async host services of the current exchange.
    sluice_status startTimer(std::uint64_t delayMs, sluice_timer_callback cb, void* user, sluice_timer_id* id) override;
    sluice_status cancelTimer(sluice_timer_id id) override;
    sluice_status resume(sluice_action next) override;
    sluice_status httpCall(const sluice_http_request& request, sluice_http_callback cb, void* user) override;
    sluice_status counterAdd(std::string_view key, std::int64_t delta, std::uint64_t windowMs,
                             sluice_counter_callback cb, void* user) override;

    // For HttpCall: deliver its answer if the exchange that made it is still running.
    Exchange* exchangeIfCurrent(std::uint64_t generation) noexcept
    {
        return !_closed && generation == _generation && _exchange != nullptr && _exchange->owner == this
                   ? _exchange.get()
                   : nullptr;
    }
    void callFinished(HttpCall* call);
    bool hasCall(HttpCall* call) const { return _services != nullptr && _services->calls.count(call) != 0; }
    EventLoop& loop() noexcept { return _loop; }
    // The current exchange (taken from the worker's spares on first use). Inline: the request
    // path asks for it some forty times per request.
    Exchange& ex() { return _exchange != nullptr ? *_exchange : takeExchange(); }
    Worker& worker() noexcept { return _worker; }

private:
    class ExchangeTimer;
    Exchange& takeExchange();
    enum class State {
        Handshake,  // TLS handshake in progress
        ReadHead,   // waiting for (the rest of) a request head
        ReadBody,   // buffering the request body for a handler that needs it
        Paused,     // a handler paused the chain and will resume it
        Proxy,      // forwarding to the backend and/or relaying its response
        Respond,    // writing a local response
        Closing,    // flushing the last bytes, then close
        Lingering   // answer sent, write side shut: discarding input for a while before close
    };
    enum class BodyMode { None, Length, Chunked };
    enum class ClientFraming { Length, Chunked, Close, None };

    void readLoop();
    bool fillInput();
    // Reads Content-Length body bytes beyond the `inHand` ones already buffered into the worker's
    // body block; empty when none are readable now (or the peer closed).
    std::string_view readBodyBlock(std::uint64_t inHand);
    // `n` more request body bytes have been taken.
    void countBody(std::uint64_t n) noexcept;
    void noteRead(std::size_t got, std::size_t asked) noexcept;
    void awaitNextRequest();
    void processInput();
    // A request head that is refused (malformed, or late) is dropped whole before its answer.
    void dropRefusedHead();
    void startExchange();
    void routeAndRun();
    void runRequestChain(std::size_t from = 0);
    void runResponsePhase(std::size_t until);
    void continueAfterPause(sluice_action next);
    // `backendFields`: the backend's fields, written as they pass (when no handler runs on the
    // response), before the exchange's response fields.
    void writeResponseHead(const std::vector<http::HeaderField>* backendFields = nullptr);
    // Whether a field of the backend's head goes on to the client.
    bool passedOn(const http::HopByHopFilter& hopByHop, std::string_view name, int status) const;
    void writeResponseData(std::string_view bytes);
    void completeResponse();
    void finishBufferedResponse();
    void endExchangeServices();
    void proxy();
    // `early`: request body bytes just read (Content-Length framing) that go out with the head.
    bool connectUpstream(std::string_view early = {});
    bool bodyBackendsMayIgnore();
    void buildUpstreamHead(bool closeAfter);
    // Before the gateway answers in the backend's place: a Content-Length body that is wholly
    // here is taken, so that the connection can stay open for the next request.
    void takeBodyInHand();
    void pumpRequestBody();
    // A body spooled to a file (request_buffering): the part past request_buffer_bytes goes to
    // it as it arrives, and from it to the backend as the backend takes it.
    bool spillRequestBody();
    // Body bytes read for the exchange: to its file when it has one, else to memory.
    void keepRequestBody(std::string_view data);
    bool openSpool();
    static bool isShortage(int err) noexcept;
    void pumpSpooledBody();
    void spoolFailed(std::string_view error, bool whileReading, bool shortage = false);
    bool scanSpooledBody();
    MethodOverride methodOverride() const;  // the API's, else the gateway's
    bool peerTrusted() const;               // the client is in http.trusted_proxies
    bool startFormScan(std::string_view early);
    bool refusedByFormHead();
    void refuseFormBody(std::string_view refusal);
    std::string_view chooseFormScan();
    bool formBodyAllowed(std::string_view bytes);
    void refuseFormOverride();
    void bufferRequestBody();
    void logHandshakeFailure();
    int sendQueue() const noexcept;
    void respondUpstreamFailure(UpstreamFailure failure);
    bool bodyWholeHere();
    bool bodyWorthBuffering();
    std::uint64_t requestBufferLimit() const;
    void readAgainLater(State state);
    void reportEndpointFailure(UpstreamFailure failure);
    std::optional<std::string> publicLocation(std::string_view name, std::string_view value);
    void sendContinueIfExpected();
    bool clientGaveUp();
    // Ends the exchange (access log 499) when clientGaveUp(); true when it did.
    bool abandonIfClientGone();
    void respondLocal(int status, std::int64_t code, std::string_view message, std::string_view description,
                      bool forceClose = false);
    void respondPrepared(bool forceClose, bool runChain = true);
    void replaceBackendResponse();
    void finishExchange();
    // Takes back a response that has not reached the client (its head, if written, is still
    // wholly queued), so that a failure after the backend's head can still be answered with a
    // JSON error. False when some of it is out: then only closing the connection is honest.
    bool retractResponse() noexcept;
    void writeOut(std::string_view bytes);
    void flush();
    void closeNow();
    void releaseExchange() noexcept;
    // The current exchange's transport state (see Exchange::TransportBuffers).
    Exchange::TransportBuffers& io() { return ex().transportBuffers; }
    // The request head being read or served: kept with the exchange, so that an idle
    // connection does not carry it.
    http::RequestHead& head() { return io().head; }
    // One line in the access log for the exchange that ends (if the configuration has one).
    // While part of its answer is still queued (`closing` false), the line waits for it to go.
    void logAccess(bool closing);
    // Writes the waiting lines whose answers have gone (all of them when closing).
    void logAnswersSent(bool closing);
    // Writes what the socket takes now; false when the connection failed (the caller closes).
    bool sendQueued();
    bool contentCoded();
    void lingerThenClose();
    void answerPlainHttpOnTls();
    void drainLinger(bool closeIfQuiet);
    void setDeadline(int ms);
    void setDeadlineAt(Clock::time_point deadline);

    Worker& _worker;
    EventLoop& _loop;
    std::unique_ptr<Stream> _stream;
    Address _peer;
    std::string _peerText;                // "ip:port", what handlers see as the client address
    std::string _peerIp;                  // for X-Forwarded-For
    std::optional<std::string> _peerPem;  // verified TLS client certificate (PEM, "" for none), once known
    bool _tls;
    State _state = State::ReadHead;
    bool _closed = false;
    bool _readable = false;
    bool _writable = true;
    bool _peerClosed = false;
    bool _answerBroken = false;  // the backend broke off: what came goes out, then the connection ends
    bool _endReported = false;   // epoll reported a FIN, hang-up or error (or any TLS input) once
    // The current request had come before the previous answer was done: a close after it does
    // not mean that the client gave up (http.abort_on_client_close).
    bool _pipelined = false;
    bool _draining = false;
    Buffer _in;
    Buffer _out;
    std::uint64_t _outSent = 0;       // bytes of _out ever written to the socket
    std::uint64_t _responseMark = 0;  // the value of _outSent at which the response head starts
    Clock::time_point _deadline = Clock::time_point::max();
    Clock::time_point _armed = Clock::time_point::max();
    Clock::time_point _lingerUntil = Clock::time_point::max();
    Clock::time_point _waitingSince;
    Clock::time_point _headStartedAt;
    // For the access log: the current request's start (max: none to log), whether its head was
    // read, the status and first byte of the response queued for it, and its backend.
    Clock::time_point _requestStart = Clock::time_point::max();
    bool _requestKnown = false;
    int _loggedStatus = 0;
    std::uint64_t _loggedFrom = 0;
    const upstream::EndpointTarget* _loggedUpstream = nullptr;
    // Access log lines of exchanges that ended with their answer still queued, in order: each is
    // written when the answer's last byte has gone to the socket, or when the connection closes,
    // with the bytes that went (an answer cut off by body_timeout_ms is not logged as whole).
    struct WaitingAccessLines;
    std::unique_ptr<WaitingAccessLines> _waitingAccess;
    std::uint32_t _served = 0;
    // Pipelined requests answered without a backend in the loop iteration _answeredIn (deferred
    // continuations run in the same iteration, so the count spans them).
    std::size_t _answered = 0;
    std::uint64_t _answeredIn = 0;
    bool _staleRetried = false;  // this exchange already went again after a stale pooled connection
    upstream::Endpoint* _sameEndpointAgain = nullptr;  // where that attempt goes (a new connection)
    std::uint8_t _addressMoves = 0;                    // to another address of the endpoint's name, this exchange
    std::size_t _scanned = 0;                          // bytes of _in already tried as a head without success
    std::size_t _parsedSize = 0;                       // the size of _in when the head was last parsed

    // The current exchange.
    std::shared_ptr<const Snapshot> _snapshot;
    std::unique_ptr<Exchange> _exchange;  // taken when a request starts, given back when idle
    const ApiRuntime* _api = nullptr;
    const Pipeline* _pipeline = nullptr;
    bool _keepAlive = true;
    bool _headConsumed = false;
    bool _isHead = false;
    int _versionMinor = 1;
    BodyMode _bodyMode = BodyMode::None;
    std::uint64_t _bodyRemaining = 0;
    std::unique_ptr<http::ChunkedDecoder> _chunked;
    // A form body on its way to the backend, checked for `_method` parameters as it streams.
    std::unique_ptr<http::BodyMethodScanner> _formScan;
    bool _formScanChosen = false;  // _formScan chosen by refusedByFormHead(), not yet fed
    bool _bodyEnded = false;
    bool _continueSent = false;
    UpstreamConnection* _upstream = nullptr;
    upstream::Endpoint* _endpoint = nullptr;
    std::int64_t _attemptStartMs = 0;   // when the current attempt on _endpoint began (monotonicMs)
    std::int64_t _firstAttemptMs = -1;  // when the exchange's first attempt began (-1: none yet)
    int _sendQueueMark = -1;            // sendQueue() when the last write blocked
    std::optional<UpstreamFailure> _lastFailure;
    bool _responseStarted = false;
    bool _headWritten = false;
    bool _responseChainRan = false;  // each handler's response hook runs at most once an exchange
    bool _upstreamEnded = false;
    bool _awaitingBody = false;  // response complete, request body still being forwarded
    bool _bufferResponse = false;
    // A short request body read whole before the backend is contacted (http.request_buffer_bytes),
    // or any body of an API with request_buffering: being read / read, in io().requestBody (and
    // _spool).
    bool _bufferingForProxy = false;
    // A chunked body outgrew request_buffer_bytes while it was buffered: what came (decoded, in
    // io().requestBody) goes out as the first chunk, and the rest streams.
    bool _chunkedPrefix = false;
    bool _bodyBuffered = false;
    // The part of a buffered body past request_buffer_bytes, for an API with request_buffering
    // (then io().requestBody holds none of it once it is whole).
    std::unique_ptr<BodySpool> _spool;
    http::BodyFraming _upFraming = http::BodyFraming::None;
    std::uint64_t _upLength = 0;
    sluice_phase _pausedPhase = SLUICE_PHASE_REQUEST;
    std::size_t _pausedIndex = 0;
    std::uint64_t _generation = 0;  // of the current exchange: stale async answers are dropped
    sluice_timer_id _nextTimerId = 0;
    // Plugins' timers and HTTP calls of the current exchange: made on first use, so that a
    // connection whose handlers use neither (and every idle one) does not carry them.
    struct Services {
        std::map<sluice_timer_id, std::unique_ptr<ExchangeTimer>> timers;
        std::map<HttpCall*, std::unique_ptr<HttpCall>> calls;
    };
    std::unique_ptr<Services> _services;
    Services& services();
    ClientFraming _clientFraming = ClientFraming::Length;
    bool _upstreamPaused = false;
    bool _clientReadPaused = false;
    std::size_t _chainEnd = 0;
};

}  // namespace sluice::runtime::transport
