// Proxying through the real sluiced: what reaches the backend (request line, Host, forwarding
// headers, hop-by-hop stripping, repeated fields) and what comes back (HEAD included).
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include <regex>

#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

// Sends `request` from a client that takes in little at a time (a 16 KiB window, 1,000-byte
// segments), half-closes if asked, and reads until the gateway ends the connection.
ReadStatus readSlowly(int port, const std::string& request, bool halfClose, std::string& received)
{
    int error = 0;
    const int fd = connectAddress("127.0.0.1", port, error, 16384, 1000);
    REQUIRE(fd >= 0);
    REQUIRE(sendAll(fd, request));
    if (halfClose) {
        ::shutdown(fd, SHUT_WR);
    }
    const ReadStatus status = readToEnd(fd, received, Clock::now() + 20s);
    ::close(fd);
    return status;
}

}  // namespace

TEST_CASE("proxy: GET and POST reach the backend with Host, X-Forwarded-* and Via rebuilt")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(r.method == "POST" ? 201 : 200, "seen " + r.method + " " + r.target,
                                   {{"X-Backend", "one"}, {"Cache-Control", "no-store"}});
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url("/base")})));
    RawClient client(gw.port());

    auto get = client.exchange(
        "GET /svc/v1/items/7?x=1&y=%20z HTTP/1.1\r\nHost: gateway.test:8080\r\n"
        "User-Agent: transport-test\r\nAccept: */*\r\n\r\n");
    REQUIRE_MESSAGE(get, client.error());
    CHECK(get->status == 200);
    CHECK(get->body == "seen GET /base/items/7?x=1&y=%20z");
    CHECK(get->header("X-Backend") == "one");
    CHECK(get->header("Cache-Control") == "no-store");
    CHECK(get->header("Content-Length") == std::to_string(get->body.size()));
    CHECK_FALSE(get->header("Connection"));

    REQUIRE(backend.waitForRequests(1, 2s));
    ReceivedRequest up = backend.request(0);
    CHECK(up.method == "GET");
    CHECK(up.target == "/base/items/7?x=1&y=%20z");
    CHECK(up.version == "HTTP/1.1");
    CHECK(up.header("Host") == backend.hostPort());
    CHECK(up.headerCount("Host") == 1);
    CHECK(up.header("X-Forwarded-For") == "127.0.0.1");
    CHECK(up.header("X-Forwarded-Proto") == "http");
    CHECK(up.header("X-Forwarded-Host") == "gateway.test:8080");
    CHECK(up.header("Via") == "1.1 sluice");
    CHECK(up.header("User-Agent") == "transport-test");
    CHECK(up.header("Accept") == "*/*");
    CHECK_FALSE(up.header("Content-Length"));
    CHECK_FALSE(up.header("Transfer-Encoding"));

    auto post =
        client.exchange(bodyRequest("POST", "/svc/v1/items", R"({"name":"rex"})", {"Content-Type: application/json"}));
    REQUIRE_MESSAGE(post, client.error());
    CHECK(post->status == 201);
    CHECK(post->body == "seen POST /base/items");
    REQUIRE(backend.waitForRequests(2, 2s));
    ReceivedRequest upPost = backend.request(1);
    CHECK(upPost.header("Content-Length") == "14");
    CHECK(upPost.headerCount("Content-Length") == 1);
    CHECK(upPost.header("Content-Type") == "application/json");
    CHECK(upPost.body == R"({"name":"rex"})");
    CHECK_FALSE(upPost.chunked);

    // An empty POST still tells the backend its length.
    auto empty = client.exchange("POST /svc/v1/items HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 0\r\n\r\n");
    REQUIRE_MESSAGE(empty, client.error());
    CHECK(empty->status == 201);
    REQUIRE(backend.waitForRequests(3, 2s));
    CHECK(backend.request(2).header("Content-Length") == "0");
    CHECK(backend.request(2).bodyLength == 0);
}

TEST_CASE("proxy: every answer has one Date field: the backend's or the gateway's")
{
    // RFC 9110 §6.6.1: a recipient with a clock adds Date to a response it forwards without one,
    // and an origin (the gateway's own answers) sends it.
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = r.target == "/dated" ? httpResponse(200, "d", {{"Date", "Sun, 06 Nov 1994 08:49:37 GMT"}})
                                           : httpResponse(200, "u");
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    const std::regex imfFixdate(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)");
    auto undated = client.exchange(getRequest("/svc/v1/undated"));
    REQUIRE_MESSAGE(undated, client.error());
    CHECK(undated->headerCount("Date") == 1);
    CHECK(std::regex_match(undated->header("Date").value_or(""), imfFixdate));
    auto dated = client.exchange(getRequest("/svc/v1/dated"));
    REQUIRE_MESSAGE(dated, client.error());
    CHECK(dated->headerCount("Date") == 1);
    CHECK(dated->header("Date") == "Sun, 06 Nov 1994 08:49:37 GMT");
    auto missing = client.exchange(getRequest("/nowhere"));
    REQUIRE_MESSAGE(missing, client.error());
    CHECK(missing->status == 404);
    CHECK(std::regex_match(missing->header("Date").value_or(""), imfFixdate));
    RawClient bad(gw.port());
    auto refused = bad.exchange("GET /x HTTP/1.1\r\nHost: a\r\nBad Field: x\r\n\r\n");
    REQUIRE_MESSAGE(refused, bad.error());
    CHECK(refused->status == 400);
    CHECK(std::regex_match(refused->header("Date").value_or(""), imfFixdate));
}

TEST_CASE("proxy: a status line without a reason gets the registered one, and the gateway's answers carry theirs")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        const std::string status = r.target.substr(1);
        reply.bytes = "HTTP/1.1 " + status + " \r\nContent-Length: 0\r\n\r\n";
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    for (const auto& [status, reason] : std::vector<std::pair<int, std::string>>{
             {201, "Created"}, {202, "Accepted"}, {409, "Conflict"}, {422, "Unprocessable Content"}, {299, "OK"}}) {
        CAPTURE(status);
        auto r = client.exchange(getRequest("/svc/v1/" + std::to_string(status)));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == status);
        CHECK(r->reason == reason);
    }
}

TEST_CASE("proxy: a backend's second or empty Date field is left out, with or without handlers")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/twice") {
            reply.bytes = httpResponse(
                200, "t", {{"Date", "Sun, 06 Nov 1994 08:49:37 GMT"}, {"Date", "Mon, 07 Nov 1994 08:49:37 GMT"}});
        } else {
            reply.bytes = httpResponse(200, "e", {{"Date", " "}});
        }
        return reply;
    });
    GatewaySpec spec;
    spec.apis.emplace_back("plain", apiJson("/plain", endpointList({backend.url()})));
    spec.apis.emplace_back("handled", apiJson("/handled", endpointList({backend.url()}),
                                              R"("handlers": [{"component": "correlation_id"}])"));
    // A handler's own answer has one Date too: each value given replaces the one before
    // (header_add of a one-value field, ABI 1.6), and an empty one ends in the gateway's own.
    const auto respondWithDates = [&backend](const std::string& context, const std::string& dates) {
        return apiJson(context, endpointList({backend.url()}),
                       R"("handlers": [{"component": "lua_mediation", "config": {"source": )"
                       R"("function on_request(ctx) ctx.respond(200, 'x', {Date = {)" +
                           dates + R"(}}) end"}}])");
    };
    spec.apis.emplace_back(
        "local", respondWithDates("/local", "' ', 'Sun, 06 Nov 1994 08:49:37 GMT', 'Mon, 07 Nov 1994 08:49:37 GMT'"));
    spec.apis.emplace_back("localempty", respondWithDates("/localempty", "'Sun, 06 Nov 1994 08:49:37 GMT', ' '"));
    SluicedProcess gw(spec);
    const std::regex imfFixdate(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)");
    {
        RawClient client(gw.port());
        auto local = client.exchange(getRequest("/local/v1/x"));
        REQUIRE_MESSAGE(local, client.error());
        CHECK(local->status == 200);
        CHECK(local->headerCount("Date") == 1);
        CHECK(local->header("Date") == "Mon, 07 Nov 1994 08:49:37 GMT");
        auto empty = client.exchange(getRequest("/localempty/v1/x"));
        REQUIRE_MESSAGE(empty, client.error());
        CHECK(empty->headerCount("Date") == 1);
        const std::string date = empty->header("Date").value_or("");
        CHECK(std::regex_match(date, imfFixdate));
        CHECK(date != "Sun, 06 Nov 1994 08:49:37 GMT");
    }
    for (const std::string api : {"/plain", "/handled"}) {
        CAPTURE(api);
        RawClient client(gw.port());
        auto twice = client.exchange(getRequest(api + "/v1/twice"));
        REQUIRE_MESSAGE(twice, client.error());
        CHECK(twice->headerCount("Date") == 1);
        CHECK(twice->header("Date") == "Sun, 06 Nov 1994 08:49:37 GMT");
        auto empty = client.exchange(getRequest(api + "/v1/empty"));
        REQUIRE_MESSAGE(empty, client.error());
        CHECK(empty->headerCount("Date") == 1);
        CHECK(std::regex_match(empty->header("Date").value_or(""), imfFixdate));
    }
}

TEST_CASE(
    "proxy: Location and Content-Location into the endpoint's URL become the API's path, unless rewrite_location is "
    "false")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        const std::string self = "http://" + r.header("Host").value_or("");
        Headers fields;
        if (r.target == "/b/abs") {
            fields = {{"Location", self + "/b/created/7?x=1"}};
        } else if (r.target == "/b/rel") {
            fields = {{"Location", "/b/created/8"}, {"Content-Location", "/b/items/8"}};
        } else if (r.target == "/b/away") {
            fields = {{"Location", "/elsewhere/x"}};
        } else {
            fields = {{"Location", "http://example.com/b/x"}};
        }
        reply.bytes = httpResponse(r.target == "/b/rel" ? 201 : 302, "", fields);
        return reply;
    });
    const std::string endpoint = endpointList({backend.url() + "/b"});
    GatewaySpec spec;
    spec.apis.emplace_back("svc", apiJson("/svc", endpoint));
    spec.apis.emplace_back("handled",
                           apiJson("/handled", endpoint, R"("handlers": [{"component": "correlation_id"}])"));
    spec.apis.emplace_back("raw", apiJson("/raw", endpoint, R"("rewrite_location": false)"));
    // A response step sees the public form, and what it writes itself is left as written.
    spec.apis.emplace_back(
        "lua", apiJson("/lua", endpoint,
                       R"("handlers": [{"component": "lua_mediation", "config": {"source": )"
                       R"("function on_response(ctx) ctx.response.set_header('X-Seen', )"
                       R"(ctx.response.get_header('Location') or '-') ctx.response.set_header('Content-Location', )"
                       R"('/b/as-written') end"}}])"));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto get = [&](const std::string& path) {
        auto r = client.exchange(getRequest(path));
        REQUIRE_MESSAGE(r, client.error());
        return *r;
    };
    for (const std::string api : {"/svc", "/handled"}) {
        CAPTURE(api);
        CHECK(get(api + "/v1/abs").header("Location") == api + "/v1/created/7?x=1");
        auto created = get(api + "/v1/rel");
        CHECK(created.status == 201);
        CHECK(created.header("Location") == api + "/v1/created/8");
        CHECK(created.header("Content-Location") == api + "/v1/items/8");
        CHECK(get(api + "/v1/away").header("Location") == "/elsewhere/x");
        CHECK(get(api + "/v1/other").header("Location") == "http://example.com/b/x");
    }
    auto seen = get("/lua/v1/rel");
    CHECK(seen.header("X-Seen") == "/lua/v1/created/8");
    CHECK(seen.header("Location") == "/lua/v1/created/8");
    CHECK(seen.header("Content-Location") == "/b/as-written");
    CHECK(get("/raw/v1/rel").header("Location") == "/b/created/8");
    CHECK(get("/raw/v1/abs").header("Location") == backend.url() + "/b/created/7?x=1");
}

TEST_CASE("proxy: hop-by-hop headers never cross the gateway, in either direction")
{
    ScriptedBackend backend([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "ok",
                                   {{"Connection", "X-Internal"},
                                    {"X-Internal", "backend-only"},
                                    {"Keep-Alive", "timeout=5"},
                                    {"Proxy-Authenticate", "Basic"},
                                    {"Upgrade", "h2c"},
                                    {"X-Public", "yes"}});
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    auto r = client.exchange(
        "GET /svc/v1/x HTTP/1.1\r\nHost: gateway.test\r\n"
        "Connection: X-Secret, close\r\n"
        "Keep-Alive: timeout=5\r\n"
        "TE: trailers\r\n"
        "Upgrade: websocket\r\n"
        "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"
        "Proxy-Connection: keep-alive\r\n"
        "X-Secret: 1\r\n"
        "X-Kept: yes\r\n\r\n");
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    // The backend's hop-by-hop fields stay on the backend's side.
    CHECK(r->header("X-Public") == "yes");
    CHECK_FALSE(r->header("X-Internal"));
    CHECK_FALSE(r->header("Keep-Alive"));
    CHECK_FALSE(r->header("Proxy-Authenticate"));
    CHECK_FALSE(r->header("Upgrade"));
    // The client asked to close: the gateway says so and does it.
    CHECK(r->hasToken("Connection", "close"));
    CHECK_FALSE(r->hasToken("Connection", "X-Internal"));
    CHECK(client.waitClosed(2s));

    REQUIRE(backend.waitForRequests(1, 2s));
    ReceivedRequest up = backend.request(0);
    for (const char* name :
         {"Connection", "Keep-Alive", "TE", "Upgrade", "Proxy-Authorization", "Proxy-Connection", "X-Secret"}) {
        INFO("header " << name << " in\n" << up.head);
        CHECK_FALSE(up.header(name));
    }
    CHECK(up.header("X-Kept") == "yes");
}

TEST_CASE("proxy: X-Forwarded-For from an untrusted client is replaced, Via and the proto are rebuilt")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/x", {"X-Forwarded-For: 10.9.8.7", "X-Forwarded-Proto: https",
                                                      "X-Forwarded-Host: evil.test", "Via: 1.0 edge"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    ReceivedRequest up = backend.request(0);
    CHECK(up.header("X-Forwarded-For") == "127.0.0.1");
    CHECK(up.headerCount("X-Forwarded-For") == 1);
    CHECK(up.header("X-Forwarded-Proto") == "http");
    CHECK(up.headerCount("X-Forwarded-Proto") == 1);
    CHECK(up.header("X-Forwarded-Host") == "gateway.test");
    CHECK(up.headerCount("X-Forwarded-Host") == 1);
    CHECK(up.header("Via") == "1.0 edge, 1.1 sluice");
    CHECK(up.headerCount("Via") == 1);

    // An HTTP/1.0 client is named as such in Via.
    RawClient old(gw.port());
    auto r10 = old.exchange("GET /svc/v1/y HTTP/1.0\r\nHost: gateway.test\r\n\r\n");
    REQUIRE_MESSAGE(r10, old.error());
    CHECK(r10->status == 200);
    CHECK(r10->versionMinor == 1);  // the gateway's version, to a 1.0 client too (RFC 9110 §6.2)
    REQUIRE(backend.waitForRequests(2, 2s));
    CHECK(backend.request(1).header("Via") == "1.0 sluice");
    CHECK(backend.request(1).version == "HTTP/1.1");
}

TEST_CASE("proxy: X-Forwarded-For from a trusted proxy is extended")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", R"({"trusted_proxies": ["127.0.0.1/32"]})"));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/x", {"X-Forwarded-For: 10.9.8.7"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK(backend.request(0).header("X-Forwarded-For") == "10.9.8.7, 127.0.0.1");
    CHECK(backend.request(0).headerCount("X-Forwarded-For") == 1);

    // No prior header: just the client.
    auto plain = client.exchange(getRequest("/svc/v1/y"));
    REQUIRE_MESSAGE(plain, client.error());
    REQUIRE(backend.waitForRequests(2, 2s));
    CHECK(backend.request(1).header("X-Forwarded-For") == "127.0.0.1");
}

TEST_CASE("proxy: a trusted proxy's Forwarded field is passed on, one line for all of its lines")
{
    // From an untrusted client it is dropped (AdversarialTest); a trusted proxy's is its word.
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", R"({"trusted_proxies": ["127.0.0.1/32"]})"));
    RawClient client(gw.port());
    auto r =
        client.exchange(getRequest("/svc/v1/x", {"Forwarded: for=10.0.0.1;proto=https", "Forwarded: for=10.0.0.2"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK(backend.request(0).headerCount("Forwarded") == 1);
    CHECK(backend.request(0).header("Forwarded") == "for=10.0.0.1;proto=https, for=10.0.0.2");
}

TEST_CASE("proxy: a trusted proxy's X-Forwarded-For sent as several field lines keeps every hop")
{
    // RFC 9110 §5.3: several field lines of one list field are one comma-separated list.
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", R"({"trusted_proxies": ["127.0.0.1/32"]})"));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/x", {"X-Forwarded-For: 10.0.0.1", "X-Forwarded-For: 10.0.0.2"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    INFO("upstream head:\n" << backend.request(0).head);
    CHECK(backend.request(0).header("X-Forwarded-For") == "10.0.0.1, 10.0.0.2, 127.0.0.1");
}

TEST_CASE("proxy: two Cookie fields reach the backend as one, their pairs joined by a semicolon")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/x", {"Cookie: a=1", "X-Between: 1", "cookie: ", "COOKIE: b=2; c=3"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    INFO("upstream head:\n" << backend.request(0).head);
    CHECK(backend.request(0).headerCount("Cookie") == 1);
    CHECK(backend.request(0).header("Cookie") == "a=1; b=2; c=3");
    CHECK(backend.request(0).header("X-Between") == "1");
}

TEST_CASE("proxy: repeated fields keep their order, an absolute-form target is routed by its path")
{
    ScriptedBackend backend([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "ok", {{"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}});
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    auto r = client.exchange(
        "GET http://public.test/svc/v1/abs?q=1 HTTP/1.1\r\nHost: public.test\r\n"
        "X-Multi: one\r\nX-Other: x\r\nX-Multi: two\r\n\r\n");
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    REQUIRE(r->headerCount("Set-Cookie") == 2);
    std::vector<std::string> cookies;
    for (const auto& [name, value] : r->headers) {
        if (equalsIgnoreCase(name, "Set-Cookie")) {
            cookies.push_back(value);
        }
    }
    CHECK(cookies == std::vector<std::string>{"a=1", "b=2"});

    REQUIRE(backend.waitForRequests(1, 2s));
    ReceivedRequest up = backend.request(0);
    CHECK(up.target == "/abs?q=1");
    CHECK(up.header("Host") == backend.hostPort());
    CHECK(up.header("X-Forwarded-Host") == "public.test");
    std::vector<std::string> multi;
    for (const auto& [name, value] : up.headers) {
        if (equalsIgnoreCase(name, "X-Multi")) {
            multi.push_back(value);
        }
    }
    CHECK(multi == std::vector<std::string>{"one", "two"});
}

TEST_CASE("proxy: field lines of any length pass whole both ways, with and without a handler on the response")
{
    // Line lengths around the 256 bytes that the head writer composes on its stack, and far beyond.
    const std::vector<std::size_t> lengths = {1, 245, 246, 247, 3000};
    std::vector<std::pair<std::string, std::string>> fields;
    for (std::size_t n : lengths) {
        fields.emplace_back("X-Len-" + std::to_string(n), std::string(n, 'v'));
    }
    ScriptedBackend backend([&fields](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "ok", fields);
        return reply;
    });
    for (const char* handlers : {"", R"("handlers": [{"component": "correlation_id"}])"}) {
        CAPTURE(handlers);
        SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), handlers));
        std::vector<std::string> lines;
        for (const auto& [name, value] : fields) {
            lines.push_back(name + ": " + value);
        }
        RawClient client(gw.port());
        auto r = client.exchange(getRequest("/svc/v1/long", lines));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        REQUIRE(backend.waitForRequests(1, 2s));
        ReceivedRequest up = backend.request(backend.requestCount() - 1);
        for (const auto& [name, value] : fields) {
            CAPTURE(name);
            CHECK(r->header(name) == value);
            CHECK(up.header(name) == value);
        }
    }
}

TEST_CASE("proxy: a client that half-closes after its request still gets the answer")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.delay = 100ms;  // the FIN arrives long before the answer
        reply.bytes = httpResponse(200, "for " + r.target);
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    REQUIRE(client.send(bodyRequest("POST", "/svc/v1/half", "data")));
    client.shutdownWrite();
    auto r = client.read();
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "for /half");
    CHECK(client.waitClosed(2s));
}

TEST_CASE("proxy: a client that half-closes after its requests and reads slowly gets every answer whole")
{
    // The FIN is read once the exchange is over while most of the answer still waits in the
    // gateway: no request can come any more, but the answers in hand must go out before the close.
    const std::string answer(3 * 1024 * 1024, 'H');
    ScriptedBackend backend([&answer](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, r.target == "/big" ? answer : "small");
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    for (const bool pipelined : {false, true}) {
        CAPTURE(pipelined);
        std::string received;
        CHECK(readSlowly(gw.port(), getRequest("/svc/v1/big") + (pipelined ? getRequest("/svc/v1/small") : ""), true,
                         received) == ReadStatus::Eof);
        const std::size_t bodyAt = received.find("\r\n\r\n");
        REQUIRE(bodyAt != std::string::npos);
        const std::size_t secondAt = bodyAt + 4 + answer.size();
        REQUIRE(received.size() >= secondAt);
        CHECK(received.compare(bodyAt + 4, answer.size(), answer) == 0);
        if (pipelined) {
            CHECK(received.compare(secondAt, 9, "HTTP/1.1 ") == 0);
            CHECK(received.size() > secondAt + 5);
            CHECK(received.compare(received.size() - 5, 5, "small") == 0);
        } else {
            CHECK(received.size() == secondAt);
        }
    }
}

TEST_CASE("proxy: a large answer to a client that asked to close reaches it whole, read slowly")
{
    // The gateway stops reading the backend while more than 256 KiB wait for the client, and
    // reads again once they have gone. The last read completes the answer and ends the exchange
    // (the client asked to close) while most of it is still queued for the client: the
    // connection must close only once all of it has gone.
    const std::string answer(2 * 1024 * 1024, 'L');
    ScriptedBackend backend([&answer](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = httpResponse(200, answer);
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    std::string received;
    CHECK(readSlowly(gw.port(), "GET /svc/v1/big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false, received) ==
          ReadStatus::Eof);
    const std::size_t bodyAt = received.find("\r\n\r\n");
    REQUIRE(bodyAt != std::string::npos);
    CHECK(received.size() - bodyAt - 4 == answer.size());
}

TEST_CASE("HEAD: no body is relayed, Content-Length passes through, the connection stays in sync")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.method == "HEAD" && r.target == "/nothing") {
            reply.bytes = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";  // a length a 204 must not have
        } else if (r.method == "HEAD") {
            reply.bytes =
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1234\r\nETag: \"v1\"\r\n\r\n";
        } else {
            reply.bytes = httpResponse(200, "full body");
        }
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    auto head = client.exchange(getRequest("/svc/v1/file", {}, "HEAD"));
    REQUIRE_MESSAGE(head, client.error());
    CHECK(head->status == 200);
    CHECK(head->header("Content-Length") == "1234");
    CHECK(head->headerCount("Content-Length") == 1);
    CHECK(head->header("ETag") == "\"v1\"");
    CHECK_FALSE(head->header("Transfer-Encoding"));
    CHECK(head->body.empty());
    // Had the gateway relayed or expected a body, this answer would be out of step.
    auto get = client.exchange(getRequest("/svc/v1/file"));
    REQUIRE_MESSAGE(get, client.error());
    CHECK(get->body == "full body");
    REQUIRE(backend.waitForRequests(2, 2s));
    CHECK(backend.request(0).method == "HEAD");
    CHECK(backend.connectionCount() == 1);  // the upstream connection survived the HEAD too

    // A 204 has no Content-Length (RFC 9110 §8.6), also in answer to HEAD.
    auto none = client.exchange(getRequest("/svc/v1/nothing", {}, "HEAD"));
    REQUIRE_MESSAGE(none, client.error());
    CHECK(none->status == 204);
    CHECK_FALSE(none->header("Content-Length"));

    // A local error answer to HEAD has a length but no body either.
    auto missing = client.exchange(getRequest("/nowhere", {}, "HEAD"));
    REQUIRE_MESSAGE(missing, client.error());
    CHECK(missing->status == 404);
    CHECK(missing->body.empty());
    REQUIRE(missing->header("Content-Length"));
    CHECK(std::stoi(*missing->header("Content-Length")) > 0);
    auto after = client.exchange(getRequest("/svc/v1/file"));
    REQUIRE_MESSAGE(after, client.error());
    CHECK(after->body == "full body");

    // So does one to a HEAD the parser refused after its method: its line or a field was bad.
    for (const auto& [request, status] : std::vector<std::pair<std::string, int>>{
             {"HEAD /svc/v1/file HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400},
             {"HEAD /svc/v1/file HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
             {"HEAD /svc/v1/file HTTP/1.1\r\nHost: a\r\nExpect: more\r\n\r\n", 417},
             {"HEAD /svc/v1/file HTTP/1.2\r\nHost: a\r\n\r\n", 505},
             {"\r\nHEAD /svc/v1/file HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400}}) {  // a blank line first
        CAPTURE(request);
        RawClient refused(gw.port());
        REQUIRE(refused.send(request));
        auto r = refused.read(3s, "HEAD");
        REQUIRE_MESSAGE(r, refused.error());
        CHECK(r->status == status);
        CHECK(r->header("Content-Length"));
        std::string extra;
        CHECK(refused.waitClosed(3s, &extra));  // nothing after the head, then the close
        CHECK(extra.empty());
    }
    // A GET refused the same way has its JSON body.
    RawClient refused(gw.port());
    REQUIRE(refused.send("GET /svc/v1/file HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n"));
    auto json = refused.read(3s);
    REQUIRE_MESSAGE(json, refused.error());
    CHECK(json->errorCode() == 101400);
}

namespace {

// A raw backend answering each request with its body ("got <body>"), for requests with a
// Content-Length; it counts the connections it accepts.
RawBackend bodyEcho()
{
    return RawBackend([](int fd, int) {
        std::string in;
        while (readHead(fd, in, 5s)) {
            const std::size_t end = in.find("\r\n\r\n") + 4;
            const std::size_t at = in.find("Content-Length: ");
            const std::size_t length = at < end ? std::stoul(in.substr(at + 16)) : 0;
            const auto deadline = Clock::now() + 5s;
            while (in.size() < end + length && readSome(fd, in, deadline) == ReadStatus::Data) {
            }
            if (in.size() < end + length) {
                return;
            }
            sendAll(fd, httpResponse(200, "got " + in.substr(end, length)));
            in.erase(0, end + length);
        }
    });
}

}  // namespace

TEST_CASE("request buffering: a short body sent slowly reaches the backend whole, which sees nothing before")
{
    // request_buffer_bytes (64 KiB by default): a client slow to send a short body never holds a
    // backend connection. Longer bodies, and every body with 0, stream.
    struct Case {
        std::string http;
        bool backendWaits;  // the backend has the request (its connection) while the client pauses
    };
    for (const Case& c :
         {Case{"", false}, Case{kStreamEveryBody, true}, Case{R"({"request_buffer_bytes": 8})", true}}) {
        CAPTURE(c.http);
        RawBackend backend = bodyEcho();
        GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
        spec.http = c.http;
        SluicedProcess gw(spec);
        RawClient client(gw.port());
        REQUIRE(client.send("POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234"));
        std::this_thread::sleep_for(400ms);
        CHECK(backend.accepted() == (c.backendWaits ? 1 : 0));
        REQUIRE(client.send("56789"));
        auto r = client.read(5s);
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->body == "got 0123456789");
        // The connection stays in step: the next request on it is answered too.
        auto next = client.exchange(bodyRequest("POST", "/svc/v1/y", "abc"));
        REQUIRE_MESSAGE(next, client.error());
        CHECK(next->body == "got abc");
    }
}

TEST_CASE("request buffering: a client holding a body being read whole costs about one copy of it")
{
    // The body goes straight to its buffer, reserved at the declared length: the input buffer
    // does not hold a second copy (it did: about 112 kB per client for 64 KiB bodies, 69 now).
    RawBackend backend = bodyEcho();
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    constexpr int kClients = 200;
    std::vector<std::unique_ptr<RawClient>> clients;
    const std::string head = "POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n";
    const std::string most(60000, 'b');
    // A first client warms up the worker's per-thread blocks, which are not per client.
    clients.push_back(std::make_unique<RawClient>(gw.port()));
    REQUIRE(clients.back()->send(head + most));
    std::this_thread::sleep_for(200ms);
    const long rssBefore = gw.statusValue("VmRSS");
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<RawClient>(gw.port()));
        REQUIRE(clients.back()->send(head + most));
    }
    std::this_thread::sleep_for(500ms);  // no readiness to wait for: nothing answers a partial body
    const long rssAfter = gw.statusValue("VmRSS");
    const double perClient = static_cast<double>(rssAfter - rssBefore) / kClients;
    INFO("VmRSS " << rssBefore << " kB -> " << rssAfter << " kB: " << perClient << " kB per client");
    CHECK(perClient > 50);  // the bodies did arrive (60,000 bytes each)
    if (kMemoryFiguresHold) {
        CHECK(perClient < 90);
    }
    CHECK(backend.accepted() == 0);
    // Each completes normally.
    REQUIRE(clients[1]->send(std::string(5536, 'e')));
    auto r = clients[1]->read(5s);
    REQUIRE_MESSAGE(r, clients[1]->error());
    CHECK(r->status == 200);
    CHECK(r->body == "got " + most + std::string(5536, 'e'));
}

TEST_CASE("request buffering: a client that stalls in a short body gets 408, and the backend never hears of it")
{
    RawBackend backend = bodyEcho();
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.http = R"({"body_timeout_ms": 300})";
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    REQUIRE(client.send("POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n012"));
    auto r = client.read(5s);
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 408);
    CHECK(r->errorCode() == 101408);
    CHECK(backend.accepted() == 0);
}
