// Asynchronous handlers through the real transport: a handler that pauses the chain on a timer
// (request and response phase, then continue / respond / error), and one that makes an outgoing
// HTTP call and counts requests while paused.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

std::string pauseChain(const std::string& phase, const std::string& then, int delayMs = 50)
{
    return R"("handlers": [{"component": "test_pause_timer", "config": {"delay_ms": )" + std::to_string(delayMs) +
           R"(, "phase": ")" + phase + R"(", "then": ")" + then + R"("}}])";
}

GatewaySpec pausingGateway(const ScriptedBackend& backend)
{
    GatewaySpec spec;
    spec.testPlugins = true;
    std::string endpoints = endpointList({backend.url()});
    spec.apis.emplace_back("req", apiJson("/req", endpoints, pauseChain("request", "continue")));
    spec.apis.emplace_back("resp", apiJson("/resp", endpoints, pauseChain("response", "continue")));
    spec.apis.emplace_back("respond", apiJson("/respond", endpoints, pauseChain("request", "respond")));
    spec.apis.emplace_back("error", apiJson("/error", endpoints, pauseChain("request", "error")));
    return spec;
}

// One API, /call, whose test_call_out handler calls `calleeUrl` before the request goes on;
// `moreConfig` adds members to its config (", \"calls\": 2").
GatewaySpec callingGateway(const ScriptedBackend& backend, const std::string& calleeUrl,
                           const std::string& moreConfig = "")
{
    GatewaySpec spec;
    spec.testPlugins = true;
    spec.apis.emplace_back("call", apiJson("/call", endpointList({backend.url()}),
                                           R"("handlers": [{"component": "test_call_out", "config": {"url": ")" +
                                               calleeUrl + "\"" + moreConfig + "}}]"));
    return spec;
}

// A name server that never answers: a UDP socket on port 53 of a loopback address of its own,
// and a resolv.conf naming it with a timeout of `seconds` (one by default) and one attempt, so that
// a lookup through it fails after that long. Binding port 53 needs root; bound() says whether it
// worked.
class SilentNameServer {
public:
    explicit SilentNameServer(int seconds = 1)
    {
        _fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(53);
        ::inet_pton(AF_INET, kAddress, &address.sin_addr);
        _bound = _fd >= 0 && ::bind(_fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
        _resolvConf.write(std::string("nameserver ") + kAddress + "\noptions timeout:" + std::to_string(seconds) +
                          " attempts:1\n");
    }
    ~SilentNameServer()
    {
        if (_fd >= 0) {
            ::close(_fd);
        }
    }
    SilentNameServer(const SilentNameServer&) = delete;
    SilentNameServer& operator=(const SilentNameServer&) = delete;

    bool bound() const noexcept { return _bound; }
    // Whether a test can use it (root: port 53, and a mount namespace for resolv.conf); says why not.
    bool usable() const
    {
        if (privateHostsSupported() && _bound) {
            return true;
        }
        MESSAGE("skipped: needs root (a mount namespace for resolv.conf, and port 53)");
        return false;
    }
    const std::string& resolvConf() const noexcept { return _resolvConf.path(); }
    // A gateway whose handler calls a name only this server is asked about.
    GatewaySpec callingThrough(const ScriptedBackend& backend) const
    {
        GatewaySpec spec = callingGateway(backend, "http://lookup.sluice.test:8/x");
        spec.resolvConf = resolvConf();
        return spec;
    }
    // Waits for a query to come in (a lookup has begun) and takes every one waiting.
    bool waitForQuery(std::chrono::milliseconds timeout) const
    {
        pollfd p{_fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
            return false;
        }
        char datagram[512];
        while (::recv(_fd, datagram, sizeof datagram, MSG_DONTWAIT) > 0) {
        }
        return true;
    }

private:
    static constexpr const char* kAddress = "127.83.0.53";
    int _fd = -1;
    bool _bound = false;
    TempFile _resolvConf;
};

BackendReply answer(const ReceivedRequest& r)
{
    BackendReply reply;
    std::string seen = "resumed=" + r.header("X-Pause-Resumed").value_or("no") + " body=" + r.body;
    if (r.target == "/chunked") {
        reply.bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhead\r\n";
        reply.later = {{60ms, "5\r\n-tail\r\n0\r\n\r\n"}};
    } else {
        reply.bytes = httpResponse(200, seen, {{"X-Backend", "paused"}});
    }
    return reply;
}

}  // namespace

TEST_CASE("pause: a request-phase pause resumes and the request reaches the backend")
{
    ScriptedBackend backend(answer);
    SluicedProcess gw(pausingGateway(backend));
    RawClient client(gw.port());
    auto start = Clock::now();
    auto r = client.exchange(getRequest("/req/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "resumed=yes body=");
    CHECK(millisSince(start) >= 45);

    // A body waits while the chain is paused and arrives whole.
    auto post = client.exchange(bodyRequest("POST", "/req/v1/x", "payload-while-paused"));
    REQUIRE_MESSAGE(post, client.error());
    CHECK(post->body == "resumed=yes body=payload-while-paused");

    // Pipelined requests through the pausing chain keep their order.
    REQUIRE(client.send(getRequest("/req/v1/1") + bodyRequest("POST", "/req/v1/2", "two") + getRequest("/req/v1/3")));
    for (const char* expected : {"resumed=yes body=", "resumed=yes body=two", "resumed=yes body="}) {
        auto p = client.read();
        REQUIRE_MESSAGE(p, client.error());
        CHECK(p->body == expected);
    }
    REQUIRE(backend.waitForRequests(5, 2s));
    CHECK(backend.request(3).target == "/2");
}

TEST_CASE("pause: a response-phase pause holds the answer, then relays it with the handler's header")
{
    ScriptedBackend backend(answer);
    SluicedProcess gw(pausingGateway(backend));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/resp/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->header("X-Pause-Resumed") == "yes");
    CHECK(r->header("X-Backend") == "paused");
    CHECK(r->body == "resumed=no body=");

    // A chunked answer whose tail arrives while, or after, the chain is paused.
    auto chunked = client.exchange(getRequest("/resp/v1/chunked"));
    REQUIRE_MESSAGE(chunked, client.error());
    CHECK(chunked->header("X-Pause-Resumed") == "yes");
    CHECK(chunked->framing == HttpResponse::Framing::Chunked);
    CHECK(chunked->body == "head-tail");

    RawClient old(gw.port());
    auto r10 = old.exchange("GET /resp/v1/chunked HTTP/1.0\r\n\r\n");
    REQUIRE_MESSAGE(r10, old.error());
    CHECK(r10->header("X-Pause-Resumed") == "yes");
    CHECK(r10->framing == HttpResponse::Framing::Close);
    CHECK(r10->body == "head-tail");
}

TEST_CASE("pause: while a response handler is paused, the backend is not read, even when an earlier answer drains")
{
    // Two pipelined requests: the first answer (200 KiB) waits in the gateway for a client with
    // a small window; the second's response handler pauses. When the client then takes the first
    // answer, the gateway must not start reading the second from the backend while its handler
    // is still paused (it read all of it into memory, at the backend's pace).
    const std::size_t second = 48u << 20;  // far more than the socket buffers between them hold
    std::atomic<bool> secondSent{false};
    RawBackend backend([&secondSent, second](int fd, int) {
        for (;;) {
            std::string in;
            if (!readHead(fd, in, 10s)) {
                return;
            }
            if (in.find(" /first ") != std::string::npos) {
                sendAll(fd, httpResponse(200, std::string(200 * 1024, 'f')));
                continue;
            }
            sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(second) + "\r\n\r\n");
            const std::string block(1 << 20, 's');
            for (std::size_t sent = 0; sent < second; sent += block.size()) {
                if (!sendAll(fd, block)) {
                    return;
                }
            }
            secondSent = true;
        }
    });
    GatewaySpec spec;
    spec.testPlugins = true;
    spec.apis.emplace_back("plain", apiJson("/plain", endpointList({backend.url()})));
    spec.apis.emplace_back("resp",
                           apiJson("/resp", endpointList({backend.url()}), pauseChain("response", "continue", 2000)));
    SluicedProcess gw(spec);
    int error = 0;
    const int fd = connectAddress("127.0.0.1", gw.port(), error, 4096, 1000);
    REQUIRE(fd >= 0);
    const auto start = Clock::now();
    REQUIRE(sendAll(fd, getRequest("/plain/v1/first") + getRequest("/resp/v1/second")));
    std::this_thread::sleep_for(300ms);  // the first answer is queued; the second's handler pauses
    std::string received;
    std::size_t firstEnd = std::string::npos;
    while (firstEnd == std::string::npos || received.size() < firstEnd) {
        REQUIRE(readSome(fd, received, start + 1500ms) == ReadStatus::Data);
        const std::size_t at = received.find("\r\n\r\n");
        if (at != std::string::npos) {
            firstEnd = at + 4 + 200 * 1024;
        }
    }
    std::this_thread::sleep_for(start + 1500ms - Clock::now());  // the handler is still paused
    CHECK_FALSE(secondSent);
    std::string rest = received.substr(firstEnd);
    std::size_t restAt = std::string::npos;
    const auto deadline = Clock::now() + 30s;
    while (restAt == std::string::npos || rest.size() < restAt + 4 + second) {
        std::string more;
        REQUIRE(readSome(fd, more, deadline, 1 << 20) == ReadStatus::Data);
        rest += more;
        restAt = rest.find("\r\n\r\n");
    }
    ::close(fd);
    CHECK(rest.rfind("HTTP/1.1 200 ", 0) == 0);
    CHECK(contains(rest.substr(0, restAt), "X-Pause-Resumed: yes"));
    CHECK(rest.size() == restAt + 4 + second);
}

TEST_CASE("pause: a handler that resumes with respond or error answers itself, the backend sees nothing")
{
    ScriptedBackend backend(answer);
    SluicedProcess gw(pausingGateway(backend));
    RawClient client(gw.port());
    auto accepted = client.exchange(getRequest("/respond/v1/x"));
    REQUIRE_MESSAGE(accepted, client.error());
    CHECK(accepted->status == 202);
    CHECK(accepted->body == "answered after a pause");
    CHECK(accepted->header("Content-Type") == "text/plain");

    auto failed = client.exchange(getRequest("/error/v1/x"));
    REQUIRE_MESSAGE(failed, client.error());
    CHECK(failed->status == 500);
    CHECK(failed->errorCode() == 101500);
    CHECK(failed->header("Content-Type") == "application/json");

    // The connection carries on.
    auto ok = client.exchange(getRequest("/req/v1/after"));
    REQUIRE_MESSAGE(ok, client.error());
    CHECK(ok->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK(backend.requestCount() == 1);
    CHECK(backend.request(0).target == "/after");
}

TEST_CASE("pause: a client that disconnects while paused does not disturb the gateway")
{
    ScriptedBackend backend(answer);
    GatewaySpec spec;
    spec.testPlugins = true;
    spec.apis.emplace_back("req",
                           apiJson("/req", endpointList({backend.url()}), pauseChain("request", "continue", 100)));
    spec.apis.emplace_back("resp",
                           apiJson("/resp", endpointList({backend.url()}), pauseChain("response", "continue", 100)));
    SluicedProcess gw(spec);
    for (const char* path : {"/req/v1/gone", "/resp/v1/gone"}) {
        RawClient leaving(gw.port());
        REQUIRE(leaving.send(getRequest(path)));
    }  // closed while the chain is paused
    for (const char* path : {"/req/v1/stay", "/resp/v1/stay"}) {
        RawClient client(gw.port());
        auto r = client.exchange(getRequest(path));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
    }
    CHECK(gw.running());
}

TEST_CASE("pause: http_call from a handler reaches another backend, counters count across requests")
{
    ScriptedBackend callee([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "callee-body-24-bytes-abc");
        return reply;
    });
    ScriptedBackend backend(echo());
    SluicedProcess gw(callingGateway(backend, callee.url("/callee?from=gw")));
    RawClient client(gw.port());
    for (int i = 1; i <= 3; ++i) {
        auto r = client.exchange(getRequest("/call/v1/x" + std::to_string(i)));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
    }
    REQUIRE(backend.waitForRequests(3, 2s));
    for (std::size_t i = 0; i < 3; ++i) {
        ReceivedRequest up = backend.request(i);
        CAPTURE(i);
        CHECK(up.header("X-Call-Status") == "200");
        CHECK(up.header("X-Call-Body-Length") == "24");
        CHECK(up.header("X-Count") == std::to_string(i + 1));
    }
    REQUIRE(callee.waitForRequests(3, 2s));
    ReceivedRequest call = callee.request(0);
    CHECK(call.method == "GET");
    CHECK(call.target == "/callee?from=gw");
    CHECK(call.header("Host") == callee.hostPort());
    CHECK(call.headerCount("Host") == 1);
    CHECK(call.header("X-From-Plugin") == "call-out");
    // The framing and connection fields the plugin passed were dropped: the runtime's own frame
    // the call, and the three calls shared one pooled connection.
    for (const char* field : {"Content-Length", "Transfer-Encoding", "Connection", "Expect"}) {
        CHECK_FALSE(call.header(field));
    }
    CHECK(call.bodyLength == 0);
    CHECK(callee.request(2).connection == call.connection);

    // A callee that is down is reported to the handler, which lets the request continue.
    callee.stop();
    auto r = client.exchange(getRequest("/call/v1/down"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    REQUIRE(backend.waitForRequests(4, 2s));
    CHECK(backend.request(3).header("X-Call-Status") == "failed");
    CHECK(backend.request(3).header("X-Count") == "4");
}

TEST_CASE("pause: an http_call on a pooled connection the callee has reset goes again on a new one, and answers later")
{
    // The callee answers the first call and resets its connection 30 ms later, once the gateway
    // has put it back in its pool. The handler's second call, made from the first one's callback
    // after the reset has landed (the worker blocks 150 ms, so the loop has not seen it), takes
    // that connection from the pool: its write fails at once, inside http_call. The call
    // must neither answer from there (the SDK promises a later callback) nor fail for a
    // connection the callee had closed: it goes again on a new connection.
    ScriptedBackend callee([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "callee");
        if (r.connection == 1) {
            reply.resetAfter = 30ms;
        }
        return reply;
    });
    ScriptedBackend backend(echo());
    SluicedProcess gw(callingGateway(backend, callee.url("/callee"), R"(, "calls": 2, "block_ms": 150)"));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/call/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    ReceivedRequest up = backend.request(0);
    CHECK(up.header("X-Call-1-Status") == "200");
    CHECK(up.header("X-Call-2-Status") == "200");
    CHECK_FALSE(up.header("X-Call-Reentered").has_value());
    CHECK(callee.requestCount() == 2);
    CHECK(callee.connectionCount() == 2);
}

TEST_CASE("pause: an http_call answer over its 8 MiB limit in small chunks fails the call, and nothing else")
{
    // One read of the callee holds many chunks; the first over the limit ends the call, and the
    // chunks after it in the same read must not reach the call that ended (they crashed sluiced).
    std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string chunk = "1000\r\n" + std::string(4096, 'c') + "\r\n";
    for (int i = 0; i < (9 << 20) / 4096; ++i) {
        chunked += chunk;
    }
    chunked += "0\r\n\r\n";
    ScriptedBackend callee([&chunked](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = chunked;
        return reply;
    });
    ScriptedBackend backend(echo());
    SluicedProcess gw(callingGateway(backend, callee.url("/big")));
    RawClient client(gw.port());
    for (int i = 1; i <= 2; ++i) {
        auto r = client.exchange(getRequest("/call/v1/big" + std::to_string(i)), 10s);
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
    }
    REQUIRE(backend.waitForRequests(2, 2s));
    CHECK(backend.request(0).header("X-Call-Status") == "failed");
    CHECK(backend.request(1).header("X-Call-Status") == "failed");
    CHECK(gw.running());
}

// timeout_ms covers the name lookup: a name server that keeps silent for 5 s fails the call at
// the plugin's 2 s (before, at the resolver's 5 s).
TEST_CASE("pause: an http_call whose name is not resolved within its timeout_ms fails then")
{
    SilentNameServer dns(5);
    if (!dns.usable()) {
        return;
    }
    ScriptedBackend backend(echo());
    SluicedProcess gw(dns.callingThrough(backend));
    RawClient client(gw.port());
    const auto start = Clock::now();
    auto r = client.exchange(getRequest("/call/v1/slow"), 10s);
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(millisSince(start) >= 1900);
    CHECK(millisSince(start) < 4000);
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK(backend.request(0).header("X-Call-Status") == "failed");
}

TEST_CASE(
    "pause: an http_call name lookup that ends after its client left, or after the gateway stopped, harms nothing")
{
    // The lookup's answer comes back to the worker from the resolver's thread. It once read the
    // connection its client had closed, and at shutdown it was posted to an event loop that no
    // longer existed: both were reads of freed memory, which the sanitizer build
    // (scripts/test-sanitized.sh) turns into an abort that this test sees.
    SilentNameServer dns;
    if (!dns.usable()) {
        return;
    }
    ScriptedBackend backend(echo());
    GatewaySpec spec = dns.callingThrough(backend);
    spec.shutdownGraceMs = 100;

    SUBCASE("the client leaves while its call waits for the name")
    {
        SluicedProcess gw(spec);
        int error = 0;
        const int leaving = connectLoopback(gw.port(), error);
        REQUIRE(leaving >= 0);
        REQUIRE(sendAll(leaving, getRequest("/call/v1/left")));
        REQUIRE(dns.waitForQuery(5s));
        closeWithReset(leaving);  // a reset, not a FIN: the gateway drops the connection at once
        // The next call waits behind the first lookup (the resolver asks one name at a time), so
        // the first lookup's answer arrives after the connection that asked for it was deleted,
        // while this one is the worker's current connection.
        RawClient client(gw.port());
        auto r = client.exchange(getRequest("/call/v1/after"), 10s);
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        REQUIRE(backend.waitForRequests(1, 2s));
        CHECK(backend.requestCount() == 1);
        CHECK(backend.request(0).target == "/after");
        CHECK(backend.request(0).header("X-Call-Status") == "failed");
        CHECK(gw.running());
    }
    SUBCASE("the gateway stops while a call waits for the name")
    {
        SluicedProcess gw(spec);
        RawClient client(gw.port());
        REQUIRE(client.send(getRequest("/call/v1/waiting")));
        REQUIRE(dns.waitForQuery(5s));
        // The grace period (100 ms) ends before the lookup (1 s): the workers and their loops are
        // gone when its answer is handed over, at the resolver's join on exit.
        auto code = gw.stop(10s);
        CHECK(code == std::optional<int>(0));
        CHECK(backend.requestCount() == 0);
    }
}

TEST_CASE("pause: a large request body that arrived during a request-phase pause is forwarded whole")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "length=" + std::to_string(r.bodyLength));
        return reply;
    });
    GatewaySpec spec;
    spec.testPlugins = true;
    spec.http = R"({"body_timeout_ms": 2000})";
    spec.apis.emplace_back("req",
                           apiJson("/req", endpointList({backend.url()}), pauseChain("request", "continue", 100)));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    // Sent at once: most of it waits in the socket while the chain is paused.
    auto start = Clock::now();
    auto r = client.exchange(bodyRequest("POST", "/req/v1/upload", std::string(256 * 1024, 'u')), 5s);
    REQUIRE_MESSAGE(r, client.error() << "; received: " << client.received());
    CHECK(r->status == 200);
    CHECK(r->body == "length=262144");
    CHECK(millisSince(start) < 1500);  // not rescued by a timeout
}

TEST_CASE("pause: after a request-phase pause a slow backend still gets its full read_ms and a 504")
{
    ScriptedBackend backend(delayedReply(1500ms, "too late"));
    GatewaySpec spec;
    spec.testPlugins = true;
    spec.apis.emplace_back(
        "req", apiJson("/req", endpointList({backend.url()}),
                       pauseChain("request", "continue", 50) + R"(, "timeouts": {"read_ms": 300}, "retries": 0)"));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/req/v1/slow"), 5s);
    REQUIRE_MESSAGE(r, client.error() << "; received: " << client.received());
    CHECK(r->status == 504);
    CHECK(r->errorCode() == 101504);
}

TEST_CASE("pause: after a response-phase pause a slowly streamed body is relayed whole")
{
    ScriptedBackend backend([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n";
        for (const char* part : {"3\r\ntwo\r\n", "5\r\nthree\r\n", "4\r\nfour\r\n", "4\r\nfive\r\n0\r\n\r\n"}) {
            reply.later.emplace_back(150ms, part);  // each gap within read_ms, the whole far beyond it
        }
        return reply;
    });
    GatewaySpec spec;
    spec.testPlugins = true;
    spec.apis.emplace_back("resp",
                           apiJson("/resp", endpointList({backend.url()}),
                                   pauseChain("response", "continue", 50) + R"(, "timeouts": {"read_ms": 300})"));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/resp/v1/stream"), 5s);
    REQUIRE_MESSAGE(r, client.error() << "; received: " << client.received());
    CHECK(r->status == 200);
    CHECK(r->header("X-Pause-Resumed") == "yes");
    CHECK(r->body == "onetwothreefourfive");
}

TEST_CASE("pause: a response-phase pause that outlasts read_ms is a 504 without the backend's fields")
{
    // Nothing of the backend's answer has reached the client while the response chain is paused,
    // so the gateway can still say what happened instead of dropping the connection.
    ScriptedBackend backend(answer);
    GatewaySpec spec;
    spec.testPlugins = true;
    spec.apis.emplace_back("resp",
                           apiJson("/resp", endpointList({backend.url()}),
                                   pauseChain("response", "continue", 2000) + R"(, "timeouts": {"read_ms": 300})"));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto start = Clock::now();
    auto r = client.exchange(getRequest("/resp/v1/x"), 5s);
    REQUIRE_MESSAGE(r, client.error() << "; received: " << client.received());
    CHECK(r->status == 504);
    CHECK(r->errorCode() == 101504);
    CHECK_FALSE(r->header("X-Backend"));
    CHECK(millisSince(start) < 1500);
    CHECK(backend.requestCount() == 1);
}

TEST_CASE(
    "pause: after an early answer a paused response handler resumes, and the body and the request behind it go on")
{
    // The backend answers after 1000 body bytes and then reads the rest. While the response
    // handler pauses, nothing reads the client (nor the backend): on resume the body must be
    // read again, and the pipelined GET behind it answered (it used to hang until shutdown).
    static constexpr std::size_t kBody = 9u << 20;
    RawBackend backend([](int fd, int) {
        std::string in;
        while (readHead(fd, in, 5s)) {
            const std::size_t end = in.find("\r\n\r\n") + 4;
            const bool post = in.rfind("POST ", 0) == 0;
            in.erase(0, end);
            if (!post) {
                sendAll(fd, httpResponse(200, "next"));
                continue;
            }
            const auto deadline = Clock::now() + 10s;
            while (in.size() < 1000 && readSome(fd, in, deadline) == ReadStatus::Data) {
            }
            // The answer's body in two parts, the second while the response handler pauses.
            sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nearly");
            std::this_thread::sleep_for(200ms);
            sendAll(fd, "EARLY");
            while (in.size() < kBody && readSome(fd, in, deadline) == ReadStatus::Data) {
            }
            in.erase(0, std::min(in.size(), kBody));  // what follows the body is the next request
        }
    });
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}), pauseChain("response", "continue", 1000));
    spec.testPlugins = true;
    spec.http = R"({"body_timeout_ms": 5000})";
    SluicedProcess gw(spec);
    int error = 0;
    const int fd = connectLoopback(gw.port(), error);
    REQUIRE(fd >= 0);
    setIoTimeouts(fd, std::chrono::seconds(5));
    std::thread writer([fd] {
        sendAll(fd, "POST /svc/v1/up HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n");
        sendAll(fd, std::string(kBody, 'u'));
        sendAll(fd, "GET /svc/v1/next HTTP/1.1\r\nHost: a\r\n\r\n");
    });
    std::string received;
    const auto deadline = Clock::now() + 10s;
    while (received.find("next") == std::string::npos && readSome(fd, received, deadline) == ReadStatus::Data) {
    }
    writer.join();
    ::close(fd);
    CHECK(received.find("earlyEARLY") != std::string::npos);
    CHECK(received.find("next") != std::string::npos);
}
