// Connections on both sides: client keep-alive, upstream pool reuse and hygiene (never reuse a
// connection that is closed, abandoned or out of step), pipelining, and many clients at once.
#include <memory>
#include <thread>
#include <vector>

#include "TransportTest.h"

using namespace sluice::transport_test;

TEST_CASE("keep-alive: many requests on one client connection reuse one upstream connection")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    {
        RawClient client(gw.port());
        for (int i = 0; i < 25; ++i) {
            auto r = client.exchange(getRequest("/svc/v1/n/" + std::to_string(i)));
            REQUIRE_MESSAGE(r, client.error());
            CHECK(r->status == 200);
            CHECK(r->body == "backend GET /n/" + std::to_string(i));
            CHECK_FALSE(r->hasToken("Connection", "close"));
        }
    }
    // A second client connection still finds the pooled upstream connection.
    RawClient second(gw.port());
    for (int i = 0; i < 5; ++i) {
        auto r = second.exchange(bodyRequest("PUT", "/svc/v1/p", "payload-" + std::to_string(i)));
        REQUIRE_MESSAGE(r, second.error());
        CHECK(r->status == 200);
    }
    REQUIRE(backend.waitForRequests(30, 2s));
    CHECK(backend.connectionCount() == 1);
    auto all = backend.requests();
    CHECK(all.back().indexOnConnection == 30);
    CHECK(all.back().body == "payload-4");
}

// timeouts.idle_ms: the gateway closes a pooled backend connection that waited that long, before
// a backend with a shorter keep-alive would (and a request could meet it closing).
TEST_CASE("keep-alive: a pooled backend connection is closed after the API's timeouts.idle_ms")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec;
    spec.apis.emplace_back("short",
                           apiJson("/short", endpointList({backend.url()}), R"("timeouts": {"idle_ms": 200})"));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    for (int i = 0; i < 2; ++i) {
        auto r = client.exchange(getRequest("/short/v1/x"));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
    }
    CHECK(backend.connectionCount() == 1);  // reused while it waited less than 200 ms
    std::this_thread::sleep_for(600ms);     // the idle time passes: the gateway closes it
    auto r = client.exchange(getRequest("/short/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(backend.connectionCount() == 2);
    REQUIRE(backend.waitForRequests(3, 2s));
    CHECK(backend.request(2).indexOnConnection == 1);
}

TEST_CASE("keep-alive: a backend that closes is not reused, and its Connection: close stays upstream")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, r.target, {{"Connection", "close"}});
        reply.close = true;
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    for (int i = 0; i < 4; ++i) {
        auto r = client.exchange(getRequest("/svc/v1/c" + std::to_string(i)));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->body == "/c" + std::to_string(i));
        CHECK_FALSE(r->hasToken("Connection", "close"));  // the client connection stays open
    }
    CHECK(backend.connectionCount() == 4);
}

TEST_CASE("keep-alive: an upstream connection the backend closed while idle is not reused")
{
    BackendOptions options;
    options.idleTimeout = 30ms;  // the backend's own keep-alive timeout, far below the gateway's
    ScriptedBackend backend(methodAndLength(), options);
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    for (int i = 0; i < 3; ++i) {
        auto get = client.exchange(getRequest("/svc/v1/g"));
        REQUIRE_MESSAGE(get, client.error());
        CHECK(get->body == "GET 0");
        // The connection sits idle past the backend's keep-alive timeout: the backend closes it,
        // and the gateway must notice before it sends the next request there.
        std::this_thread::sleep_for(120ms);
        auto post = client.exchange(bodyRequest("POST", "/svc/v1/p", "twelve bytes"));
        REQUIRE_MESSAGE(post, client.error());
        CHECK(post->status == 200);  // a POST body cannot be replayed: it must not meet a dead connection
        CHECK(post->body == "POST 12");
        std::this_thread::sleep_for(120ms);
    }
    CHECK(backend.connectionCount() == 6);
}

TEST_CASE("keep-alive: a client that leaves mid-response takes the upstream connection with it")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/long") {
            reply.bytes = "HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\nfirst-part|";
            reply.later = {{150ms, "second-part|"}, {50ms, "third-p"}};
        } else {
            reply.bytes = httpResponse(200, "short answer");
        }
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    {
        RawClient leaving(gw.port());
        REQUIRE(leaving.send(getRequest("/svc/v1/long")));
        REQUIRE(leaving.waitFor("first-part|", 2s));
    }  // gone before the rest of the body
    RawClient next(gw.port());
    auto r = next.exchange(getRequest("/svc/v1/short"));
    REQUIRE_MESSAGE(r, next.error());
    CHECK(r->body == "short answer");  // never the rest of the abandoned answer
    CHECK(backend.connectionCount() == 2);
}

TEST_CASE("keep-alive: bytes after a complete response keep the upstream connection out of the pool")
{
    std::atomic<int> n{0};
    ScriptedBackend backend([&](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes =
            httpResponse(200, "answer-" + std::to_string(++n)) + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nbogus";
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    for (int i = 1; i <= 3; ++i) {
        auto r = client.exchange(getRequest("/svc/v1/x"));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->body == "answer-" + std::to_string(i));
    }
    CHECK(backend.connectionCount() == 3);
}

TEST_CASE("keep-alive: an HTTP/1.0 client gets keep-alive only when it asks for it")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient asks(gw.port());
    for (int i = 0; i < 2; ++i) {
        auto r = asks.exchange("GET /svc/v1/k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        REQUIRE_MESSAGE(r, asks.error());
        CHECK(r->status == 200);
        CHECK(r->versionMinor == 1);  // the gateway's version, to a 1.0 client too (RFC 9110 §6.2)
        CHECK(r->hasToken("Connection", "keep-alive"));
        CHECK(r->header("Content-Length") == std::to_string(r->body.size()));
    }
    RawClient plain(gw.port());
    auto r = plain.exchange("GET /svc/v1/k HTTP/1.0\r\n\r\n");
    REQUIRE_MESSAGE(r, plain.error());
    CHECK(r->status == 200);
    CHECK(r->hasToken("Connection", "close"));
    CHECK(plain.waitClosed(2s));
}

TEST_CASE("concurrency: many clients on two workers each get their own answers")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, r.target + "|" + r.body);
        return reply;
    });
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.workers = 2;
    SluicedProcess gw(spec);
    constexpr int kClients = 24;
    constexpr int kRequests = 25;
    std::atomic<int> ok{0};
    std::atomic<int> wrong{0};
    {
        ClientThreads clients;
        for (int c = 0; c < kClients; ++c) {
            clients.run([&, c] {
                RawClient client(gw.port());
                for (int i = 0; i < kRequests; ++i) {
                    std::string id = std::to_string(c) + "-" + std::to_string(i);
                    auto r = i % 2 == 0 ? client.exchange(getRequest("/svc/v1/c/" + id))
                                        : client.exchange(bodyRequest("POST", "/svc/v1/c/" + id, "body-" + id));
                    std::string expected = "/c/" + id + "|" + (i % 2 == 0 ? "" : "body-" + id);
                    if (r && r->status == 200 && r->body == expected) {
                        ++ok;
                    } else {
                        ++wrong;
                    }
                }
            });
        }
        clients.join();
        CHECK(clients.exceptions() == 0);
    }
    CHECK(wrong.load() == 0);
    CHECK(ok.load() == kClients * kRequests);
    CHECK(backend.connectionCount() <= static_cast<std::size_t>(kClients));
}

TEST_CASE("concurrency: idle keep-alive connections cost memory, not threads")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.workers = 2;
    SluicedProcess gw(spec);
    long threadsBefore = gw.statusValue("Threads");
    long rssBefore = gw.statusValue("VmRSS");
    std::vector<std::unique_ptr<RawClient>> idle;
    for (int i = 0; i < 300; ++i) {
        idle.push_back(std::make_unique<RawClient>(gw.port()));
        if (i % 3 == 0) {  // a third of them have been used once and are now idle keep-alive
            auto r = idle.back()->exchange(getRequest("/svc/v1/i"));
            REQUIRE_MESSAGE(r, idle.back()->error());
        }
    }
    CHECK(gw.statusValue("Threads") == threadsBefore);
    long rssAfter = gw.statusValue("VmRSS");
    INFO("VmRSS " << rssBefore << " kB -> " << rssAfter << " kB for 300 connections");
    if (kMemoryFiguresHold) {
        CHECK(rssAfter - rssBefore < 12 * 1024);
    }
    for (std::size_t i = 0; i < idle.size(); i += 50) {
        auto r = idle[i]->exchange(getRequest("/svc/v1/again"));
        REQUIRE_MESSAGE(r, idle[i]->error());
        CHECK(r->status == 200);
    }
}

TEST_CASE("pipelining: three requests in one write get three responses in order")
{
    std::atomic<int> served{0};
    ScriptedBackend backend([&](const ReceivedRequest& r) {
        BackendReply reply;
        // The first answer is the slowest: order must come from the gateway, not from luck.
        reply.delay = served++ == 0 ? 150ms : 0ms;
        reply.bytes = httpResponse(200, r.method + " " + r.target + " " + r.body);
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    REQUIRE(
        client.send(getRequest("/svc/v1/a") + bodyRequest("POST", "/svc/v1/b", "body-b") + getRequest("/svc/v1/c")));
    for (const char* expected : {"GET /a ", "POST /b body-b", "GET /c "}) {
        auto r = client.read();
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->body == expected);
    }
    // The connection is still usable afterwards.
    auto more = client.exchange(getRequest("/svc/v1/d"));
    REQUIRE_MESSAGE(more, client.error());
    CHECK(more->body == "GET /d ");
}

TEST_CASE("pipelining: requests through a handler chain stay in order and keep-alive holds")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.bundledPlugins = true;
    spec.handlers = R"([{"component": "correlation_id", "config": {"header": "X-Correlation-ID"}}])";
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    std::string burst;
    for (int i = 0; i < 5; ++i) {
        burst +=
            getRequest("/svc/v1/p" + std::to_string(i), {"X-Correlation-ID: corr-" + std::to_string(i) + "-abcdef"});
    }
    REQUIRE(client.send(burst));
    for (int i = 0; i < 5; ++i) {
        auto r = client.read();
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->body == "backend GET /p" + std::to_string(i));
        CHECK(r->header("X-Correlation-ID") == "corr-" + std::to_string(i) + "-abcdef");
    }
    REQUIRE(backend.waitForRequests(5, 2s));
    CHECK(backend.request(4).header("X-Correlation-ID") == "corr-4-abcdef");
    CHECK(backend.connectionCount() == 1);
}
