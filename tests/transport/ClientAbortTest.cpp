// A client that goes away while its answer is still awaited (from the backend or from a paused
// handler): a reset always ends the exchange (the backend call is closed, the access log says
// 499); an orderly close (FIN, TLS close_notify) does so only with http.abort_on_client_close,
// since a client may half-close after its request and still read the answer (ProxyingTest).
// Requests pipelined before a half-close are still answered.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "Sockets.h"
#include "TestCertificates.h"
#include "TlsClient.h"
#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

// A backend that reads one request head and then answers nothing: it records that the request
// came, and whether the gateway closed the connection within 3 s after that.
struct SilentBackend {
    std::atomic<int> requests{0};
    std::atomic<int> closedByGateway{0};
    RawBackend server{[this](int fd, int) {
        std::string in;
        if (!readHead(fd, in, 5s)) {
            return;
        }
        ++requests;
        const auto deadline = Clock::now() + 3s;
        std::string more;
        if (readSome(fd, more, deadline) == ReadStatus::Eof) {
            ++closedByGateway;
        }
    }};
};

bool waitUntil(const std::atomic<int>& value, int wanted)
{
    const auto deadline = Clock::now() + 3s;
    while (value.load() < wanted && Clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
    }
    return value.load() >= wanted;
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

const std::string kAbortOnClose = R"({"abort_on_client_close": true})";

}  // namespace

TEST_CASE("client abort: a client that resets while the backend works ends the backend call and is logged 499")
{
    SilentBackend backend;
    GatewaySpec spec = oneApi("/svc", endpointList({backend.server.url()}));
    spec.accessLog = R"({"path": "access.log", "flush_ms": 50})";
    SluicedProcess gw(spec);

    int error = 0;
    const int fd = connectLoopback(gw.port(), error);
    REQUIRE(fd >= 0);
    REQUIRE(sendAll(fd, getRequest("/svc/v1/reset")));
    REQUIRE(waitUntil(backend.requests, 1));
    const linger reset{1, 0};
    REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == 0);
    ::close(fd);  // RST
    CHECK(waitUntil(backend.closedByGateway, 1));

    const auto lines = waitForLines(gw.directory() + "/access.log", 1);
    REQUIRE(lines.size() == 1);
    CHECK(contains(lines[0], "\"GET /svc/v1/reset HTTP/1.1\" 499 0 "));
    CHECK(gw.running());
}

TEST_CASE("client abort: with abort_on_client_close a close or half-close while the backend works ends the call")
{
    SilentBackend backend;
    GatewaySpec spec = oneApi("/svc", endpointList({backend.server.url()}), "", kAbortOnClose);
    spec.accessLog = R"({"path": "access.log", "flush_ms": 50})";
    SluicedProcess gw(spec);

    {
        RawClient leaving(gw.port());
        REQUIRE(leaving.send(getRequest("/svc/v1/closed")));
        REQUIRE(waitUntil(backend.requests, 1));
    }  // close(): FIN
    CHECK(waitUntil(backend.closedByGateway, 1));

    RawClient halfClosing(gw.port());
    REQUIRE(halfClosing.send(getRequest("/svc/v1/half-closed")));
    REQUIRE(waitUntil(backend.requests, 2));
    halfClosing.shutdownWrite();
    CHECK(waitUntil(backend.closedByGateway, 2));
    CHECK(halfClosing.waitClosed(2000ms));

    const auto lines = waitForLines(gw.directory() + "/access.log", 2);
    REQUIRE(lines.size() == 2);
    CHECK(contains(lines[0], "\"GET /svc/v1/closed HTTP/1.1\" 499 0 "));
    CHECK(contains(lines[1], "\"GET /svc/v1/half-closed HTTP/1.1\" 499 0 "));
    CHECK(gw.running());
}

TEST_CASE("client abort: with abort_on_client_close a close while a handler is paused ends the exchange before the backend")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}),
                              R"("handlers": [{"component": "test_pause_timer", "config": {"delay_ms": 400, "phase": "request", "then": "continue"}}])",
                              kAbortOnClose);
    spec.testPlugins = true;
    spec.accessLog = R"({"path": "access.log", "flush_ms": 50})";
    SluicedProcess gw(spec);
    {
        RawClient leaving(gw.port());
        REQUIRE(leaving.send(getRequest("/svc/v1/paused")));
        std::this_thread::sleep_for(100ms);
    }
    const auto lines = waitForLines(gw.directory() + "/access.log", 1);
    REQUIRE(lines.size() == 1);
    CHECK(contains(lines[0], "\"GET /svc/v1/paused HTTP/1.1\" 499 0 "));
    // The handler's timer fires after the exchange ended: nothing resumes, nothing reaches the
    // backend, and the gateway goes on serving.
    std::this_thread::sleep_for(500ms);
    CHECK(backend.requestCount() == 0);
    RawClient next(gw.port());
    auto r = next.exchange(getRequest("/svc/v1/after"));
    REQUIRE_MESSAGE(r, next.error());
    CHECK(r->status == 200);
    CHECK(backend.requestCount() == 1);
}

TEST_CASE("client abort: with abort_on_client_close requests pipelined before a half-close are all answered")
{
    ScriptedBackend backend(delayedReply(150ms, "slow"));
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", kAbortOnClose));
    RawClient client(gw.port());
    REQUIRE(client.send(getRequest("/svc/v1/one") + getRequest("/svc/v1/two") + getRequest("/svc/v1/three")));
    REQUIRE(backend.waitForRequests(1, 2s));
    client.shutdownWrite();
    for (const char* which : {"one", "two", "three"}) {
        CAPTURE(which);
        auto r = client.read();
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->body == "slow");
    }
    CHECK(client.waitClosed(2000ms));
    CHECK(backend.requestCount() == 3);
}

TEST_CASE("client abort: with abort_on_client_close a TLS client's close_notify while the backend works ends the call")
{
    TestCertificates certs;
    SilentBackend backend;
    GatewaySpec spec;
    spec.http = kAbortOnClose;
    spec.listenerTls = certs.listener();
    spec.apis.emplace_back("svc", apiJson("/svc", endpointList({backend.server.url()})));
    SluicedProcess gw(spec);
    bool sent = false;
    Outcome o = tlsTry(gw.port(), caOnly(certs), "", [&](SSL* ssl, Outcome&) {
        const std::string request = getRequest("/svc/v1/tls");
        sent = SSL_write(ssl, request.data(), static_cast<int>(request.size())) > 0 && waitUntil(backend.requests, 1);
        SSL_shutdown(ssl);  // close_notify; the socket stays open
    });
    REQUIRE_MESSAGE(o.handshake, o.error);
    REQUIRE(sent);
    CHECK(waitUntil(backend.closedByGateway, 1));
    CHECK(o.response.empty());
}
