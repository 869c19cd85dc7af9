// A client that goes away while its answer is still awaited (from the backend or from a paused
// handler): a reset always ends the exchange (the backend call is closed, the access log says
// 499); an orderly close (FIN, TLS close_notify) does so only with http.abort_on_client_close,
// since a client may half-close after its request and still read the answer (ProxyingTest).
// Requests pipelined before a half-close are still answered.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <functional>
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

const std::string kAbortOnClose = R"({"abort_on_client_close": true})";

// The access log's two lines: `answered` got its 200, `abandoned` was left (499, nothing sent).
// A backend that answers GET /big with `bytes` bytes, and any other request with `other(fd)`,
// which returns whether to go on serving the connection.
RawBackend::Handler bigAnswerThen(std::size_t bytes, std::function<bool(int fd)> other)
{
    return [bytes, other](int fd, int) {
        std::string in;
        while (readHead(fd, in, 5s)) {
            const bool big = in.rfind("GET /big", 0) == 0;
            in.erase(0, in.find("\r\n\r\n") + 4);
            if (!big) {
                if (!other(fd)) {
                    return;
                }
                continue;
            }
            sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(bytes) + "\r\n\r\n");
            sendAll(fd, std::string(bytes, 'b'));
        }
    };
}

// The next `count` answers on `client` are delayedReply's "slow".
void expectSlowAnswers(RawClient& client, int count)
{
    for (int i = 0; i < count; ++i) {
        CAPTURE(i);
        auto r = client.read();
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->body == "slow");
    }
}

void expectAnsweredThenAbandoned(const SluicedProcess& gw, const std::string& answered, const std::string& abandoned)
{
    const auto lines = waitForLines(gw.directory() + "/access.log", 2);
    REQUIRE(lines.size() == 2);
    CHECK(contains(lines[0], "\"GET " + answered + " HTTP/1.1\" 200 "));
    CHECK(contains(lines[1], "\"GET " + abandoned + " HTTP/1.1\" 499 0 "));
}

// A TLS client sends a request to a backend that never answers, then `leave`s: the gateway must
// close the backend connection and send the client nothing.
void expectTlsLeaveEndsCall(const std::string& http, const std::function<void(SSL*)>& leave)
{
    TestCertificates certs;
    SilentBackend backend;
    GatewaySpec spec;
    spec.http = http;
    spec.listenerTls = certs.listener();
    spec.apis.emplace_back("svc", apiJson("/svc", endpointList({backend.server.url()})));
    SluicedProcess gw(spec);
    bool sent = false;
    Outcome o = tlsTry(gw.port(), caOnly(certs), "", [&](SSL* ssl, Outcome&) {
        const std::string request = getRequest("/svc/v1/tls");
        sent = SSL_write(ssl, request.data(), static_cast<int>(request.size())) > 0 && waitUntil(backend.requests, 1);
        leave(ssl);
    });
    REQUIRE_MESSAGE(o.handshake, o.error);
    REQUIRE(sent);
    CHECK(waitUntil(backend.closedByGateway, 1));
    CHECK(o.response.empty());
}

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
    closeWithReset(fd);
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

TEST_CASE(
    "client abort: with abort_on_client_close a close while a handler is paused ends the exchange before the backend")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi(
        "/svc", endpointList({backend.url()}),
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
    expectSlowAnswers(client, 3);
    CHECK(client.waitClosed(2000ms));
    CHECK(backend.requestCount() == 3);
}

TEST_CASE("client abort: with abort_on_client_close requests and a half-close that arrive together are all answered")
{
    // The two requests and the FIN reach the gateway in one event (the worker is stopped while
    // they are sent): the client pipelined, so it reads on, and the close abandons neither.
    ScriptedBackend backend(delayedReply(100ms, "slow"));
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}), "", kAbortOnClose);
    spec.accessLog = R"({"path": "access.log", "flush_ms": 50})";
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto first = client.exchange(getRequest("/svc/v1/first"));  // the connection is accepted and served
    REQUIRE_MESSAGE(first, client.error());
    REQUIRE(gw.freeze());
    const bool sent = client.send(getRequest("/svc/v1/one") + getRequest("/svc/v1/two"));
    client.shutdownWrite();
    std::this_thread::sleep_for(50ms);
    gw.sendSignal(SIGCONT);
    REQUIRE(sent);
    expectSlowAnswers(client, 2);
    CHECK(client.waitClosed(2000ms));
    CHECK(backend.requestCount() == 3);
    const auto lines = waitForLines(gw.directory() + "/access.log", 3);
    REQUIRE(lines.size() == 3);
    CHECK(contains(lines[2], "\"GET /svc/v1/two HTTP/1.1\" 200 "));
}

TEST_CASE("client abort: with abort_on_client_close a close that comes with the next request is noticed")
{
    // Keep-alive: /fast is answered, then /slow and the FIN go out while the worker is stopped,
    // so that one edge-triggered event carries both; epoll does not report the end again once
    // the backend call has started. The 499 line counts none of /fast's bytes.
    std::atomic<int> slowSeen{0};
    std::atomic<int> slowClosed{0};
    RawBackend backend([&](int fd, int) {
        std::string in;
        while (readHead(fd, in, 5s)) {
            const bool fast = in.rfind("GET /fast", 0) == 0;
            in.erase(0, in.find("\r\n\r\n") + 4);
            if (fast) {
                sendAll(fd, httpResponse(200, "fast"));
                continue;
            }
            ++slowSeen;
            std::string more;
            if (readSome(fd, more, Clock::now() + 3s) == ReadStatus::Eof) {
                ++slowClosed;
            }
            return;
        }
    });
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}), "", kAbortOnClose);
    spec.accessLog = R"({"path": "access.log", "flush_ms": 50})";
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto fast = client.exchange(getRequest("/svc/v1/fast"));
    REQUIRE_MESSAGE(fast, client.error());
    CHECK(fast->body == "fast");

    REQUIRE(gw.freeze());
    const bool sent = client.send(getRequest("/svc/v1/slow"));
    client.shutdownWrite();
    std::this_thread::sleep_for(50ms);
    gw.sendSignal(SIGCONT);
    REQUIRE(sent);
    REQUIRE(waitUntil(slowSeen, 1));
    CHECK(waitUntil(slowClosed, 1));
    CHECK(client.waitClosed(2000ms));
    expectAnsweredThenAbandoned(gw, "/svc/v1/fast", "/svc/v1/slow");
}

TEST_CASE("client abort: with abort_on_client_close an earlier answer still on its way is sent whole")
{
    // GET /big is answered (300 KB: the exchange ends with much of it still queued in the
    // gateway for a client that does not read yet); then GET /slow and a half-close. /slow is
    // awaited while /big's bytes still leave the gateway: they must all arrive, and the 499 of
    // /slow counts none of /big's bytes.
    constexpr std::size_t kBig = 300 * 1024;
    RawBackend backend(bigAnswerThen(kBig, [](int fd) {
        std::string more;
        readSome(fd, more, Clock::now() + 3s);  // answers nothing; waits for the close
        return false;
    }));
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}), "", kAbortOnClose);
    spec.accessLog = R"({"path": "access.log", "flush_ms": 50})";
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    REQUIRE(client.send(getRequest("/svc/v1/big")));
    REQUIRE(waitForLines(gw.directory() + "/access.log", 1).size() == 1);  // /big's exchange is over
    REQUIRE(client.send(getRequest("/svc/v1/slow")));
    client.shutdownWrite();
    std::this_thread::sleep_for(300ms);
    auto big = client.read(10000ms);
    REQUIRE_MESSAGE(big, client.error());
    CHECK(big->status == 200);
    CHECK(big->body.size() == kBig);
    CHECK(client.waitClosed(5000ms));
    expectAnsweredThenAbandoned(gw, "/svc/v1/big", "/svc/v1/slow");
}

TEST_CASE(
    "client abort: with abort_on_client_close a request pipelined behind an answer still going out is answered after a "
    "half-close")
{
    // GET /big and GET /later in one write, then a half-close, and a client slow to read: the
    // close is seen again when /big's last bytes leave, while /later is awaited. /later was
    // pipelined, so the client still reads: it is answered (it used to get 499).
    constexpr std::size_t kBig = 8u << 20;
    RawBackend backend(bigAnswerThen(kBig, [](int fd) {
        std::this_thread::sleep_for(300ms);
        return sendAll(fd, httpResponse(200, "later"));
    }));
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}), "", kAbortOnClose);
    spec.accessLog = R"({"path": "access.log", "flush_ms": 50})";
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    REQUIRE(client.send(getRequest("/svc/v1/big") + getRequest("/svc/v1/later")));
    client.shutdownWrite();
    std::this_thread::sleep_for(500ms);  // /big's answer fills the socket buffers
    auto big = client.read(10000ms);
    REQUIRE_MESSAGE(big, client.error());
    CHECK(big->body.size() == kBig);
    auto later = client.read(5000ms);
    REQUIRE_MESSAGE(later, client.error());
    CHECK(later->status == 200);
    CHECK(later->body == "later");
    CHECK(client.waitClosed(5000ms));
    const auto lines = waitForLines(gw.directory() + "/access.log", 2);
    REQUIRE(lines.size() == 2);
    CHECK(contains(lines[1], "\"GET /svc/v1/later HTTP/1.1\" 200 "));
}

TEST_CASE("client abort: with abort_on_client_close a TLS client's close_notify while the backend works ends the call")
{
    expectTlsLeaveEndsCall(kAbortOnClose, [](SSL* ssl) {
        SSL_shutdown(ssl);  // close_notify; the socket stays open
    });
}

TEST_CASE("client abort: a TLS client that closes without close_notify ends the backend call by default")
{
    // A FIN without close_notify is fatal for the TLS connection (nothing can be written on it
    // any more): it counts as a reset, without abort_on_client_close.
    expectTlsLeaveEndsCall("", [](SSL* ssl) {
        ::shutdown(SSL_get_fd(ssl), SHUT_WR);  // TCP FIN, no close_notify
    });
}
