// Request smuggling, path confusion and response desynchronisation, end to end: the real sluiced
// between a raw client and scripted backends. Every ambiguous request is refused with a JSON error
// and the connection closed before anything reaches a backend; every path a backend receives is
// the canonical one inside its API; no backend answer can leave the client connection out of step.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "TransportTest.h"

using namespace sluice::transport_test;
using namespace std::string_literals;

namespace {

const std::string kSmuggled = "GET /svc/v1/smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

// Sends `bytes` followed by a pipelined request on a fresh connection and checks the refusal: the
// status, the JSON error with its stable code, Connection: close, then the connection closed
// without an answer to the pipelined request.
void expectRefused(int port, const std::string& bytes, int status)
{
    RawClient client(port);
    REQUIRE(client.send(bytes + kSmuggled));
    auto r = client.read(3s);
    REQUIRE_MESSAGE(r, client.error() << "; received: " << client.received());
    CHECK(r->status == status);
    CHECK(r->errorCode() == (status == 413 ? 101413 : 101000 + status));
    CHECK(r->header("Content-Type") == "application/json");
    CHECK(r->hasToken("Connection", "close"));
    std::string extra;
    CHECK(client.waitClosed(2s, &extra));
    CHECK(extra.empty());
}

std::string chunkedPost(const std::string& body)
{
    return postRequest({"Host: a", "Transfer-Encoding: chunked"}, body);
}

}  // namespace

TEST_CASE("smuggling: ambiguous framing, bad syntax and odd request lines get 4xx/5xx and a closed connection")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    const std::vector<std::tuple<const char*, std::string, int>> cases = {
        // Transfer-Encoding variants
        {"TE chunked twice in one line", postRequest({"Host: a", "Transfer-Encoding: chunked, chunked"}, "0\r\n\r\n"),
         400},
        {"TE chunked on two lines",
         postRequest({"Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"}, "0\r\n\r\n"), 400},
        {"TE gzip then chunked", postRequest({"Host: a", "Transfer-Encoding: gzip, chunked"}, "0\r\n\r\n"), 501},
        {"TE with vertical tab",
         postRequest({"Host: a",
                      "Transfer-Encoding: \x0b"
                      "chunked"},
                     "0\r\n\r\n"),
         400},
        {"TE identity", postRequest({"Host: a", "Transfer-Encoding: identity"}, "0\r\n\r\n"), 400},
        {"TE chunked then identity line",
         postRequest({"Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: identity"}, "0\r\n\r\n"), 400},
        {"TE xchunked", postRequest({"Host: a", "Transfer-Encoding: xchunked"}, "0\r\n\r\n"), 400},
        {"TE quoted", postRequest({"Host: a", "Transfer-Encoding: \"chunked\""}, "0\r\n\r\n"), 400},
        {"TE in HTTP/1.0", postRequest({"Transfer-Encoding: chunked"}, "0\r\n\r\n", "POST /svc/v1/x HTTP/1.0"), 400},
        {"TE then CL", postRequest({"Host: a", "Transfer-Encoding: chunked", "Content-Length: 5"}, "0\r\n\r\n"), 400},
        {"CL then TE", postRequest({"Host: a", "Content-Length: 5", "Transfer-Encoding: chunked"}, "0\r\n\r\n"), 400},
        {"CL then TE identity", postRequest({"Host: a", "Content-Length: 5", "Transfer-Encoding: identity"}, "hello"),
         400},
        // Content-Length forms
        {"CL +1", postRequest({"Host: a", "Content-Length: +1"}, "x"), 400},
        {"CL 0x10", postRequest({"Host: a", "Content-Length: 0x10"}, "0123456789abcdef"), 400},
        {"CL 1 2", postRequest({"Host: a", "Content-Length:  1 2"}, "x"), 400},
        {"CL 1,1", postRequest({"Host: a", "Content-Length: 1,1"}, "x"), 400},
        {"CL 1, 2", postRequest({"Host: a", "Content-Length: 1, 2"}, "x"), 400},
        {"CL twice equal", postRequest({"Host: a", "Content-Length: 1", "Content-Length: 1"}, "x"), 400},
        {"CL negative", postRequest({"Host: a", "Content-Length: -1"}, "x"), 400},
        {"CL empty", postRequest({"Host: a", "Content-Length:"}, "x"), 400},
        {"CL 2^64", postRequest({"Host: a", "Content-Length: 18446744073709551616"}, "x"), 400},
        {"CL 1e3", postRequest({"Host: a", "Content-Length: 1e3"}, "x"), 400},
        // field syntax
        {"NUL in a field name", postRequest({"Host: a", "X-A\0B: c"s}), 400},
        {"NUL in a field value", postRequest({"Host: a", "X-A: b\0c"s}), 400},
        {"CR in a field value", postRequest({"Host: a", "X-A: b\rContent-Length: 5"}), 400},
        {"bare LF in a field line", postRequest({"Host: a", "X-A: b\nContent-Length: 5"}), 400},
        {"ESC in a field value", postRequest({"Host: a", "X-A: b\x1b[0m"}), 400},
        {"obs-fold", postRequest({"Host: a", "X-A: b", " Content-Length: 5"}), 400},
        {"obs-fold with tab", postRequest({"Host: a", "Transfer-Encoding: identity", "\tchunked"}), 400},
        {"space before colon", postRequest({"Host: a", "Content-Length : 5"}, "hello"), 400},
        {"tab before colon", postRequest({"Host: a", "Transfer-Encoding\t: chunked"}, "0\r\n\r\n"), 400},
        {"non-token name", postRequest({"Host: a", "X[A]: b"}), 400},
        {"quote in name", postRequest({"Host: a", "\"X\": b"}), 400},
        {"empty name", postRequest({"Host: a", ": b"}), 400},
        // request lines
        {"NUL in target", "GET /svc/v1/a\0b HTTP/1.1\r\nHost: a\r\n\r\n"s, 400},
        {"tab in target", "GET /svc/v1/a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"DEL in target", "GET /svc/v1/a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"raw UTF-8 in target", "GET /svc/v1/caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"fragment in target", "GET /svc/v1/a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"HTTP/0.9 style", "GET /svc/v1/x\r\n\r\n", 400},
        {"HTTP/1.10", "GET /svc/v1/x HTTP/1.10\r\nHost: a\r\n\r\n", 400},
        {"lowercase version", "GET /svc/v1/x http/1.1\r\nHost: a\r\n\r\n", 400},
        {"two spaces", "GET  /svc/v1/x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"two spaces before version", "GET /svc/v1/x  HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"tab separators", "GET\t/svc/v1/x\tHTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"trailing space", "GET /svc/v1/x HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
        {"leading space", " GET /svc/v1/x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"authority-form GET", "GET gateway.test:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"asterisk-form GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"missing Host", "GET /svc/v1/x HTTP/1.1\r\n\r\n", 400},
        {"Host with a path", "GET /svc/v1/x HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
        {"Host twice", "GET /svc/v1/x HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
        {"HTTP/2.0", "GET /svc/v1/x HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
        {"CONNECT", "CONNECT backend:80 HTTP/1.1\r\nHost: backend:80\r\n\r\n", 501},
        {"very long method", std::string(9000, 'G') + " /svc/v1/x HTTP/1.1\r\nHost: a\r\n\r\n", 414},
        // expectations
        {"Expect other than 100-continue", postRequest({"Host: a", "Content-Length: 1", "Expect: 100-continuex"}, "x"),
         417},
        {"Expect with a parameter", postRequest({"Host: a", "Content-Length: 1", "Expect: 100-continue;a=b"}, "x"),
         417},
        // chunk-size lines and chunked bodies
        {"chunk size 0x", chunkedPost("0x5\r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk size leading space", chunkedPost(" 5\r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk size trailing space", chunkedPost("5 \r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk size negative", chunkedPost("-5\r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk size 17 digits", chunkedPost("00000000000000005\r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk size LF only", chunkedPost("5\nhello\n0\n\n"), 400},
        {"chunk data without CRLF", chunkedPost("5\r\nhello0\r\n\r\n"), 400},
        {"chunk data longer than declared", chunkedPost("3\r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk extension with CR in quotes", chunkedPost("5;a=\"x\ry\"\r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk extension with LF in quotes", chunkedPost("5;a=\"x\ny\"\r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk extension without a name", chunkedPost("5;=x\r\nhello\r\n0\r\n\r\n"), 400},
        {"trailer Content-Length", chunkedPost("5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"), 400},
        {"trailer Transfer-Encoding", chunkedPost("5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400},
        {"trailer Host", chunkedPost("5\r\nhello\r\n0\r\nHost: evil\r\n\r\n"), 400},
        {"trailer obs-fold", chunkedPost("5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n"), 400},
    };
    for (const auto& [name, bytes, status] : cases) {
        CAPTURE(name);
        expectRefused(gw.port(), bytes, status);
    }
    // No complete request, least of all the pipelined one, ever reached the backend. (A chunked
    // body refused half-way may have had its head sent upstream; that connection was aborted.)
    CHECK(backend.requestCount() == 0);
}

TEST_CASE("smuggling: bytes pipelined behind a refused request are never served")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));

    // A good request, then CL.TE, then the request a front end reading Content-Length would smuggle.
    RawClient client(gw.port());
    REQUIRE(client.send(getRequest("/svc/v1/first") +
                        "POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n"
                        "\r\n0\r\n\r\nG" +
                        kSmuggled));
    auto first = client.read();
    REQUIRE_MESSAGE(first, client.error());
    CHECK(first->status == 200);
    CHECK(first->body == "backend GET /first");
    auto refused = client.read();
    REQUIRE_MESSAGE(refused, client.error());
    CHECK(refused->status == 400);
    CHECK(refused->hasToken("Connection", "close"));
    CHECK(client.waitClosed(2s));

    // A refused path (the head was fine) with a body behind it also ends the connection: the
    // unread body's framing is not trusted for a next request.
    RawClient second(gw.port());
    REQUIRE(second.send("POST /svc/v1/a%2fb HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                        std::to_string(kSmuggled.size()) + "\r\n\r\n" + kSmuggled));
    auto badPath = second.read();
    REQUIRE_MESSAGE(badPath, second.error());
    CHECK(badPath->status == 400);
    CHECK(badPath->errorCode() == 101400);
    CHECK(badPath->hasToken("Connection", "close"));
    CHECK(second.waitClosed(2s));

    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK(backend.requestCount() == 1);
    CHECK(backend.request(0).target == "/first");
}

TEST_CASE("smuggling: accepted framing variants reach the backend re-framed exactly once")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, r.method + " " + r.target + " " + std::to_string(r.bodyLength) + ":" + r.body);
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());

    // Odd case and OWS around "chunked"; upper-case hex; quoted extensions; a harmless trailer.
    auto a = client.exchange(postRequest({"Host: a", "Transfer-Encoding: \tcHuNkEd\t"},
                                         "A;q=\"a;b=c\\\"\"\r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n",
                                         "POST /svc/v1/chunked HTTP/1.1"));
    REQUIRE_MESSAGE(a, client.error());
    CHECK(a->status == 200);
    CHECK(a->body == "POST /chunked 10:0123456789");
    // Leading zeros in Content-Length: the backend gets the plain number.
    auto b = client.exchange(postRequest({"Host: a", "Content-Length: 0005"}, "hello", "POST /svc/v1/zeros HTTP/1.1"));
    REQUIRE_MESSAGE(b, client.error());
    CHECK(b->body == "POST /zeros 5:hello");
    // A GET with a body keeps it (and its framing) rather than leaving it for the next request.
    auto c = client.exchange(postRequest({"Host: a", "Content-Length: " + std::to_string(kSmuggled.size())}, kSmuggled,
                                         "GET /svc/v1/get-with-body HTTP/1.1"));
    REQUIRE_MESSAGE(c, client.error());
    CHECK(c->status == 200);
    CHECK(c->body == "GET /get-with-body " + std::to_string(kSmuggled.size()) + ":" + kSmuggled);

    REQUIRE(backend.waitForRequests(3, 2s));
    CHECK(backend.requestCount() == 3);
    ReceivedRequest up0 = backend.request(0);  // short: read whole, then sent with its length
    CHECK_FALSE(up0.chunked);
    CHECK_FALSE(up0.header("Transfer-Encoding"));
    CHECK(up0.header("Content-Length") == "10");
    CHECK(up0.headerCount("Content-Length") == 1);
    CHECK(up0.raw.find("X-Sum") == std::string::npos);
    CHECK(up0.raw.find("q=") == std::string::npos);
    ReceivedRequest up1 = backend.request(1);
    CHECK(up1.header("Content-Length") == "5");
    CHECK(up1.headerCount("Content-Length") == 1);
    CHECK_FALSE(up1.header("Transfer-Encoding"));
    CHECK(backend.request(2).header("Content-Length") == std::to_string(kSmuggled.size()));
}

TEST_CASE("smuggling: Connection: close wins over keep-alive and nothing after it is served")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    for (const char* connection : {"Connection: keep-alive, close", "Connection: close, keep-alive",
                                   "Connection: Keep-Alive\r\nConnection: CLOSE"}) {
        CAPTURE(connection);
        RawClient client(gw.port());
        REQUIRE(client.send(getRequest("/svc/v1/closing", {connection}) + getRequest("/svc/v1/after")));
        auto r = client.read();
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->hasToken("Connection", "close"));
        std::string extra;
        CHECK(client.waitClosed(2s, &extra));
        CHECK(extra.empty());
    }
    // HTTP/1.0 without keep-alive closes too.
    RawClient old(gw.port());
    REQUIRE(old.send("GET /svc/v1/old HTTP/1.0\r\n\r\n" + getRequest("/svc/v1/after")));
    auto r = old.read();
    REQUIRE_MESSAGE(r, old.error());
    CHECK(r->status == 200);
    CHECK(old.waitClosed(2s));
    REQUIRE(backend.waitForRequests(4, 2s));
    CHECK(backend.requestCount() == 4);
    for (const auto& up : backend.requests()) {
        CHECK(up.target != "/after");
    }
}

TEST_CASE("smuggling: Upgrade and h2c are not tunnelled, and a 101 from the backend is refused")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/switch") {
            reply.bytes = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
            reply.close = true;
        } else {
            reply.bytes = httpResponse(200, "plain " + r.target);
        }
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), kNoSuspension));
    RawClient client(gw.port());
    auto h2c = client.exchange(getRequest("/svc/v1/h2c", {"Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
                                                          "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"}));
    REQUIRE_MESSAGE(h2c, client.error());
    CHECK(h2c->status == 200);
    CHECK(h2c->body == "plain /h2c");
    CHECK_FALSE(h2c->header("Upgrade"));
    auto ws = client.exchange(
        getRequest("/svc/v1/ws", {"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}));
    REQUIRE_MESSAGE(ws, client.error());
    CHECK(ws->status == 200);
    REQUIRE(backend.waitForRequests(2, 2s));
    for (std::size_t i = 0; i < 2; ++i) {
        ReceivedRequest up = backend.request(i);
        CHECK_FALSE(up.header("Upgrade"));
        CHECK_FALSE(up.header("HTTP2-Settings"));
        CHECK_FALSE(up.header("Connection").value_or("").find("pgrade") != std::string::npos);
    }

    // The backend switches protocols anyway: the client gets a 502, not a tunnel, and bytes it
    // sends afterwards are read as HTTP again.
    auto sw = client.exchange(getRequest("/svc/v1/switch", {"Connection: Upgrade", "Upgrade: websocket"}));
    REQUIRE_MESSAGE(sw, client.error());
    CHECK(sw->status == 502);
    CHECK(sw->errorCode() == 101502);
    RawClient fresh(gw.port());
    auto after = fresh.exchange(getRequest("/svc/v1/after"));
    REQUIRE_MESSAGE(after, fresh.error());
    CHECK(after->body == "plain /after");
}

TEST_CASE("smuggling: unknown and lowercase methods never reach the backend, absolute-form wins over Host")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    for (const char* method : {"get", "Get", "PURGE", "TRACE"}) {
        CAPTURE(method);
        auto r = client.exchange(getRequest("/svc/v1/x", {}, method));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 405);
        CHECK(r->errorCode() == 900907);
    }
    // OPTIONS * is well-formed but names no API: refused, the connection stays usable.
    auto star = client.exchange("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    REQUIRE_MESSAGE(star, client.error());
    CHECK(star->status == 400);
    CHECK(star->errorCode() == 101400);
    CHECK(backend.requestCount() == 0);

    auto abs = client.exchange("GET http://public.example/svc/v1/abs?x=1 HTTP/1.1\r\nHost: internal.example\r\n\r\n");
    REQUIRE_MESSAGE(abs, client.error());
    CHECK(abs->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    ReceivedRequest up = backend.request(0);
    CHECK(up.target == "/abs?x=1");
    CHECK(up.header("Host") == backend.hostPort());
    CHECK(up.headerCount("Host") == 1);
    CHECK(up.header("X-Forwarded-Host") == "public.example");
    CHECK(up.raw.find("internal.example") == std::string::npos);
}

TEST_CASE("path confusion: the backend receives exactly the canonical path inside its API")
{
    ScriptedBackend api(echo("api"));
    ScriptedBackend admin(echo("admin"));
    GatewaySpec spec;
    spec.apis.emplace_back("api", apiJson("/api", endpointList({api.url("/base")}), R"("default_version": true)"));
    spec.apis.emplace_back("admin",
                           apiJson("/admin", endpointList({admin.url("/internal")}), R"("default_version": true)"));
    SluicedProcess gw(spec);

    // Accepted: what the API's backend receives.
    const std::vector<std::pair<std::string, std::string>> accepted = {
        {"/api/v1/a/./b/../c", "/base/a/c"},
        {"/api/v1/a/%2e%2E/c", "/base/c"},
        {"/api/v1//a//b//", "/base/a/b/"},
        {"/api/v1/x.", "/base/x."},
        {"/api/v1/items;jsessionid=1", "/base/items;jsessionid=1"},
        {"/api/v1/files/%252e%252e/%252f", "/base/files/%252e%252e/%252f"},
        {"/api/v1/caf%c3%a9", "/base/caf%C3%A9"},
        {"/api/v1/latin%e9", "/base/latin%E9"},
        {"/api/v1/%7Euser/%41", "/base/~user/A"},
        {"/api/v1/q%3fx=1?y=%3F&z=%2F..%2F&w=a%20b&dup=1&dup=2", "/base/q%3Fx=1?y=%3F&z=%2F..%2F&w=a%20b&dup=1&dup=2"},
        {"/api/v1/q?a=/../admin&b=\\&c={}|^`\"<>", "/base/q?a=/../admin&b=\\&c={}|^`\"<>"},
        {"/api/v1/empty?", "/base/empty"},
        {"/api/x/../y", "/base/y"},
        // Stays in the same API: "/api" is its default-version form, so this is "/api/v2/x".
        {"/api/v1/../v2/x", "/base/v2/x"},
        {"http://elsewhere.example/api/v1/abs/../p?q", "/base/p?q"},
    };
    RawClient client(gw.port());
    for (std::size_t i = 0; i < accepted.size(); ++i) {
        const auto& [sent, expected] = accepted[i];
        CAPTURE(sent);
        auto r = client.exchange(getRequest(sent));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->body == "api GET " + expected);
        REQUIRE(api.waitForRequests(i + 1, 2s));
        CHECK(api.request(i).target == expected);
    }

    // Refused with 400: never reaches either backend. Paths that resolve out of /api/v1 (into
    // /admin, into another version, or back into /api) and malformed ones.
    const std::vector<std::pair<std::string, std::vector<int>>> refused = {
        {"/api/v1/../../admin/v1/secret", {400}},
        {"/api/v1/../../admin/secret", {400}},
        {"/api/v1/%2e%2e/%2E%2E/admin/secret", {400}},
        {"/api/v1/.%2e/%2e./admin/secret", {400}},
        {"/api/v1/x/../../../admin/secret", {400}},
        {"/api/../admin/secret", {400}},
        {"http://elsewhere.example/api/v1/../../admin/secret", {400}},
        {"/api/v1/..;/..;/admin/secret", {400}},
        {"/api/v1/..;jsessionid=x/..;/admin/secret", {400}},
        {"/api/v1/%2e%2e;/admin", {400}},
        {"/api/v1/..%2f..%2fadmin/secret", {400}},
        {"/api/v1/..%2F..%2Fadmin/secret", {400}},
        {"/api/v1/..\\..\\admin\\secret", {400}},
        {"/api/v1/..%5c..%5cadmin", {400}},
        {"/api/v1/a%00.json", {400}},
        {"/api/v1/%c0%ae%c0%ae/%c0%ae%c0%ae/admin", {400}},
        {"/api/v1/%c0%af", {400}},
        {"/api/v1/%e0%80%af", {400}},
        {"/api/v1/%f8%80%80%80%af", {400}},
        {"/api/v1/%u002e%u002e/admin", {400}},
        {"/api/v1/%zz", {400}},
        {"/api/v1/../../../etc/passwd", {400}},
        {"/%2e%2e/admin/secret", {400}},
        {"/API/v1/x", {404}},
        {"/Api/x", {404}},
    };
    for (const auto& [sent, statuses] : refused) {
        CAPTURE(sent);
        RawClient c(gw.port());
        auto r = c.exchange(getRequest(sent));
        REQUIRE_MESSAGE(r, c.error());
        CHECK(std::find(statuses.begin(), statuses.end(), r->status) != statuses.end());
        CHECK(r->header("Content-Type") == "application/json");
        CHECK((r->errorCode() == 101400 || r->errorCode() == 900906));
    }
    // Direct requests to /admin still work: the refusals above were about the path, not /admin.
    auto direct = client.exchange(getRequest("/admin/v1/secret"));
    REQUIRE_MESSAGE(direct, client.error());
    CHECK(direct->body == "admin GET /internal/secret");
    REQUIRE(admin.waitForRequests(1, 2s));
    CHECK(admin.requestCount() == 1);
    CHECK(api.requestCount() == accepted.size());
    for (const auto& up : api.requests()) {
        CHECK(up.target.rfind("/base/", 0) == 0);
    }
}

TEST_CASE("response desync: odd backend framing never leaves the client connection out of step")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        const std::string& t = r.target;
        if (t == "/cl-te") {
            reply.bytes =
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5\r\nhello\r\n0\r\n\r\n";
        } else if (t == "/dup-cl") {
            reply.bytes = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello";
        } else if (t == "/two-cl") {
            reply.bytes = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhello";
        } else if (t == "/cl-list") {
            reply.bytes = "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello";
        } else if (t == "/te-10") {
            reply.bytes = "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        } else if (t == "/te-gzip") {
            reply.bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        } else if (t == "/interim") {
            reply.bytes = "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n" +
                          httpResponse(200, "final");
        } else if (t == "/no-content") {
            reply.bytes = "HTTP/1.1 204 No Content\r\nContent-Length: 42\r\n\r\n" + httpResponse(200, "injected");
        } else if (t == "/not-modified") {
            reply.bytes =
                "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n" + httpResponse(200, "injected");
        } else if (t == "/head") {
            reply.bytes = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected";
        } else if (t == "/until-close") {
            reply.bytes = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nread to the end";
            reply.close = true;
        } else {
            reply.bytes = httpResponse(200, "ok " + t);
        }
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), kNoSuspension));

    // Each exchange is followed by a plain one on the same client connection: had anything of the
    // odd answer been left over or mis-framed, that second answer would be wrong.
    auto thenPlain = [&](RawClient& client, const std::string& label) {
        auto next = client.exchange(getRequest("/svc/v1/plain-" + label));
        REQUIRE_MESSAGE(next, client.error());
        CHECK(next->status == 200);
        CHECK(next->body == "ok /plain-" + label);
    };
    RawClient client(gw.port());

    auto clte = client.exchange(getRequest("/svc/v1/cl-te"));
    REQUIRE_MESSAGE(clte, client.error());
    CHECK(clte->status == 200);
    CHECK(clte->body == "hello");  // chunked wins (RFC 9112 section 6.3), relayed with one framing
    CHECK(clte->headerCount("Content-Length") + clte->headerCount("Transfer-Encoding") == 1);
    thenPlain(client, "cl-te");

    for (const char* target : {"/dup-cl", "/two-cl", "/cl-list", "/te-10", "/te-gzip"}) {
        CAPTURE(target);
        auto r = client.exchange(getRequest("/svc/v1"s + target));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 502);
        CHECK(r->errorCode() == 101502);
        thenPlain(client, target + 1);
    }

    auto interim = client.exchange(getRequest("/svc/v1/interim"));
    REQUIRE_MESSAGE(interim, client.error());
    CHECK(interim->status == 200);  // interim answers are the gateway's business, not relayed
    CHECK(interim->body == "final");
    thenPlain(client, "interim");

    auto noContent = client.exchange(getRequest("/svc/v1/no-content"));
    REQUIRE_MESSAGE(noContent, client.error());
    CHECK(noContent->status == 204);
    CHECK(noContent->body.empty());
    thenPlain(client, "no-content");

    auto notModified = client.exchange(getRequest("/svc/v1/not-modified"));
    REQUIRE_MESSAGE(notModified, client.error());
    CHECK(notModified->status == 304);
    CHECK(notModified->body.empty());
    CHECK_FALSE(notModified->header("Transfer-Encoding"));
    thenPlain(client, "not-modified");

    auto head = client.exchange(getRequest("/svc/v1/head", {}, "HEAD"));
    REQUIRE_MESSAGE(head, client.error());
    CHECK(head->status == 200);
    CHECK(head->body.empty());
    thenPlain(client, "head");

    auto untilClose = client.exchange(getRequest("/svc/v1/until-close"));
    REQUIRE_MESSAGE(untilClose, client.error());
    CHECK(untilClose->status == 200);
    CHECK(untilClose->body == "read to the end");
    CHECK(untilClose->framing == HttpResponse::Framing::Chunked);  // re-framed for a 1.1 client
    thenPlain(client, "until-close");

    std::string extra;
    CHECK_FALSE(client.waitClosed(100ms, &extra));
    CHECK(extra.empty());
    CHECK(client.received().find("injected") == std::string::npos);
}

TEST_CASE("response desync: a backend's broken chunking ends the client connection mid-body")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/bad-size") {
            reply.bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n";
        } else if (r.target == "/no-crlf") {
            reply.bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello0\r\n\r\n";
        } else {
            reply.bytes = httpResponse(200, "ok");
        }
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), kNoSuspension));
    for (const char* target : {"/bad-size", "/no-crlf"}) {
        CAPTURE(target);
        RawClient client(gw.port());
        REQUIRE(client.send(getRequest("/svc/v1"s + target) + getRequest("/svc/v1/next")));
        // The head and the good part of the body were relayed as they came; then the connection
        // ends without a last chunk, so the client cannot take the answer for a complete one, and
        // the pipelined request is never answered.
        auto r = client.read(3s);
        CHECK_FALSE(r);
        CHECK(client.received().find("0\r\n\r\n") == std::string::npos);
        CHECK(client.received().find("HTTP/1.1", 1) == std::string::npos);
        CHECK(client.waitClosed(3s));
    }
    for (const auto& up : backend.requests()) {
        CHECK(up.target != "/next");
    }
}

// After the last chunk every byte of the body is known: a trailer section that is bad (a field that
// would frame or route the message, a malformed line, too large) is dropped with the rest of the
// trailers, and the client gets the whole answer. Where the backend's message ends is in doubt, so
// its connection is not reused.
TEST_CASE("response desync: a bad trailer section after the last chunk is dropped and the answer completes")
{
    const std::map<std::string, std::string> trailers = {
        {"/cl", "Content-Length: 9\r\n"},
        {"/te", "Transfer-Encoding: chunked\r\n"},
        {"/host", "Host: evil\r\n"},
        {"/no-colon", "this is not a field\r\n"},
        {"/huge", "X-Big: " + std::string(20000, 'b') + "\r\n"},
    };
    ScriptedBackend backend([&trailers](const ReceivedRequest& r) {
        BackendReply reply;
        const auto t = trailers.find(r.target);
        if (t != trailers.end()) {
            reply.bytes =
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n" + t->second + "\r\n";
        } else {
            reply.bytes = httpResponse(200, "next on " + std::to_string(r.connection));
        }
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), kNoSuspension));
    RawClient client(gw.port());
    for (const auto& [target, trailer] : trailers) {
        CAPTURE(target);
        REQUIRE(client.send(getRequest("/svc/v1" + target) + getRequest("/svc/v1/next")));
        auto r = client.read(3s);
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->body == "hello");
        CHECK(r->headerCount("Content-Length") == 0);
        CHECK(r->headerCount("Host") == 0);
        // The client's connection goes on; the next request went on a new backend connection.
        auto next = client.read(3s);
        REQUIRE_MESSAGE(next, client.error());
        const auto served = backend.requests();
        REQUIRE(served.size() >= 2);
        CHECK(served[served.size() - 2].target == target);
        CHECK(served.back().target == "/next");
        CHECK(served.back().connection != served[served.size() - 2].connection);
        CHECK(next->body == "next on " + std::to_string(served.back().connection));
    }
    CHECK(client.received().find("evil") == std::string::npos);
    CHECK(client.received().find("bbbb") == std::string::npos);
}

namespace {

const std::string kPoison = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Poison: yes\r\n\r\nPOISONED";

// A response of exactly `total` bytes (head included) with the body "AAA…".
std::string responseOfSize(std::size_t total)
{
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 00000\r\n\r\n";
    const std::size_t body = total - head.size();
    std::string length = std::to_string(body);
    head.replace(head.find("00000"), 5, std::string(5 - length.size(), '0') + length);
    return head + std::string(body, 'A');
}

}  // namespace

TEST_CASE("smuggling: bytes after a response that ends where a read ended never answer the next request")
{
    // The backend sends a response of exactly the gateway's 64 KiB read size followed by a
    // second response in the same write. With edge-triggered events nothing reports those
    // bytes again: a pooled connection must be looked at before it is reused (RFC 9112 §6.3).
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = r.target == "/exact" ? responseOfSize(64 * 1024) + kPoison : httpResponse(200, "real");
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), kNoSuspension));
    for (int round = 0; round < 5; ++round) {
        CAPTURE(round);
        RawClient attacker(gw.port());
        auto first = attacker.exchange(getRequest("/svc/v1/exact"));
        REQUIRE_MESSAGE(first, attacker.error());
        CHECK(first->status == 200);
        std::this_thread::sleep_for(50ms);
        RawClient victim(gw.port());
        auto next = victim.exchange(getRequest("/svc/v1/next"));
        REQUIRE_MESSAGE(next, victim.error());
        CHECK(next->body == "real");
        CHECK_FALSE(next->header("X-Poison").has_value());
    }
}

TEST_CASE("smuggling: a backend that answered before the request body ended is not reused")
{
    // The backend answers as soon as it has the head, then sends a second response while the
    // gateway still forwards the body: as a backend does that takes the body's bytes for a
    // request of its own. Its connection must not carry the next client's request.
    RawBackend backend([](int fd, int number) {
        std::string in;
        readHead(fd, in, 5s);
        if (number == 1) {
            sendAll(fd, httpResponse(200, "early"));
            std::this_thread::sleep_for(100ms);
            sendAll(fd, kPoison);  // the answer to "the request" in the body
        } else {
            sendAll(fd, httpResponse(200, "fresh"));
        }
        const auto deadline = Clock::now() + 5s;
        while (readSome(fd, in, deadline) == ReadStatus::Data) {
        }
    });
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}), kNoSuspension);
    spec.http = kStreamEveryBody;
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    REQUIRE(client.send("POST /svc/v1/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"));
    auto early = client.read(3s);
    REQUIRE_MESSAGE(early, client.error());
    CHECK(early->body == "early");
    std::this_thread::sleep_for(300ms);  // the second response is in the gateway's socket now
    REQUIRE(client.send("0123456789"));
    std::this_thread::sleep_for(100ms);

    RawClient victim(gw.port());
    auto next = victim.exchange(getRequest("/svc/v1/next"));
    REQUIRE_MESSAGE(next, victim.error());
    CHECK(next->body == "fresh");
    CHECK_FALSE(next->header("X-Poison").has_value());
    CHECK(backend.accepted() == 2);
}

TEST_CASE(
    "smuggling: an early answer a response handler holds ends the client's connection, and the rest of the body is "
    "never a request")
{
    // The backend answers after five body bytes. A handler that takes the whole response body
    // makes the gateway stop forwarding the request body there: the rest of it, whatever it
    // looks like, must never be read as a request of its own.
    std::atomic<int> requestsSeen{0};
    RawBackend backend([&requestsSeen](int fd, int) {
        std::string in;
        while (readHead(fd, in, 5s)) {
            ++requestsSeen;
            const std::size_t end = in.find("\r\n\r\n") + 4;
            const auto deadline = Clock::now() + 5s;
            while (in.size() < end + 5 && readSome(fd, in, deadline) == ReadStatus::Data) {
            }
            sendAll(fd, httpResponse(200, "early"));
            in.clear();
        }
    });
    const std::string inner = "GET /svc/v1/smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    GatewaySpec spec = oneApi(
        "/svc", endpointList({backend.url()}),
        std::string(kNoSuspension) +
            R"(, "handlers": [{"component": "lua_mediation_response_body", "config": )"
            R"({"source": "function on_response(ctx) ctx.response.set_body(ctx.response.get_body():upper()) end"}}])");
    spec.http = kStreamEveryBody;
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    REQUIRE(client.send("POST /svc/v1/upload HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                        std::to_string(5 + inner.size()) + "\r\n\r\n12345"));
    auto answer = client.read(3s);
    REQUIRE_MESSAGE(answer, client.error());
    CHECK(answer->status == 200);
    CHECK(answer->body == "EARLY");
    CHECK(answer->hasToken("Connection", "close"));
    client.send(inner);  // the rest of the body
    std::string extra;
    CHECK(client.waitClosed(3s, &extra));
    CHECK(extra.empty());  // no second answer
    CHECK(requestsSeen.load() == 1);
}

TEST_CASE("smuggling: a body on GET, HEAD, DELETE or OPTIONS gets a backend connection of its own")
{
    // Like Python's http.server: the backend answers GET/HEAD/DELETE/OPTIONS without reading a
    // body and takes what follows the head for its next request. A client's body "GET /admin
    // ... X-Ignore: " would, on a pooled connection, become a request outside the API's
    // resources whose answer goes to the next client (audit M).
    std::mutex mutex;
    std::vector<std::string> heads;
    RawBackend backend([&](int fd, int) {
        std::string in;
        while (readHead(fd, in, 5s)) {
            const std::size_t end = in.find("\r\n\r\n") + 4;
            const std::string head = in.substr(0, end);
            in.erase(0, end);  // the body, unread, is the start of the next "request"
            {
                std::lock_guard<std::mutex> lock(mutex);
                heads.push_back(head);
            }
            const bool secret = head.rfind("GET /admin", 0) == 0;
            sendAll(fd, httpResponse(200, secret ? "SECRET" : "public"));
            if (head.find("\r\nConnection: close\r\n") != std::string::npos) {
                return;
            }
        }
    });
    const std::string resources = R"([{"uri_template": "/public/*", "methods": ["GET", "HEAD", "DELETE", "OPTIONS"]}])";
    GatewaySpec spec;
    spec.apis.emplace_back("svc", apiJson("/svc", endpointList({backend.url()}), "", resources));
    SluicedProcess gw(spec);
    const std::string smuggled = "GET /admin/secret HTTP/1.1\r\nX-Ignore: ";
    char chunkSize[16];
    std::snprintf(chunkSize, sizeof chunkSize, "%zx", smuggled.size());
    for (const std::string method : {"GET", "HEAD", "DELETE", "OPTIONS"}) {
        CAPTURE(method);
        RawClient attacker(gw.port());
        auto carrier = attacker.exchange(method + " /svc/v1/public/x HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                                         std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled);
        REQUIRE_MESSAGE(carrier, attacker.error());
        CHECK(carrier->status == 200);
        RawClient victim(gw.port());
        auto next = victim.exchange(getRequest("/svc/v1/public/y", {"Cookie: session=victim"}));
        REQUIRE_MESSAGE(next, victim.error());
        CHECK(next->body == "public");
        // And the same on the attacker's own connection, chunked this time.
        auto chunked =
            attacker.exchange(method + " /svc/v1/public/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
                              chunkSize + "\r\n" + smuggled + "\r\n0\r\n\r\n");
        REQUIRE_MESSAGE(chunked, attacker.error());
        auto again = attacker.exchange(getRequest("/svc/v1/public/z"));
        REQUIRE_MESSAGE(again, attacker.error());
        CHECK(again->body == "public");
    }
    std::lock_guard<std::mutex> lock(mutex);
    for (const std::string& head : heads) {
        CAPTURE(head);
        CHECK(head.rfind("GET /admin", 0) != 0);
        const bool hasBody = head.find("Content-Length: 0\r\n") == std::string::npos &&
                             (head.find("Content-Length:") != std::string::npos ||
                              head.find("Transfer-Encoding: chunked") != std::string::npos);
        CHECK(hasBody == (head.find("\r\nConnection: close\r\n") != std::string::npos));
    }
    CHECK(heads.size() == 16);
    CHECK(backend.accepted() >= 9);  // one for each of the 8 requests with a body, and the others
}
