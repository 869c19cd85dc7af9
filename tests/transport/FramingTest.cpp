// Message framing through the gateway: chunked bodies in both directions, HTTP/1.0 clients,
// close-delimited backend answers, Expect: 100-continue, and large bodies streamed with bounded
// memory.
#include <cstdio>
#include <memory>
#include <thread>

#include "TransportTest.h"

using namespace sluice::transport_test;

TEST_CASE("chunked: a streamed chunked request body is re-encoded to the backend without extensions or trailers")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "got " + std::to_string(r.bodyLength) + ":" + r.body);
        return reply;
    });
    // request_buffer_bytes 0: every body streams (a short one is otherwise read whole first).
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", R"({"request_buffer_bytes": 0})"));
    RawClient client(gw.port());
    REQUIRE(
        client.send("POST /svc/v1/up HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n"
                    "Content-Type: text/plain\r\n\r\n5;ext=1\r\nhello\r\n"));
    REQUIRE(client.send("6\r\n world\r\n"));
    REQUIRE(client.send("0\r\nX-Trailer: t\r\n\r\n"));
    auto r = client.read();
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "got 11:hello world");

    REQUIRE(backend.waitForRequests(1, 2s));
    ReceivedRequest up = backend.request(0);
    CHECK(up.chunked);
    CHECK(up.header("Transfer-Encoding") == "chunked");
    CHECK(up.headerCount("Transfer-Encoding") == 1);
    CHECK_FALSE(up.header("Content-Length"));
    CHECK(up.body == "hello world");
    std::string wireBody = up.raw.substr(up.head.size());
    CHECK(wireBody.find("ext=1") == std::string::npos);
    CHECK(wireBody.find("X-Trailer") == std::string::npos);
    CHECK(wireBody.size() >= 5);
    CHECK(wireBody.substr(wireBody.size() - 5) == "0\r\n\r\n");

    // The framing was consumed exactly: the next request on the connection is fine.
    auto next = client.exchange(bodyRequest("POST", "/svc/v1/up", "abc"));
    REQUIRE_MESSAGE(next, client.error());
    CHECK(next->body == "got 3:abc");
}

// As nginx's proxy_request_buffering: a chunked body that ends within request_buffer_bytes is
// read whole first and goes with a Content-Length, so that a failed connection can send it to
// another endpoint; a longer one streams chunked from where the buffer ended.
TEST_CASE("chunked: a short chunked request body is read whole and sent again after a refused connection")
{
    ScriptedBackend backend(lengthAndHash());
    // The first endpoint refuses connections (nothing listens there).
    int refusing = 0;
    {
        RawBackend closed([](int, int) {});
        refusing = closed.port();
    }
    GatewaySpec spec = oneApi("/svc", endpointList({"http://127.0.0.1:" + std::to_string(refusing), backend.url()}),
                              R"("suspension": {"initial_ms": 0})", R"({"request_buffer_bytes": 1024})");
    SluicedProcess gw(spec);

    RawClient client(gw.port());
    REQUIRE(client.send(
        "PUT /svc/v1/up HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
    std::this_thread::sleep_for(100ms);  // the body is not all here when the gateway looks
    REQUIRE(client.send("6\r\n world\r\n0\r\n\r\n"));
    auto r = client.read();
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "got 11:" + std::to_string(hashOf("hello world")));
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK_FALSE(backend.request(0).chunked);
    CHECK(backend.request(0).header("Content-Length") == "11");

    // Longer than request_buffer_bytes: it streams on, chunked, from the first 1 KiB and more.
    const std::string body = pattern(8 * 1024, 7);
    REQUIRE(client.send("PUT /svc/v1/up HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n"));
    REQUIRE(sendChunked(client, body, 1000, 5ms));
    auto streamed = client.read();
    REQUIRE_MESSAGE(streamed, client.error());
    CHECK(streamed->status == 200);
    CHECK(streamed->body == "got 8192:" + std::to_string(hashOf(body)));
    REQUIRE(backend.waitForRequests(2, 2s));
    CHECK(backend.request(1).chunked);

    // Longer than the limit but all in one write, its end included: it streams too (to a
    // gateway whose only endpoint answers: a streamed body is not sent twice).
    SluicedProcess single(oneApi("/svc", endpointList({backend.url()}), "", R"({"request_buffer_bytes": 1024})"));
    RawClient other(single.port());
    const std::string whole = pattern(4000, 9);
    auto once = other.exchange(
        "PUT /svc/v1/up HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        "fa0\r\n" +
        whole + "\r\n0\r\n\r\n");
    REQUIRE_MESSAGE(once, other.error());
    CHECK(once->body == "got 4000:" + std::to_string(hashOf(whole)));
    REQUIRE(backend.waitForRequests(3, 2s));
    CHECK(backend.request(2).chunked);
}

// request_buffering on an API: a backend that cannot read chunked bodies (thin 1.8 reads what
// follows its first read as further requests) never gets one, however long; a body over
// max_body_bytes is still refused, before the backend hears of it.
TEST_CASE("chunked: with request_buffering a long chunked body is read whole and sent with a Content-Length")
{
    ScriptedBackend backend(lengthAndHash());
    GatewaySpec spec;
    spec.apis.emplace_back("whole", apiJson("/whole", endpointList({backend.url()}), R"("request_buffering": true)"));
    spec.apis.emplace_back("streamed", apiJson("/streamed", endpointList({backend.url()})));
    spec.http = R"({"request_buffer_bytes": 1024, "max_body_bytes": 300000})";
    SluicedProcess gw(spec);

    const std::string body = pattern(200 * 1024, 3);
    for (const std::string api : {"/whole", "/streamed"}) {
        CAPTURE(api);
        const std::size_t before = backend.requestCount();
        RawClient client(gw.port());
        REQUIRE(
            client.send("POST " + api + "/v1/up HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n"));
        REQUIRE(sendChunked(client, body, 16000, 2ms));
        auto r = client.read();
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->body == lengthAndHashOf(body));
        REQUIRE(backend.waitForRequests(before + 1, 2s));
        const ReceivedRequest up = backend.request(before);
        if (api == "/whole") {
            CHECK_FALSE(up.chunked);
            CHECK_FALSE(up.header("Transfer-Encoding"));
            CHECK(up.header("Content-Length") == std::to_string(body.size()));
        } else {
            CHECK(up.chunked);  // longer than request_buffer_bytes: streamed
        }
    }

    // Over max_body_bytes: 413, and the backend never hears of it.
    const std::size_t before = backend.requestCount();
    RawClient client(gw.port());
    REQUIRE(client.send("POST /whole/v1/up HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n"));
    const std::string piece(100000, 'x');
    bool refused = false;
    for (int i = 0; i < 4 && !refused; ++i) {
        refused = !client.send("186a0\r\n" + piece + "\r\n");
    }
    auto tooLarge = client.read(5s);
    REQUIRE_MESSAGE(tooLarge, client.error());
    CHECK(tooLarge->status == 413);
    CHECK(backend.requestCount() == before);
}

TEST_CASE("request_buffering: a long Content-Length body sent slowly is read whole before the backend is contacted")
{
    // Without the option a body over request_buffer_bytes streams: the backend is contacted at once.
    const std::string body = pattern(200 * 1024, 5);
    for (const bool buffering : {true, false}) {
        CAPTURE(buffering);
        ScriptedBackend backend(lengthAndHash());
        SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), buffering ? R"("request_buffering": true)" : "",
                                 R"({"request_buffer_bytes": 1024, "max_body_bytes": 300000})"));
        RawClient client(gw.port());
        REQUIRE(client.send("POST /svc/v1/up HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 100000)));
        std::this_thread::sleep_for(300ms);
        CHECK(backend.connectionCount() == (buffering ? 0U : 1U));
        REQUIRE(client.send(body.substr(100000)));
        auto r = client.read();
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->body == lengthAndHashOf(body));
        REQUIRE(backend.waitForRequests(1, 2s));
        CHECK(backend.request(0).header("Content-Length") == std::to_string(body.size()));
    }
}

TEST_CASE("chunked: backend answers reach HTTP/1.1 clients chunked and HTTP/1.0 clients close-delimited")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/chunked") {
            reply.bytes =
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: chunked\r\n\r\n"
                "3;note=x\r\nabc\r\n5\r\ndefgh\r\n0\r\nX-Checksum: 1\r\n\r\n";
        } else if (r.target == "/trickle") {
            reply.bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\npart\r\n";
            reply.later = {{40ms, "4\r\n-two\r\n"}, {40ms, "6\r\n-three\r\n0\r\n\r\n"}};
        } else if (r.target == "/both") {  // chunked wins over Content-Length, and the connection is not reused
            reply.bytes =
                "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
                "4\r\nboth\r\n0\r\n\r\n";
        } else if (r.target == "/length") {
            reply.bytes = httpResponse(200, "exactly 17 bytes!");
        } else {  // "/until-close": no framing at all, the body ends when the backend closes
            reply.bytes = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nread until close";
            reply.close = true;
        }
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));

    RawClient client(gw.port());
    auto chunked = client.exchange(getRequest("/svc/v1/chunked"));
    REQUIRE_MESSAGE(chunked, client.error());
    CHECK(chunked->status == 200);
    CHECK(chunked->framing == HttpResponse::Framing::Chunked);
    CHECK(chunked->body == "abcdefgh");
    CHECK(chunked->header("X-Kind") == "chunked");
    CHECK_FALSE(chunked->header("Content-Length"));

    auto trickle = client.exchange(getRequest("/svc/v1/trickle"));
    REQUIRE_MESSAGE(trickle, client.error());
    CHECK(trickle->framing == HttpResponse::Framing::Chunked);
    CHECK(trickle->body == "part-two-three");

    auto both = client.exchange(getRequest("/svc/v1/both"));
    REQUIRE_MESSAGE(both, client.error());
    CHECK(both->body == "both");
    CHECK_FALSE(both->header("Content-Length"));
    std::size_t connectionsBefore = backend.connectionCount();

    auto length = client.exchange(getRequest("/svc/v1/length"));
    REQUIRE_MESSAGE(length, client.error());
    CHECK(length->framing == HttpResponse::Framing::Length);
    CHECK(length->header("Content-Length") == "17");
    CHECK(length->headerCount("Content-Length") == 1);
    CHECK_FALSE(length->header("Transfer-Encoding"));
    CHECK(length->body == "exactly 17 bytes!");
    CHECK(backend.connectionCount() == connectionsBefore + 1);  // the "both" connection was dropped

    auto untilClose = client.exchange(getRequest("/svc/v1/until-close"));
    REQUIRE_MESSAGE(untilClose, client.error());
    CHECK(untilClose->status == 200);
    CHECK(untilClose->framing == HttpResponse::Framing::Chunked);
    CHECK(untilClose->body == "read until close");
    CHECK_FALSE(untilClose->hasToken("Connection", "close"));
    auto still = client.exchange(getRequest("/svc/v1/length"));  // the client connection lives on
    REQUIRE_MESSAGE(still, client.error());
    CHECK(still->body == "exactly 17 bytes!");

    RawClient old(gw.port());
    auto r10 = old.exchange("GET /svc/v1/chunked HTTP/1.0\r\nHost: gateway.test\r\n\r\n");
    REQUIRE_MESSAGE(r10, old.error());
    CHECK(r10->versionMinor == 1);  // the gateway's version, to a 1.0 client too (RFC 9110 §6.2)
    CHECK(r10->status == 200);
    CHECK(r10->framing == HttpResponse::Framing::Close);
    CHECK_FALSE(r10->header("Transfer-Encoding"));
    CHECK_FALSE(r10->header("Content-Length"));
    CHECK(r10->hasToken("Connection", "close"));
    CHECK(r10->body == "abcdefgh");

    RawClient oldKeepAlive(gw.port());
    auto ka = oldKeepAlive.exchange("GET /svc/v1/chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    REQUIRE_MESSAGE(ka, oldKeepAlive.error());
    CHECK(ka->framing == HttpResponse::Framing::Close);  // no chunked for 1.0: the close ends the body
    CHECK(ka->body == "abcdefgh");
}

TEST_CASE("framing: 204 and 304 answers carry no body and the connection stays in step")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/no-content") {
            reply.bytes = "HTTP/1.1 204 No Content\r\nX-Done: yes\r\n\r\n";
        } else if (r.target == "/not-modified") {
            reply.bytes = "HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\n\r\n";
        } else {
            reply.bytes = httpResponse(200, "plain");
        }
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    auto noContent = client.exchange(bodyRequest("DELETE", "/svc/v1/no-content", ""));
    REQUIRE_MESSAGE(noContent, client.error());
    CHECK(noContent->status == 204);
    CHECK(noContent->header("X-Done") == "yes");
    CHECK_FALSE(noContent->header("Transfer-Encoding"));
    auto notModified = client.exchange(getRequest("/svc/v1/not-modified", {"If-None-Match: \"abc\""}));
    REQUIRE_MESSAGE(notModified, client.error());
    CHECK(notModified->status == 304);
    CHECK(notModified->header("ETag") == "\"abc\"");
    CHECK_FALSE(notModified->header("Transfer-Encoding"));
    auto plain = client.exchange(getRequest("/svc/v1/plain"));
    REQUIRE_MESSAGE(plain, client.error());
    CHECK(plain->body == "plain");
    std::string extra;
    CHECK_FALSE(client.waitClosed(100ms, &extra));
    CHECK(extra.empty());  // no stray bytes (a chunk terminator, say) after the bodiless answers
    CHECK(backend.connectionCount() == 1);
}

TEST_CASE("expect: 100 Continue comes before the body is sent, then the final answer")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "body:" + r.body);
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    REQUIRE(
        client.send("POST /svc/v1/e HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 11\r\n"
                    "Expect: 100-continue\r\n\r\n"));
    auto interim = client.read();
    REQUIRE_MESSAGE(interim, client.error());
    CHECK(interim->status == 100);
    REQUIRE(client.send("hello world"));
    auto final = client.read();
    REQUIRE_MESSAGE(final, client.error());
    CHECK(final->status == 200);
    CHECK(final->body == "body:hello world");
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK_FALSE(backend.request(0).header("Expect"));
    CHECK(backend.request(0).header("Content-Length") == "11");

    // A chunked body may wait for 100 Continue too.
    REQUIRE(
        client.send("PUT /svc/v1/e HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n"
                    "Expect: 100-continue\r\n\r\n"));
    auto interim2 = client.read();
    REQUIRE_MESSAGE(interim2, client.error());
    CHECK(interim2->status == 100);
    REQUIRE(client.send("2\r\nok\r\n0\r\n\r\n"));
    auto final2 = client.read();
    REQUIRE_MESSAGE(final2, client.error());
    CHECK(final2->body == "body:ok");
}

TEST_CASE("expect: a body over max_body_bytes is refused with 413 and no 100 Continue")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", R"({"max_body_bytes": 1000})"));
    RawClient client(gw.port());
    auto r = client.exchange(
        "POST /svc/v1/e HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 5000\r\n"
        "Expect: 100-continue\r\n\r\n");
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 413);
    CHECK(r->errorCode() == 101413);
    CHECK(r->header("Content-Type") == "application/json");
    CHECK(r->hasToken("Connection", "close"));
    CHECK(client.waitClosed(2s));
    CHECK(client.received().find("100 Continue") == std::string::npos);
    CHECK(backend.connectionCount() == 0);

    // No route: no 100 Continue either, and the unread body closes the connection.
    RawClient lost(gw.port());
    auto nf = lost.exchange(
        "POST /nowhere HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 10\r\n"
        "Expect: 100-continue\r\n\r\n");
    REQUIRE_MESSAGE(nf, lost.error());
    CHECK(nf->status == 404);
    CHECK(nf->hasToken("Connection", "close"));
    CHECK(lost.waitClosed(2s));
    CHECK(lost.received().find("100 Continue") == std::string::npos);
}

TEST_CASE("expect: a backend's own 100 Continue is never relayed")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = "HTTP/1.1 100 Continue\r\n\r\n" + httpResponse(200, "after interim " + r.body);
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    auto plain = client.exchange(bodyRequest("POST", "/svc/v1/i", "x"));
    REQUIRE_MESSAGE(plain, client.error());
    CHECK(plain->status == 200);
    CHECK(plain->body == "after interim x");

    REQUIRE(
        client.send("POST /svc/v1/i HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 1\r\n"
                    "Expect: 100-continue\r\n\r\n"));
    auto interim = client.read();
    REQUIRE_MESSAGE(interim, client.error());
    CHECK(interim->status == 100);
    REQUIRE(client.send("y"));
    auto final = client.read();
    REQUIRE_MESSAGE(final, client.error());
    CHECK(final->status == 200);
    CHECK(final->body == "after interim y");
    std::string extra;
    CHECK_FALSE(client.waitClosed(200ms, &extra));  // nothing more arrives: no second 100
    CHECK(extra.empty());
}

TEST_CASE("streaming: a 10 MiB request body passes through with bounded gateway memory")
{
    constexpr std::size_t kSize = 10u << 20;
    BackendOptions options;
    options.storeBodyLimit = 0;
    options.bodyReadDelay = 300ms;  // the gateway must hold back, not buffer
    options.receiveBuffer = 64 * 1024;
    ScriptedBackend backend(
        [](const ReceivedRequest& r) {
            BackendReply reply;
            reply.bytes = httpResponse(200, std::to_string(r.bodyLength) + " " + std::to_string(r.bodyHash));
            return reply;
        },
        options);
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", R"({"max_body_bytes": 67108864})"));
    RawClient client(gw.port());
    auto warm = client.exchange(bodyRequest("POST", "/svc/v1/warm", "x"));
    REQUIRE_MESSAGE(warm, client.error());
    long baseline = gw.statusValue("VmHWM");
    REQUIRE(baseline > 0);

    std::string body = pattern(kSize, 3);
    auto r = client.exchange(bodyRequest("POST", "/svc/v1/big", body), 30s);
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == std::to_string(kSize) + " " + std::to_string(hashOf(body)));

    // The same size again, chunked by the client (re-encoded on the way, never collected).
    std::string chunkedBody = pattern(kSize, 4);
    REQUIRE(client.send("POST /svc/v1/big HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n"));
    REQUIRE(sendChunked(client, chunkedBody, 64 * 1024, 0ms));
    auto c = client.read(30s);
    REQUIRE_MESSAGE(c, client.error());
    CHECK(c->status == 200);
    CHECK(c->body == std::to_string(kSize) + " " + std::to_string(hashOf(chunkedBody)));
    REQUIRE(backend.waitForRequests(3, 2s));
    CHECK(backend.request(2).chunked);

    long peak = gw.statusValue("VmHWM");
    INFO("VmHWM before " << baseline << " kB, after " << peak << " kB");
    CHECK(peak - baseline < 8 * 1024);
}

TEST_CASE("streaming: a 10 MiB response body reaches a slow reader with bounded gateway memory")
{
    constexpr std::size_t kSize = 10u << 20;
    constexpr std::size_t kPiece = 64 * 1024;
    const std::string body = pattern(kSize, 5);
    ScriptedBackend backend([&body](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target != "/big") {
            reply.bytes = httpResponse(200, "small");
            return reply;
        }
        bool chunked = r.header("X-Chunked").has_value();
        reply.bytes = chunked ? std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                              : "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
        auto offset = std::make_shared<std::size_t>(0);
        reply.generate = [&body, offset, chunked](std::string& chunk) {
            if (*offset == body.size()) {
                chunk = "0\r\n\r\n";  // only reached when chunked
                return false;
            }
            std::string_view piece = std::string_view(body).substr(*offset, kPiece);
            *offset += piece.size();
            if (chunked) {
                char size[32];
                std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
                chunk.assign(size).append(piece).append("\r\n");
                return true;
            }
            chunk.assign(piece);
            return *offset < body.size();
        };
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    auto warm = client.exchange(getRequest("/svc/v1/warm"));
    REQUIRE_MESSAGE(warm, client.error());
    long baseline = gw.statusValue("VmHWM");
    REQUIRE(baseline > 0);

    REQUIRE(client.send(getRequest("/svc/v1/big")));
    std::this_thread::sleep_for(400ms);  // a slow reader: the gateway must apply backpressure meanwhile
    auto r = client.read(30s);
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->header("Content-Length") == std::to_string(kSize));
    CHECK(r->body.size() == kSize);
    CHECK(hashOf(r->body) == hashOf(body));

    // Chunked by the backend, relayed chunked, to a reader just as slow.
    REQUIRE(client.send(getRequest("/svc/v1/big", {"X-Chunked: 1"})));
    std::this_thread::sleep_for(400ms);
    auto c = client.read(30s);
    REQUIRE_MESSAGE(c, client.error());
    CHECK(c->status == 200);
    CHECK(c->framing == HttpResponse::Framing::Chunked);
    CHECK(c->body.size() == kSize);
    CHECK(hashOf(c->body) == hashOf(body));

    long peak = gw.statusValue("VmHWM");
    INFO("VmHWM before " << baseline << " kB, after " << peak << " kB");
    CHECK(peak - baseline < 8 * 1024);

    // The connection is still in step afterwards.
    auto after = client.exchange(getRequest("/svc/v1/warm"));
    REQUIRE_MESSAGE(after, client.error());
    CHECK(after->body == "small");
}
