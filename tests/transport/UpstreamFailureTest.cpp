// Upstream failures: unreachable and slow backends, a backend that dies mid-answer, failover
// between endpoint groups, retries (idempotent requests only), and endpoint suspension with
// exponential back-off and recovery.
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <sstream>
#include <thread>

#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

BackendReply silentClose(const ReceivedRequest&)
{
    BackendReply reply;
    reply.silentClose = true;
    return reply;
}

std::size_t countMethod(const ScriptedBackend& backend, std::string_view method)
{
    std::size_t n = 0;
    for (const auto& r : backend.requests()) {
        n += r.method == method ? 1 : 0;
    }
    return n;
}

// /svc in front of `url` with read_ms 300, every request body streaming (so the backend has the
// head while a client pauses in the body).
GatewaySpec streamingApi(const std::string& url)
{
    GatewaySpec spec = oneApi("/svc", endpointList({url}), R"("timeouts": {"read_ms": 300})");
    spec.http = kStreamEveryBody;
    return spec;
}

// A POST of a 10-byte body sent in two halves 800 ms apart (longer than read_ms), and its answer.
std::optional<HttpResponse> postSlowly(RawClient& client, const std::string& path)
{
    if (!client.send("POST " + path + " HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234")) {
        return std::nullopt;
    }
    std::this_thread::sleep_for(800ms);
    if (!client.send("56789")) {
        return std::nullopt;
    }
    return client.read(5s);
}

}  // namespace

TEST_CASE("upstream: an unreachable backend gives 502, then 503 while its only endpoint is suspended, across reloads")
{
    ClosedPort down;
    SluicedProcess gw(oneApi("/svc", endpointList({down.url()})));
    RawClient client(gw.port());
    auto first = client.exchange(getRequest("/svc/v1/x"));
    REQUIRE_MESSAGE(first, client.error());
    CHECK(first->status == 502);
    CHECK(first->errorCode() == 101503);
    CHECK(first->header("Content-Type") == "application/json");
    CHECK_FALSE(first->hasToken("Connection", "close"));  // nothing was left unread: keep-alive holds

    auto second = client.exchange(getRequest("/svc/v1/x"));
    REQUIRE_MESSAGE(second, client.error());
    CHECK(second->status == 503);
    CHECK(second->errorCode() == 101507);
    // Retry-After: the seconds until the suspension (30 s at first) ends, rounded up.
    const int retryAfter = std::stoi(second->header("Retry-After").value_or("0"));
    CHECK(retryAfter >= 28);
    CHECK(retryAfter <= 30);
    // Its only endpoint: no other one to try, and the log says so at once.
    CHECK(gw.waitForLog("GET " + down.url() + ": connect failed: Connection refused (giving up)", 0, 5s));
    CHECK(gw.log().find("(trying another endpoint)") == std::string::npos);
    CHECK(gw.waitForLog(down.url() + " of ", 0, 5s));
    CHECK(gw.waitForLog(": suspended for 30000 ms", 0, 5s));

    // A reload does not forgive it: still suspended, not tried again at once.
    REQUIRE(gw.reload());
    RawClient after(gw.port());
    auto again = after.exchange(getRequest("/svc/v1/x"));
    REQUIRE_MESSAGE(again, after.error());
    CHECK(again->status == 503);
    CHECK(again->errorCode() == 101507);
}

TEST_CASE("upstream: a backend slower than read_ms gives 504")
{
    ScriptedBackend backend(delayedReply(1500ms, "too late"));
    GatewaySpec spec;
    spec.apis.emplace_back(
        "noretry", apiJson("/noretry", endpointList({backend.url()}), R"("timeouts": {"read_ms": 300}, "retries": 0)"));
    spec.apis.emplace_back("retry",
                           apiJson("/retry", endpointList({backend.url()}), R"("timeouts": {"read_ms": 300})"));
    SluicedProcess gw(spec);

    RawClient client(gw.port());
    auto start = Clock::now();
    auto r = client.exchange(getRequest("/noretry/v1/x"), 5s);
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 504);
    CHECK(r->errorCode() == 101504);
    CHECK(millisSince(start) >= 280);
    CHECK(millisSince(start) < 1400);
    CHECK(gw.waitForLog(": timed out: nothing received for 300 ms (giving up)", 0, 5s));

    // With retries allowed but no other endpoint to try, the answer still names the timeout.
    RawClient other(gw.port());
    start = Clock::now();
    auto retried = other.exchange(getRequest("/retry/v1/x"), 5s);
    REQUIRE_MESSAGE(retried, other.error());
    CHECK(retried->status == 504);
    CHECK(retried->errorCode() == 101504);
    CHECK(millisSince(start) < 1400);
}

TEST_CASE("upstream: a backend that closes in the middle of the body ends the client connection")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/length") {
            reply.bytes = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(100, 'p');
        } else {
            reply.bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n8\r\nunfinish";
        }
        reply.truncateAt = reply.bytes.size();
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), kNoSuspension));

    RawClient length(gw.port());
    auto r = length.exchange(getRequest("/svc/v1/length"), 3s);
    CHECK_FALSE(r);
    CHECK(length.received().rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(length.error().find("closed") != std::string::npos);

    RawClient chunked(gw.port());
    auto c = chunked.exchange(getRequest("/svc/v1/chunked"), 3s);
    CHECK_FALSE(c);
    CHECK(chunked.received().rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(chunked.received().find("first") != std::string::npos);
    CHECK(chunked.received().find("\r\n0\r\n\r\n") == std::string::npos);  // never a clean end
    CHECK(chunked.error().find("closed") != std::string::npos);
}

TEST_CASE("upstream: the secondary group serves while the primary is down, the primary when it is up")
{
    ScriptedBackend primary(echo("primary"));
    ScriptedBackend secondary(echo("secondary"));
    std::string endpoints = R"([{"url": ")" + primary.url() + R"(", "group": "primary"},
                                {"url": ")" +
                            secondary.url() + R"(", "group": "secondary"}])";
    SluicedProcess gw(oneApi("/svc", endpoints));
    RawClient client(gw.port());
    for (int i = 0; i < 5; ++i) {
        auto r = client.exchange(getRequest("/svc/v1/a"));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->header("X-Backend") == "primary");
    }
    CHECK(secondary.requestCount() == 0);

    primary.stop();
    for (int i = 0; i < 5; ++i) {
        auto r = client.exchange(getRequest("/svc/v1/b"));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->header("X-Backend") == "secondary");
    }
    CHECK(secondary.requestCount() == 5);
}

TEST_CASE("upstream: an idempotent GET is retried on another endpoint when the first one fails")
{
    ScriptedBackend broken(silentClose);
    ScriptedBackend healthy(echo("healthy"));
    SluicedProcess gw(oneApi("/svc", endpointList({broken.url(), healthy.url()})));
    RawClient client(gw.port());
    for (int i = 0; i < 6; ++i) {
        auto r = client.exchange(getRequest("/svc/v1/r" + std::to_string(i)));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->header("X-Backend") == "healthy");
    }
    CHECK(broken.requestCount() >= 1);  // it was tried, and the retry hid its failure
    CHECK(healthy.requestCount() == 6);
}

TEST_CASE("upstream: a POST is not retried after the backend read it and failed")
{
    ScriptedBackend a(silentClose);
    ScriptedBackend b(silentClose);
    // Without suspension: each request meets both closing backends (a close suspends too).
    SluicedProcess gw(oneApi("/svc", endpointList({a.url(), b.url()}), kNoSuspension));
    RawClient client(gw.port());
    auto post = client.exchange(bodyRequest("POST", "/svc/v1/order", "{\"qty\":1}"));
    REQUIRE_MESSAGE(post, client.error());
    CHECK(post->status == 502);
    CHECK(post->errorCode() == 101502);  // the backend had the request: not "unreachable"
    CHECK(contains(post->body, "closed the connection without answering"));
    CHECK(countMethod(a, "POST") + countMethod(b, "POST") == 1);

    RawClient empty(gw.port());
    auto emptyPost = empty.exchange(bodyRequest("POST", "/svc/v1/order", ""));
    REQUIRE_MESSAGE(emptyPost, empty.error());
    CHECK(emptyPost->status == 502);
    CHECK(countMethod(a, "POST") + countMethod(b, "POST") == 2);

    // The same failure on a GET is retried, on the other endpoint.
    RawClient get(gw.port());
    auto r = get.exchange(getRequest("/svc/v1/order"));
    REQUIRE_MESSAGE(r, get.error());
    CHECK(r->status == 502);
    CHECK(countMethod(a, "GET") + countMethod(b, "GET") == 2);
}

TEST_CASE(
    "upstream: a retry does not move the rotation on, so a failing endpoint gets only its share of first attempts")
{
    ScriptedBackend broken(silentClose);
    ScriptedBackend healthy(echo("healthy"));
    SluicedProcess gw(oneApi("/svc", endpointList({broken.url(), healthy.url()}), kNoSuspension));
    RawClient client(gw.port());
    for (int i = 0; i < 6; ++i) {
        auto r = client.exchange(getRequest("/svc/v1/r" + std::to_string(i)));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->header("X-Backend") == "healthy");
    }
    CHECK(broken.requestCount() == 3);  // every other request, not every one
    CHECK(healthy.requestCount() == 6);
}

TEST_CASE("upstream: retries is the number of extra attempts, each on another endpoint")
{
    ScriptedBackend a(silentClose);
    ScriptedBackend b(silentClose);
    ScriptedBackend c(silentClose);
    SluicedProcess gw(oneApi("/svc", endpointList({a.url(), b.url(), c.url()}), R"("retries": 1)"));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 502);
    CHECK(a.requestCount() + b.requestCount() + c.requestCount() == 2);
    CHECK(std::max({a.requestCount(), b.requestCount(), c.requestCount()}) == 1);
}

TEST_CASE("upstream: with suspension.on_timeout false a slow resource does not take the endpoint out for everyone")
{
    // /slow answers after read_ms: by default that suspends the endpoint, so any client who can
    // pick a slow resource takes the API down for the others (audit M).
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/slow") {
            reply.delay = 1000ms;
        }
        reply.bytes = httpResponse(200, "ok");
        return reply;
    });
    GatewaySpec spec;
    spec.apis.emplace_back("kept", apiJson("/kept", endpointList({backend.url()}),
                                           R"("timeouts": {"read_ms": 300}, "suspension": {"on_timeout": false})"));
    spec.apis.emplace_back("default",
                           apiJson("/default", endpointList({backend.url()}), R"("timeouts": {"read_ms": 300})"));
    SluicedProcess gw(spec);
    for (const char* api : {"/kept", "/default"}) {
        CAPTURE(api);
        RawClient client(gw.port());
        auto slow = client.exchange(getRequest(std::string(api) + "/v1/slow"), 5s);
        REQUIRE_MESSAGE(slow, client.error());
        CHECK(slow->status == 504);
        RawClient other(gw.port());
        auto next = other.exchange(getRequest(std::string(api) + "/v1/fast"), 5s);
        REQUIRE_MESSAGE(next, other.error());
        CHECK(next->status == (std::string(api) == "/kept" ? 200 : 503));
    }
}

TEST_CASE("upstream: timeouts.retry_window_ms stops the retries of a request whose endpoints time out")
{
    // Three endpoints slower than read_ms (300): without a window a GET waits for all three
    // (about 900 ms); with a 500 ms window the second failure, at about 600 ms, is the last.
    ScriptedBackend a(delayedReply(2000ms, "late"));
    ScriptedBackend b(delayedReply(2000ms, "late"));
    ScriptedBackend c(delayedReply(2000ms, "late"));
    SluicedProcess gw(
        oneApi("/svc", endpointList({a.url(), b.url(), c.url()}),
               R"("timeouts": {"read_ms": 300, "retry_window_ms": 500}, "suspension": {"initial_ms": 0})"));
    RawClient client(gw.port());
    const auto start = Clock::now();
    auto r = client.exchange(getRequest("/svc/v1/x"), 5s);
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 504);
    CHECK(r->errorCode() == 101504);
    CHECK(millisSince(start) >= 580);
    CHECK(millisSince(start) < 880);
    CHECK(a.requestCount() + b.requestCount() + c.requestCount() == 2);
    CHECK(gw.waitForLog("(giving up: timeouts.retry_window_ms has passed)", 0, 2s));
}

// By default a failing request tries every endpoint once, the next failover group included (as
// nginx's backup servers and WSO2's failover endpoints are reached by the request that failed).
TEST_CASE("upstream: by default a request fails over through every endpoint, into the next group")
{
    ClosedPort refusedA;
    ClosedPort refusedB;
    ScriptedBackend closing(silentClose);
    ScriptedBackend backup(echo("backup"));
    const std::string endpoints = R"([{"url": ")" + refusedA.url() + R"(", "group": "p"},
                                      {"url": ")" +
                                  refusedB.url() + R"(", "group": "p"},
                                      {"url": ")" +
                                  closing.url() + R"(", "group": "p"},
                                      {"url": ")" +
                                  backup.url() + R"(", "group": "b"}])";
    // A POST fails over too while nothing was sent: here every primary refuses the connection.
    const std::string refusing = R"([{"url": ")" + refusedA.url() + R"(", "group": "p"},
                                     {"url": ")" +
                                 refusedB.url() + R"(", "group": "p"},
                                     {"url": ")" +
                                 backup.url() + R"(", "group": "b"}])";
    GatewaySpec spec;
    spec.apis.emplace_back("svc", apiJson("/svc", endpoints, kNoSuspension));
    spec.apis.emplace_back("post", apiJson("/post", refusing, kNoSuspension));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->header("X-Backend") == "backup");
    CHECK(closing.requestCount() == 1);
    RawClient poster(gw.port());
    auto post = poster.exchange(bodyRequest("POST", "/post/v1/x", "{}"));
    REQUIRE_MESSAGE(post, poster.error());
    CHECK(post->status == 200);
    CHECK(countMethod(backup, "POST") == 1);
}

// A request that meets a pooled connection the endpoint had closed goes again to that endpoint,
// on a new connection, not to another one (and never twice to the one that failed).
TEST_CASE("upstream: the free re-send after a dead pooled connection goes to the same endpoint")
{
    ScriptedBackend a([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.indexOnConnection > 1) {
            reply.silentClose = true;  // an idle connection it had closed, as the request came
        } else {
            reply.bytes = httpResponse(200, "a", {{"X-Backend", "a"}});
        }
        return reply;
    });
    ScriptedBackend b(echo("b"));
    SluicedProcess gw(oneApi("/svc", endpointList({a.url(), b.url()}), kNoSuspension));
    RawClient client(gw.port());
    std::vector<std::string> served;
    for (int i = 0; i < 3; ++i) {
        auto r = client.exchange(getRequest("/svc/v1/x"));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        served.push_back(r->header("X-Backend").value_or("?"));
    }
    // a (new connection), b, then a again: its pooled connection fails, a new one answers.
    CHECK(served == std::vector<std::string>{"a", "b", "a"});
    CHECK(a.requestCount() == 3);
    CHECK(a.connectionCount() == 2);
    CHECK(b.requestCount() == 1);
    CHECK(gw.waitForLog("(retrying on a new connection)", 0, 2s));
}

TEST_CASE("upstream: endpoints of one group share the load by weight")
{
    ScriptedBackend heavy(echo("heavy"));
    ScriptedBackend light(echo("light"));
    std::string endpoints =
        R"([{"url": ")" + heavy.url() + R"(", "weight": 3}, {"url": ")" + light.url() + R"(", "weight": 1}])";
    SluicedProcess gw(oneApi("/svc", endpoints));
    RawClient client(gw.port());
    for (int i = 0; i < 20; ++i) {
        auto r = client.exchange(getRequest("/svc/v1/x"));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
    }
    CHECK(heavy.requestCount() == 15);
    CHECK(light.requestCount() == 5);
}

TEST_CASE("upstream: an invalid response head is a 502 with code 101502, not a dropped connection")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/garbage") {
            reply.bytes = "NOT HTTP AT ALL\r\n\r\n";
        } else {  // half a status line, then the backend goes away
            reply.bytes = "HTTP/1.1 200 O";
            reply.truncateAt = reply.bytes.size();
        }
        return reply;
    });
    GatewaySpec spec;
    spec.apis.emplace_back("garbage", apiJson("/garbage", endpointList({backend.url()})));
    spec.apis.emplace_back("partial", apiJson("/partial", endpointList({backend.url()})));
    SluicedProcess gw(spec);

    RawClient client(gw.port());
    auto garbage = client.exchange(getRequest("/garbage/v1/garbage"));
    CHECK_MESSAGE(garbage, client.error());
    if (garbage) {
        CHECK(garbage->status == 502);
        CHECK(garbage->errorCode() == 101502);
    }

    RawClient other(gw.port());
    auto partial = other.exchange(getRequest("/partial/v1/partial"));
    CHECK_MESSAGE(partial, other.error());
    if (partial) {
        CHECK(partial->status == 502);
        CHECK(partial->header("Content-Type") == "application/json");
    }
    // The log names what was wrong with each answer.
    CHECK(gw.waitForLog("GET " + backend.url() + ": invalid response: ", 0, 5s));
    CHECK(gw.waitForLog(
        "GET " + backend.url() + ": connection closed: the backend closed the connection inside the response head", 0,
        5s));
}

TEST_CASE("upstream: a backend answer that breaks before any of it reached the client is a 502 on a kept connection")
{
    // The head and a broken first chunk arrive in one read, so the head is still queued when the
    // chunk fails: the client gets a JSON 502 without the backend's fields, and stays connected.
    // Through the JSON-to-XML response handler the whole body is awaited first, so a backend that
    // stops in the middle of it is a 502 too.
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/badchunk") {
            reply.bytes =
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Backend-Field: leaked\r\n\r\n"
                "zz\r\nhello\r\n0\r\n\r\n";
        } else if (r.target == "/short") {
            reply.bytes =
                "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nX-Backend-Field: leaked\r\n"
                "Content-Length: 1000\r\n\r\n<a>" +
                std::string(100, 'p');
            reply.truncateAt = reply.bytes.size();
        } else {
            reply.bytes = httpResponse(200, "ok " + r.target);
        }
        return reply;
    });
    GatewaySpec spec;
    spec.apis.emplace_back("svc", apiJson("/svc", endpointList({backend.url()}), kNoSuspension));
    spec.apis.emplace_back(
        "conv", apiJson("/conv", endpointList({backend.url()}),
                        std::string(kNoSuspension) +
                            R"(, "handlers": [{"component": "json_xml_response", "config": {"to": "json"}}])"));
    SluicedProcess gw(spec);

    RawClient client(gw.port());
    auto bad = client.exchange(getRequest("/svc/v1/badchunk"), 3s);
    REQUIRE_MESSAGE(bad, client.error());
    CHECK(bad->status == 502);
    CHECK(bad->errorCode() == 101502);
    CHECK(bad->header("Content-Type") == "application/json");
    CHECK_FALSE(bad->header("X-Backend-Field"));
    CHECK(client.received().find("HTTP/1.1 200") == std::string::npos);
    CHECK(client.received().find("hello") == std::string::npos);
    auto next = client.exchange(getRequest("/svc/v1/next"), 3s);  // the same connection
    REQUIRE_MESSAGE(next, client.error());
    CHECK(next->status == 200);
    CHECK(next->body == "ok /next");

    RawClient buffered(gw.port());
    auto cut = buffered.exchange(getRequest("/conv/v1/short"), 3s);
    REQUIRE_MESSAGE(cut, buffered.error());
    CHECK(cut->status == 502);
    CHECK(cut->errorCode() == 101502);
    CHECK(cut->body.find("ended early") != std::string::npos);
    CHECK_FALSE(cut->header("X-Backend-Field"));
    auto after = buffered.exchange(getRequest("/svc/v1/after"), 3s);
    REQUIRE_MESSAGE(after, buffered.error());
    CHECK(after->body == "ok /after");
}

TEST_CASE("upstream: an invalid response does not suspend the endpoint, so the next request is served")
{
    // A backend that is up but answers one request with something unusable (a head the parser
    // refuses, broken chunk framing) fails that request only: with default suspension
    // (30 s) and one endpoint, a suspension would turn every client's next request into a 503.
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/fields") {
            std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n";
            for (int i = 0; i < 101; ++i) {
                head += "Set-Cookie: c" + std::to_string(i) + "=1\r\n";
            }
            reply.bytes = head + "\r\nok";
        } else if (r.target == "/chunks") {
            reply.bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        } else {
            reply.bytes = httpResponse(200, "fine");
        }
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    for (const char* bad : {"/svc/v1/fields", "/svc/v1/chunks"}) {
        CAPTURE(bad);
        RawClient client(gw.port());
        auto refused = client.exchange(getRequest(bad));
        REQUIRE_MESSAGE(refused, client.error());
        CHECK(refused->status == 502);
        CHECK(refused->errorCode() == 101502);
        RawClient next(gw.port());
        auto served = next.exchange(getRequest("/svc/v1/ok"));
        REQUIRE_MESSAGE(served, next.error());
        CHECK(served->status == 200);
        CHECK(served->body == "fine");
    }
    CHECK(gw.waitForLog("invalid response: ", 0, 5s));
    CHECK(gw.log().find("suspended") == std::string::npos);
}

TEST_CASE("upstream: http.max_response_headers and max_response_header_bytes bound a backend's head")
{
    // /cookies: 101 Set-Cookie lines (103 fields); /big: one 40,000-byte field.
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        std::vector<std::pair<std::string, std::string>> fields;
        if (r.target == "/cookies") {
            for (int i = 0; i < 101; ++i) {
                fields.emplace_back("Set-Cookie", "c" + std::to_string(i) + "=1");
            }
        } else if (r.target == "/big") {
            fields.emplace_back("X-Big", std::string(40000, 'b'));
        }
        reply.bytes = httpResponse(200, "ok", fields);
        return reply;
    });
    auto get = [](const SluicedProcess& gw, const std::string& path) {
        RawClient client(gw.port());
        auto r = client.exchange(getRequest(path));
        REQUIRE_MESSAGE(r, client.error());
        return *r;
    };
    SluicedProcess defaults(oneApi("/svc", endpointList({backend.url()})));
    for (const char* path : {"/svc/v1/cookies", "/svc/v1/big"}) {
        auto refused = get(defaults, path);
        CHECK(refused.status == 502);
        CHECK(refused.errorCode() == 101502);
    }
    CHECK(defaults.waitForLog("invalid response: ", 0, 5s));

    GatewaySpec raised = oneApi("/svc", endpointList({backend.url()}));
    raised.http = R"({"max_response_headers": 200, "max_response_header_bytes": 65536})";
    SluicedProcess wide(raised);
    auto cookies = get(wide, "/svc/v1/cookies");
    CHECK(cookies.status == 200);
    CHECK(cookies.headerCount("Set-Cookie") == 101);
    auto big = get(wide, "/svc/v1/big");
    CHECK(big.status == 200);
    CHECK(big.header("X-Big").value_or("").size() == 40000);

    // Lowered, and apart from the request limits (which stay at their defaults here).
    GatewaySpec lowered = oneApi("/svc", endpointList({backend.url()}));
    lowered.http = R"({"max_response_headers": 2})";
    SluicedProcess narrow(lowered);
    CHECK(get(narrow, "/svc/v1/plain").status == 200);
    CHECK(get(narrow, "/svc/v1/cookies").status == 502);
}

TEST_CASE("upstream: a failing endpoint is suspended with growing back-off, then used again")
{
    // The flaky endpoint fails by timing out; the GET is retried on the steady one, so clients
    // see no error. When the flaky endpoint is tried shows in its own request log.
    std::atomic<bool> failing{true};
    ScriptedBackend flaky([&](const ReceivedRequest&) {
        BackendReply reply;
        reply.delay = failing ? 400ms : 0ms;
        reply.bytes = httpResponse(200, "flaky", {{"X-Backend", "flaky"}});
        return reply;
    });
    ScriptedBackend steady(echo("steady"));
    SluicedProcess gw(
        oneApi("/svc", endpointList({flaky.url(), steady.url()}),
               R"("timeouts": {"read_ms": 150}, "suspension": {"initial_ms": 200, "factor": 2, "max_ms": 10000})"));
    RawClient client(gw.port());
    // Sends requests every ~10 ms until `flaky` has received `hits` requests.
    auto driveUntil = [&](std::size_t hits, std::chrono::milliseconds limit) {
        auto deadline = Clock::now() + limit;
        while (flaky.requestCount() < hits && Clock::now() < deadline) {
            auto r = client.exchange(getRequest("/svc/v1/x"));
            REQUIRE_MESSAGE(r, client.error());
            CHECK(r->status == 200);
            std::this_thread::sleep_for(10ms);
        }
        REQUIRE(flaky.requestCount() >= hits);
    };
    // Milliseconds between the flaky endpoint's request `later` and the one before it. A failed
    // attempt costs read_ms (150) before the suspension starts.
    auto gap = [&](std::size_t later) {
        auto all = flaky.requests();
        return std::chrono::duration_cast<std::chrono::milliseconds>(all[later].at - all[later - 1].at).count();
    };

    driveUntil(3, 4s);
    CHECK(gap(1) >= 150 + 200 - 10);  // suspended for initial_ms after the first failure
    CHECK(gap(1) < 150 + 200 + 500);  // and used again soon after
    CHECK(gap(2) >= 150 + 400 - 10);  // twice as long after the second
    CHECK(gap(2) < 150 + 400 + 500);
    CHECK(steady.requestCount() > 10);  // the other endpoint carried the traffic meanwhile

    failing = false;  // recovery: the next attempt, after 4 x initial_ms, succeeds
    driveUntil(4, 4s);
    CHECK(gap(3) >= 150 + 800 - 10);
    std::size_t before = flaky.requestCount();
    for (int i = 0; i < 10; ++i) {
        auto r = client.exchange(getRequest("/svc/v1/y"));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
    }
    CHECK(flaky.requestCount() - before >= 4);  // back in the rotation

    failing = true;  // the success reset the back-off: the next suspension is initial_ms again
    driveUntil(flaky.requestCount() + 2, 4s);
    auto n = flaky.requestCount();
    CHECK(gap(n - 1) >= 150 + 200 - 10);
    CHECK(gap(n - 1) < 150 + 200 + 500);
}

TEST_CASE("upstream: a streaming body is not sent on a pooled connection whose close is still queued")
{
    // The backend closes a kept-alive connection 300 ms after its answer. Meanwhile a handler on
    // another client connection holds the only worker for a second, so the POST below and the
    // backend's close wait in the same epoll batch, the POST first: the pool must find the close
    // by itself. A body that streams cannot be sent again, so using that connection would cost
    // the POST a 502.
    BackendOptions options;
    options.idleTimeout = 300ms;
    ScriptedBackend backend(methodAndLength(), options);
    ScriptedBackend other(echo());  // the blocked request must not take the pooled connection
    GatewaySpec spec;
    spec.testPlugins = true;
    spec.apis.emplace_back("svc", apiJson("/svc", endpointList({backend.url()})));
    spec.apis.emplace_back("block", workerBlockingApi("/block", other.url(), 1000));
    SluicedProcess gw(spec);

    RawClient client(gw.port());
    auto first = client.exchange(getRequest("/svc/v1/first"));
    REQUIRE_MESSAGE(first, client.error());
    REQUIRE(first->status == 200);
    const auto answered = Clock::now();

    RawClient blocker(gw.port());
    REQUIRE(blocker.send(getRequest("/block/v1/x")));
    std::this_thread::sleep_for(100ms);  // the worker is inside the blocking handler now
    const std::string body(20000, 'b');
    REQUIRE(
        client.send("POST /svc/v1/second HTTP/1.1\r\nHost: a\r\nContent-Length: 20000\r\n\r\n" + body.substr(0, 1000)));
    // The backend closes its idle connection while the worker is still held.
    REQUIRE(backend.waitForRequests(1, 1s));
    std::this_thread::sleep_for(300ms + 100ms - (Clock::now() - answered));
    REQUIRE(client.send(body.substr(1000)));

    auto second = client.read(5s);
    REQUIRE_MESSAGE(second, client.error());
    CHECK(second->status == 200);
    CHECK(second->body == "POST 20000");
    auto blocked = blocker.read(5s);
    REQUIRE_MESSAGE(blocked, blocker.error());
    CHECK(blocked->status == 200);
    CHECK(backend.connectionCount() == 2);  // the POST went on a new connection
    CHECK(backend.incompleteCount() == 0);  // and nothing of it on the closed one
}

TEST_CASE("upstream: a POST on a pooled connection that breaks is not sent again, even before its answer began")
{
    // RFC 9112 §9.3.1.1: a proxy must not retry a request that is not idempotent. The first
    // connection carries a GET, then the POST; the backend takes the POST and closes, once after
    // two bytes of a status line, once silently. Either way it may have acted on the POST.
    for (const bool partial : {true, false}) {
        CAPTURE(partial);
        ScriptedBackend backend([partial](const ReceivedRequest& r) {
            BackendReply reply;
            reply.bytes = httpResponse(200, r.method + " on connection " + std::to_string(r.connection));
            if (r.method == "POST" && r.connection == 1) {
                reply.bytes = "HTTP/1.1 20";
                reply.truncateAt = partial ? reply.bytes.size() : 0;
            }
            return reply;
        });
        SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), kNoSuspension));
        RawClient client(gw.port());
        auto warm = client.exchange(getRequest("/svc/v1/warm"));
        REQUIRE_MESSAGE(warm, client.error());
        REQUIRE(warm->status == 200);
        auto post = client.exchange(bodyRequest("POST", "/svc/v1/order", ""));
        REQUIRE_MESSAGE(post, client.error());
        CHECK(post->status == 502);
        CHECK(countMethod(backend, "POST") == 1);
        // An idempotent request on a pooled connection closed before any answer is still retried.
        auto get = client.exchange(getRequest("/svc/v1/after"));
        REQUIRE_MESSAGE(get, client.error());
        CHECK(get->status == 200);
    }
}

TEST_CASE("upstream: a request that finds its pooled connection closed goes again once, on a new connection")
{
    // The backend keeps ten connections alive, then closes every connection a DELETE arrives
    // on without answering (as a backend does that crashes on the request). The DELETE is
    // retried once, on a new connection, not once for every pooled connection.
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.method == "DELETE") {
            reply.silentClose = true;
        } else {
            reply.delay = 200ms;
            reply.bytes = httpResponse(200, "ok");
        }
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), kNoSuspension + R"(, "retries": 0)"));
    {
        std::vector<std::unique_ptr<RawClient>> clients;
        for (int i = 0; i < 10; ++i) {
            clients.push_back(std::make_unique<RawClient>(gw.port()));
            REQUIRE(clients.back()->send(getRequest("/svc/v1/slow")));
        }
        for (auto& c : clients) {
            auto r = c->read(3s);
            REQUIRE_MESSAGE(r, c->error());
            REQUIRE(r->status == 200);
        }
    }
    REQUIRE(backend.connectionCount() == 10);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/item", {}, "DELETE"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 502);
    CHECK(countMethod(backend, "DELETE") == 2);
    CHECK(backend.connectionCount() == 11);  // the retry's own connection
}

TEST_CASE("upstream: a client slow to send its body is not a backend timeout: no 504, no suspension")
{
    // read_ms measures the backend. A pause of the client within body_timeout_ms, while the
    // request body streams, must neither time the backend out nor suspend it (two such clients
    // could otherwise take every endpoint out).
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "got " + r.body);
        return reply;
    });
    SluicedProcess gw(streamingApi(backend.url()));
    RawClient client(gw.port());
    auto r = postSlowly(client, "/svc/v1/x");
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "got 0123456789");
    auto next = client.exchange(getRequest("/svc/v1/y"));
    REQUIRE_MESSAGE(next, client.error());
    CHECK(next->status == 200);  // not 503: the endpoint was not suspended
    CHECK(gw.log().find("timed out") == std::string::npos);
}

TEST_CASE("upstream: a client slow to read a large response gets all of it, however long it pauses past read_ms")
{
    // The backend sends everything at once; the gateway stops reading it while the client does
    // not read. That pause is the client's (body_timeout_ms covers it), not the backend's.
    static constexpr std::size_t kSize = 32u << 20;
    ScriptedBackend backend([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n";
        auto left = std::make_shared<std::size_t>(kSize);
        reply.generate = [left](std::string& chunk) {
            const std::size_t n = std::min<std::size_t>(*left, 256 * 1024);
            chunk.assign(n, 'b');
            *left -= n;
            return *left > 0;
        };
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), R"("timeouts": {"read_ms": 300})"));
    RawClient client(gw.port());
    REQUIRE(client.send(getRequest("/svc/v1/big")));
    std::this_thread::sleep_for(1500ms);  // reads nothing: the gateway's reading of the backend pauses
    auto r = client.read(30s);
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body.size() == kSize);
    CHECK(gw.log().find("timed out") == std::string::npos);
}

TEST_CASE("upstream: a backend that closes without answering is suspended like one that refuses")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/close") {
            reply.silentClose = true;
        } else {
            reply.bytes = httpResponse(200, "ok");
        }
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    auto closed = client.exchange(bodyRequest("POST", "/svc/v1/close", "x"));
    REQUIRE_MESSAGE(closed, client.error());
    CHECK(closed->status == 502);
    CHECK(closed->errorCode() == 101502);
    RawClient other(gw.port());
    auto next = other.exchange(getRequest("/svc/v1/ok"));
    REQUIRE_MESSAGE(next, other.error());
    CHECK(next->status == 503);  // the only endpoint is suspended
    CHECK(next->errorCode() == 101507);
}

TEST_CASE(
    "upstream: a backend that answers early, then stops taking the body, is not suspended, and the client keeps its "
    "answer")
{
    // Answering before the body ended and then closing is the backend's right (a 200 for an
    // upload it does not need, say): the answer was a success; only the client's connection ends.
    RawBackend backend([](int fd, int number) {
        std::string in;
        readHead(fd, in, 5s);
        sendAll(fd, httpResponse(200, number == 1 ? "early" : "fresh"));
        if (number == 1) {
            ::shutdown(fd, SHUT_RDWR);  // takes none of the body
        } else {
            const auto deadline = Clock::now() + 5s;
            while (readSome(fd, in, deadline) == ReadStatus::Data) {
            }
        }
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    REQUIRE(client.send("POST /svc/v1/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n"));
    auto early = client.read(3s);
    REQUIRE_MESSAGE(early, client.error());
    CHECK(early->status == 200);
    CHECK(early->body == "early");
    std::this_thread::sleep_for(100ms);  // the backend's close is in
    client.send(std::string(100000, 'x'));
    CHECK(client.waitClosed(5s));  // ends, without a second answer
    RawClient next(gw.port());
    auto fresh = next.exchange(getRequest("/svc/v1/next"));
    REQUIRE_MESSAGE(fresh, next.error());
    CHECK(fresh->status == 200);  // not 503: the endpoint was not suspended
    CHECK(fresh->body == "fresh");
}

namespace {

// Waits until the peer has acknowledged all that was written to `fd`, then makes its close a
// reset (SO_LINGER 0: RawBackend closes the socket when its handler returns). False when the
// bytes were not all acknowledged within 5 s.
bool resetOnceSent(int fd)
{
    int queued = 1;
    for (const auto until = Clock::now() + 5s; queued > 0 && Clock::now() < until;) {
        ::ioctl(fd, SIOCOUTQ, &queued);
        std::this_thread::sleep_for(5ms);
    }
    const linger abort{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    return queued == 0;
}

// A backend that answers `answer` at once, before the request body has come, and resets the
// connection (SO_LINGER 0) once all of the answer has left its socket; `reset` says it did.
RawBackend::Handler answerEarlyThenReset(const std::string& answer, std::atomic<bool>& reset)
{
    return [&answer, &reset](int fd, int) {
        std::string in;
        readHead(fd, in, 5s);
        sendAll(fd, httpResponse(200, answer));
        reset = resetOnceSent(fd);
    };
}

// A client that takes in little at a time (a small window and small segments, so that an answer
// it does not read stays queued in the gateway), having sent a POST head and 1,000 of the
// 100,000 body bytes it announces. Waits until the backend has reset, and a moment more.
int stalledUploadAfterReset(int port, const std::atomic<bool>& reset)
{
    int error = 0;
    const int fd = connectAddress("127.0.0.1", port, error, 4096, 1000);
    REQUIRE(fd >= 0);
    REQUIRE(sendAll(
        fd, "POST /svc/v1/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + std::string(1000, 'b')));
    for (const auto until = Clock::now() + 6s; !reset && Clock::now() < until;) {
        std::this_thread::sleep_for(10ms);
    }
    REQUIRE(reset);
    std::this_thread::sleep_for(300ms);  // the gateway has seen the reset
    return fd;
}

// The length of the body of the one answer in `received` (npos without a whole head).
std::size_t bodyLength(const std::string& received)
{
    const std::size_t bodyAt = received.find("\r\n\r\n");
    return bodyAt == std::string::npos ? std::string::npos : received.size() - bodyAt - 4;
}

}  // namespace

TEST_CASE("upstream: an early answer still queued in the gateway when the backend closes goes out whole")
{
    // The backend answers 200 KiB before the body ended and then resets the connection: the
    // gateway ends the exchange at once, not when the client sends more or its body timeout runs
    // out. The client has read nothing yet, and its small window and segments keep most of the
    // answer queued in the gateway: the answer must still reach it whole, then the connection ends.
    const std::string answer(200 * 1024, 'e');
    std::atomic<bool> reset{false};
    RawBackend backend(answerEarlyThenReset(answer, reset));
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.accessLog = R"({"path": "access.log", "flush_ms": 20})";
    SluicedProcess gw(spec);
    const std::string file = gw.directory() + "/access.log";
    const int fd = stalledUploadAfterReset(gw.port(), reset);
    CHECK(linesOf(file).empty());  // the exchange is over, but not all of its answer has gone
    std::string received;
    const ReadStatus status = readToEnd(fd, received, Clock::now() + 10s);
    ::close(fd);
    CHECK(status == ReadStatus::Eof);
    CHECK(received.rfind("HTTP/1.1 200 ", 0) == 0);
    CHECK(bodyLength(received) == answer.size());
    const auto lines = waitForLines(file, 1);
    REQUIRE(lines.size() == 1);
    CHECK(contains(lines[0], "\"POST /svc/v1/upload HTTP/1.1\" 200 " + std::to_string(received.size()) + " "));
}

TEST_CASE("upstream: a reset that comes while the gateway has stopped reading an early answer does not cut it")
{
    // 360 KiB: the gateway stops reading the backend once it holds more than 256 KiB that the
    // client has not taken, so the reset arrives, and is reported once, while reading is paused.
    // The rest of the answer is read when the client catches up; the reset must still count then,
    // and the answer, still queued in the gateway when that read ends the exchange, goes out whole.
    // When the client goes on sending its body, the write to the backend fails while reading is
    // paused: the rest of the answer, still in the gateway's socket, is read and sent all the same.
    for (const std::size_t moreBody : {std::size_t{0}, std::size_t{20000}}) {
        CAPTURE(moreBody);
        const std::string answer(360 * 1024, 'p');
        std::atomic<bool> reset{false};
        RawBackend backend(answerEarlyThenReset(answer, reset));
        SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
        const int fd = stalledUploadAfterReset(gw.port(), reset);
        if (moreBody > 0) {
            REQUIRE(sendAll(fd, std::string(moreBody, 'b')));
            std::this_thread::sleep_for(300ms);  // the gateway has tried to forward it
        }
        std::string received;
        const ReadStatus status = readToEnd(fd, received, Clock::now() + 10s);
        ::close(fd);
        CHECK(status == ReadStatus::Eof);  // not held open for the rest of the body
        CHECK(bodyLength(received) == answer.size());
    }
}

TEST_CASE("upstream: a body that ends at the close is not ended cleanly for the client when the backend resets")
{
    // No length and no chunks: only a close (FIN) ends such a body. After a reset the kernel may
    // have dropped the backend's last bytes, so the HTTP/1.1 client, to whom the gateway sends the
    // body in chunks, must not get the last chunk: its connection ends without it. What did
    // arrive still reaches it, however slowly it reads (here all of it: the backend resets only
    // once the gateway has acknowledged every byte).
    const std::string body(456 * 1024, 'u');
    for (const bool slow : {false, true}) {
        CAPTURE(slow);
        RawBackend backend([&body](int fd, int) {
            std::string in;
            readHead(fd, in, 5s);
            sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body);
            resetOnceSent(fd);
        });
        SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));  // a new one: the endpoint is suspended now
        int error = 0;
        const int fd = slow ? connectAddress("127.0.0.1", gw.port(), error, 4096, 1000)
                            : connectAddress("127.0.0.1", gw.port(), error);
        REQUIRE(fd >= 0);
        REQUIRE(sendAll(fd, getRequest("/svc/v1/reset")));
        if (slow) {
            std::this_thread::sleep_for(500ms);  // the reset comes while most of it waits in the gateway
        }
        std::string received;
        const ReadStatus status = readToEnd(fd, received, Clock::now() + 10s);
        ::close(fd);
        CHECK(status != ReadStatus::Timeout);  // the connection ended
        REQUIRE(received.rfind("HTTP/1.1 200 ", 0) == 0);
        CHECK(contains(received, "Transfer-Encoding: chunked"));
        CHECK(received.find("\r\n0\r\n\r\n") == std::string::npos);
        const std::size_t bodyAt = received.find("\r\n\r\n");
        REQUIRE(bodyAt != std::string::npos);
        CHECK(static_cast<std::size_t>(std::count(received.begin() + static_cast<std::ptrdiff_t>(bodyAt),
                                                  received.end(), 'u')) == body.size());
        CHECK(gw.waitForLog("reset the connection inside the response body", 0, 5s));
    }
}

TEST_CASE("upstream: an answer that breaks off still gives a slow client all that came before the break")
{
    // 200 KiB of good chunks, then a chunk size that is not one: the answer is broken. The client
    // reads nothing until then, so most of what came waits in the gateway when the break is
    // found; it must still go out, and the connection then end without a last chunk.
    const std::string data(200 * 1024, 'k');
    RawBackend backend([&data](int fd, int) {
        std::string in;
        readHead(fd, in, 5s);
        std::ostringstream size;
        size << std::hex << data.size();
        sendAll(fd,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size.str() + "\r\n" + data + "\r\nzz\r\n");
        std::string rest;
        readSome(fd, rest, Clock::now() + 3s);  // keeps the connection open: the break is in the bytes
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    int error = 0;
    const int fd = connectAddress("127.0.0.1", gw.port(), error, 4096, 1000);
    REQUIRE(fd >= 0);
    REQUIRE(sendAll(fd, getRequest("/svc/v1/broken")));
    REQUIRE(gw.waitForLog("after the response began", 0, 5s));
    std::string received;
    const ReadStatus status = readToEnd(fd, received, Clock::now() + 10s);
    ::close(fd);
    CHECK(status != ReadStatus::Timeout);
    const std::size_t bodyAt = received.find("\r\n\r\n");
    REQUIRE(bodyAt != std::string::npos);
    CHECK(static_cast<std::size_t>(
              std::count(received.begin() + static_cast<std::ptrdiff_t>(bodyAt), received.end(), 'k')) == data.size());
    CHECK(received.find("\r\n0\r\n\r\n") == std::string::npos);
}

TEST_CASE("upstream: a connection the backend half-closed with its answer is not used again")
{
    // The first connection's answer is followed at once by a FIN (no Connection: close), and the
    // backend goes on reading and discarding, as a lingering close does: a request sent on it
    // would never be answered. The FIN may come with the answer's last bytes, in one read and one
    // event: the next request must still go on a new connection.
    RawBackend backend([](int fd, int number) {
        std::string in;
        if (!readHead(fd, in, 5s)) {
            return;
        }
        sendAll(fd, httpResponse(200, "connection " + std::to_string(number)));
        if (number == 1) {
            ::shutdown(fd, SHUT_WR);
            std::string discarded;
            while (readSome(fd, discarded, Clock::now() + 3s) == ReadStatus::Data) {
            }
            return;
        }
        for (in.clear(); readHead(fd, in, 5s); in.clear()) {
            sendAll(fd, httpResponse(200, "connection " + std::to_string(number)));
        }
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), R"("timeouts": {"read_ms": 2000})"));
    RawClient client(gw.port());
    auto first = client.exchange(getRequest("/svc/v1/first"));
    REQUIRE_MESSAGE(first, client.error());
    CHECK(first->body == "connection 1");
    const auto start = Clock::now();
    auto second = client.exchange(getRequest("/svc/v1/second"));
    REQUIRE_MESSAGE(second, client.error());
    CHECK(second->status == 200);
    CHECK(second->body == "connection 2");
    CHECK(Clock::now() - start < 1s);
}

TEST_CASE("upstream: a backend echoing a body the client sends slowly is not timed out by read_ms")
{
    // The backend answers as it reads: its response has begun, but it owes nothing more until
    // the client's next bytes arrive, so only the client's body timeout applies.
    RawBackend backend([](int fd, int) {
        std::string in;
        readHead(fd, in, 5s);
        sendAll(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        std::size_t body = in.size() - (in.find("\r\n\r\n") + 4);
        const auto deadline = Clock::now() + 5s;
        while (body < 10) {
            std::string more;
            if (readSome(fd, more, deadline) != ReadStatus::Data) {
                return;
            }
            body += more.size();
            sendAll(fd, "1\r\n.\r\n");
        }
        sendAll(fd, "0\r\n\r\n");
    });
    SluicedProcess gw(streamingApi(backend.url()));
    RawClient client(gw.port());
    auto r = postSlowly(client, "/svc/v1/echo");
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK_FALSE(r->body.empty());
    CHECK(gw.log().find("timed out") == std::string::npos);
}

TEST_CASE("upstream: an early 413 from a backend that then resets is relayed, not turned into a 502")
{
    // The backend refuses the upload after 64 KiB and closes with the rest unread, so its kernel
    // resets the connection and the gateway's next write fails. Its answer is in the socket
    // still: the client gets it, and the endpoint is not suspended.
    RawBackend backend([](int fd, int) {
        std::string in;
        if (!readHead(fd, in, 5s)) {
            return;
        }
        if (in.rfind("GET ", 0) == 0) {
            sendAll(fd, httpResponse(200, "fine"));
            return;
        }
        const auto deadline = Clock::now() + 5s;
        while (in.size() < 64 * 1024 && readSome(fd, in, deadline) == ReadStatus::Data) {
        }
        sendAll(fd, httpResponse(413, "too large"));
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    int error = 0;
    const int fd = connectLoopback(gw.port(), error);
    REQUIRE(fd >= 0);
    setIoTimeouts(fd, std::chrono::seconds(5));
    constexpr std::size_t kBody = 8u << 20;
    REQUIRE(sendAll(
        fd, "POST /svc/v1/upload HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n"));
    // As fast as it goes: the gateway is writing to the backend when the reset comes.
    std::thread writer([fd] {
        const std::string block(256 * 1024, 'u');
        for (std::size_t sent = 0; sent < kBody && sendAll(fd, block); sent += block.size()) {
        }
    });
    std::string received;
    const auto deadline = Clock::now() + 5s;
    while (received.find("too large") == std::string::npos && readSome(fd, received, deadline) == ReadStatus::Data) {
    }
    ::shutdown(fd, SHUT_RDWR);
    writer.join();
    ::close(fd);
    CHECK(received.rfind("HTTP/1.1 413 ", 0) == 0);
    RawClient next(gw.port());
    auto fine = next.exchange(getRequest("/svc/v1/next"));
    REQUIRE_MESSAGE(fine, next.error());
    CHECK(fine->status == 200);  // not suspended
}

TEST_CASE("upstream: a backend slow to take the body is judged by read_ms, not the client by body_timeout_ms")
{
    // The client sends its whole body at once; the backend takes none of it for a while. The
    // gateway stops reading the client meanwhile, which is not the client's stall: no 408.
    auto slowReader = [](std::chrono::milliseconds pause) {
        return [pause](int fd, int) {
            std::string in;
            if (!readHead(fd, in, 5s)) {
                return;
            }
            std::this_thread::sleep_for(pause);
            const std::size_t length = std::stoul(in.substr(in.find("Content-Length: ") + 16));
            std::size_t got = in.size() - (in.find("\r\n\r\n") + 4);
            std::string more;
            while (got < length && readSome(fd, more, Clock::now() + 5s) == ReadStatus::Data) {
                got += more.size();
                more.clear();
            }
            sendAll(fd, httpResponse(200, "took " + std::to_string(got)));
        };
    };
    // Far over what the buffers on the way hold, even with large socket buffers (a 16 MiB
    // tcp_wmem maximum is a common tuning): otherwise the body ends before the backend reads.
    constexpr std::size_t kBody = 48u << 20;
    auto upload = [&](int port) {
        int error = 0;
        const int fd = connectLoopback(port, error);
        REQUIRE(fd >= 0);
        setIoTimeouts(fd, std::chrono::seconds(10));
        std::thread writer([fd] {
            sendAll(fd,
                    "POST /svc/v1/upload HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n");
            const std::string block(256 * 1024, 'u');
            for (std::size_t sent = 0; sent < kBody && sendAll(fd, block); sent += block.size()) {
            }
        });
        std::string received;
        while (readSome(fd, received, Clock::now() + 15s) == ReadStatus::Data) {
        }
        ::shutdown(fd, SHUT_RDWR);
        writer.join();
        ::close(fd);
        return received;
    };
    {
        RawBackend backend(slowReader(1500ms));
        GatewaySpec patient = oneApi("/svc", endpointList({backend.url()}), R"("timeouts": {"read_ms": 5000})");
        patient.http = R"({"body_timeout_ms": 400, "max_body_bytes": 67108864})";
        SluicedProcess gw(patient);
        const std::string answer = upload(gw.port());
        CHECK_MESSAGE(answer.rfind("HTTP/1.1 200 ", 0) == 0, answer.substr(0, 200));
        CHECK(answer.find("took " + std::to_string(kBody)) != std::string::npos);
    }
    {
        RawBackend backend(slowReader(3000ms));
        GatewaySpec strict = oneApi("/svc", endpointList({backend.url()}), R"("timeouts": {"read_ms": 500})");
        strict.http = R"({"body_timeout_ms": 400, "max_body_bytes": 67108864})";
        SluicedProcess gw(strict);
        const std::string answer = upload(gw.port());
        CHECK_MESSAGE(answer.rfind("HTTP/1.1 504 ", 0) == 0, answer.substr(0, 200));
        CHECK(answer.find("101504") != std::string::npos);
    }
}

TEST_CASE(
    "upstream: after an early answer, a backend that stops taking the body is given up at read_ms, not at the client's "
    "timeout")
{
    std::atomic<bool> done{false};
    RawBackend backend([&done](int fd, int) {
        std::string in;
        if (!readHead(fd, in, 5s)) {
            return;
        }
        // Answers once the gateway has filled every buffer on the way and stopped reading the
        // client, then reads nothing more and keeps the connection.
        std::this_thread::sleep_for(300ms);
        sendAll(fd, httpResponse(200, "early"));
        while (!done.load()) {
            std::this_thread::sleep_for(20ms);
        }
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), R"("timeouts": {"read_ms": 500})"));
    int error = 0;
    const int fd = connectLoopback(gw.port(), error);
    REQUIRE(fd >= 0);
    setIoTimeouts(fd, std::chrono::seconds(2));
    constexpr std::size_t kBody = 8u << 20;  // under max_body_bytes, far over what buffers hold
    REQUIRE(sendAll(
        fd, "POST /svc/v1/upload HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n"));
    // Send until every buffer on the way is full (the backend reads nothing), then go idle.
    std::thread writer([fd] {
        const std::string block(256 * 1024, 'u');
        for (std::size_t sent = 0; sent < kBody && sendAll(fd, block); sent += block.size()) {
        }
    });
    const auto start = Clock::now();
    std::string received;
    ReadStatus status = ReadStatus::Data;
    while (status == ReadStatus::Data) {
        status = readSome(fd, received, Clock::now() + 15s);
    }
    const long long ms = millisSince(start);
    writer.join();
    ::close(fd);
    done = true;
    CHECK(received.rfind("HTTP/1.1 200 ", 0) == 0);
    CHECK(received.find("early") != std::string::npos);
    CHECK(status != ReadStatus::Timeout);
    CHECK(ms < 8000);  // read_ms and a short linger; not body_timeout_ms (30 s)
}

TEST_CASE(
    "upstream: a short body read whole before the backend was contacted goes to another endpoint when the first "
    "refuses")
{
    ClosedPort down;
    ScriptedBackend up([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, r.method + " " + r.body);
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({down.url(), up.url()}), kNoSuspension));
    for (const char* method : {"PUT", "POST", "PUT", "POST"}) {  // each endpoint comes first in turn
        CAPTURE(method);
        RawClient client(gw.port());
        REQUIRE(client.send(std::string(method) + " /svc/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234"));
        std::this_thread::sleep_for(50ms);  // the rest comes later: the body is read whole first
        REQUIRE(client.send("56789"));
        auto r = client.read(5s);
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->body == std::string(method) + " 0123456789");
    }
}

TEST_CASE("upstream: a short body that came whole with the head is sent again as one read whole is")
{
    // Whether the body came in the head's packet or after it must not decide whether the request
    // can go to another endpoint.
    ScriptedBackend up([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, r.method + " " + r.body);
        return reply;
    });
    SUBCASE("any method, when the first endpoint refuses the connection")
    {
        ClosedPort down;
        SluicedProcess gw(oneApi("/svc", endpointList({down.url(), up.url()}), kNoSuspension));
        for (const char* method : {"PUT", "POST", "PUT", "POST"}) {
            CAPTURE(method);
            RawClient client(gw.port());
            auto r = client.exchange(std::string(method) +
                                     " /svc/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789");
            REQUIRE_MESSAGE(r, client.error());
            CHECK(r->status == 200);
            CHECK(r->body == std::string(method) + " 0123456789");
        }
        CHECK(up.requestCount() == 4);
    }
    SUBCASE("an idempotent one, when the first endpoint reads it and closes")
    {
        ScriptedBackend broken(silentClose);
        SluicedProcess gw(oneApi("/svc", endpointList({broken.url(), up.url()}), kNoSuspension));
        for (int i = 0; i < 4; ++i) {
            RawClient client(gw.port());
            auto r = client.exchange("PUT /svc/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789");
            REQUIRE_MESSAGE(r, client.error());
            CHECK(r->status == 200);
            CHECK(r->body == "PUT 0123456789");
        }
        CHECK(countMethod(broken, "PUT") == 2);  // first in every other request
        REQUIRE(broken.waitForRequests(2, 2s));
        CHECK(broken.request(0).body == "0123456789");
        // A POST the backend read is not sent again.
        int refused = 0;
        for (int i = 0; i < 2; ++i) {
            RawClient client(gw.port());
            auto r = client.exchange("POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789");
            REQUIRE_MESSAGE(r, client.error());
            refused += r->status == 502 ? 1 : 0;
        }
        CHECK(refused == 1);
        CHECK(countMethod(broken, "POST") == 1);
        CHECK(countMethod(up, "POST") == 1);
    }
}
