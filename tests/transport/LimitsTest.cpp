// The client side's defences: strict parsing, size limits, timeouts, connection limits, and slow
// clients that must not hold up anybody else. Every refusal is a JSON error with a stable code,
// and a refused connection is closed.
#include <unistd.h>

#include <thread>
#include <tuple>
#include <vector>

#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

// Small limits so that each one is easy to cross.
const std::string kTightLimits = R"({"max_request_line": 256, "max_header_bytes": 1024, "max_headers": 10,
    "max_body_bytes": 1024, "header_timeout_ms": 300, "body_timeout_ms": 300, "keepalive_timeout_ms": 300,
    "max_requests_per_connection": 3})";

// Sends `bytes` on a fresh connection and checks the refusal: status, JSON code, Connection: close,
// and the connection closed afterwards.
void expectRefusal(int port, const std::string& bytes, int status, long long code)
{
    RawClient client(port);
    REQUIRE(client.send(bytes));
    auto r = client.read(3s);
    REQUIRE_MESSAGE(r, client.error() << "; received: " << client.received());
    CHECK(r->status == status);
    CHECK(r->errorCode() == code);
    CHECK(r->header("Content-Type") == "application/json");
    CHECK(r->hasToken("Connection", "close"));
    CHECK(client.waitClosed(2s));
}

}  // namespace

TEST_CASE("limits: malformed request heads and bodies get 400 and the connection is closed")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", kTightLimits));
    const std::vector<std::pair<const char*, std::string>> cases = {
        {"bare LF", "GET /svc/v1/x HTTP/1.1\nHost: a\n\n"},
        {"bare LF in a field line", "GET /svc/v1/x HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n"},
        {"obs-fold", "GET /svc/v1/x HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n"},
        {"space before colon", "GET /svc/v1/x HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n"},
        {"invalid field name", "GET /svc/v1/x HTTP/1.1\r\nHost: a\r\nX@A: b\r\n\r\n"},
        {"missing Host", "GET /svc/v1/x HTTP/1.1\r\nAccept: */*\r\n\r\n"},
        {"two Hosts", "GET /svc/v1/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
        {"Content-Length and Transfer-Encoding",
         "POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        {"two Content-Lengths",
         "POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
        {"signed Content-Length", "POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello"},
        {"chunked not last", "POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n"},
        {"Transfer-Encoding in HTTP/1.0", "POST /svc/v1/x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        {"bad chunk size",
         "POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
        {"chunk size with 0x",
         "POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"},
        {"chunk without CRLF",
         "POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"},
    };
    for (const auto& [name, bytes] : cases) {
        CAPTURE(name);
        expectRefusal(gw.port(), bytes, 400, 101400);
    }
    // Other refusals the parser makes, each with its own status.
    expectRefusal(gw.port(), "GET /svc/v1/x HTTP/2.0\r\nHost: a\r\n\r\n", 505, 101505);
    expectRefusal(gw.port(), "POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
                  101501);
    expectRefusal(gw.port(), "GET /svc/v1/x HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", 417, 101417);
    CHECK(backend.requestCount() == 0);
}

TEST_CASE("limits: 414 for a long request line, 431 for big or many headers, 413 for big bodies")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", kTightLimits));
    expectRefusal(gw.port(), "GET /svc/v1/" + std::string(300, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, 101414);
    expectRefusal(gw.port(), "GET /svc/v1/x HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(1100, 'b') + "\r\n\r\n", 431,
                  101431);
    std::string many = "GET /svc/v1/x HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 12; ++i) {
        many += "X-H" + std::to_string(i) + ": v\r\n";
    }
    expectRefusal(gw.port(), many + "\r\n", 431, 101431);
    expectRefusal(gw.port(), "POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 2048\r\n\r\n", 413, 101413);
    // A chunked body crosses the limit in its second chunk.
    expectRefusal(gw.port(),
                  "POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" +
                      std::string(1024, 'c') + "\r\n1\r\nx\r\n0\r\n\r\n",
                  413, 101413);
    CHECK(backend.requestCount() == 0);

    // Exactly at the limits is fine.
    RawClient client(gw.port());
    auto atLimit = client.exchange(bodyRequest("POST", "/svc/v1/x", std::string(1024, 'd')));
    REQUIRE_MESSAGE(atLimit, client.error());
    CHECK(atLimit->status == 200);
    std::string tenHeaders = "GET /svc/v1/y HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 9; ++i) {
        tenHeaders += "X-H" + std::to_string(i) + ": v\r\n";
    }
    auto tenFields = client.exchange(tenHeaders + "\r\n");
    REQUIRE_MESSAGE(tenFields, client.error());
    CHECK(tenFields->status == 200);
    CHECK(backend.waitForRequests(2, 2s));
}

TEST_CASE("limits: a path over 8 KiB once its escapes are written out gets 414, and more than 32 '..' segments 400")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    RawClient client(gw.port());
    // '[' is taken and written "%5B": 2,700 of them make a path of 8,108 bytes, 2,800 one of 8,408.
    auto fits = client.exchange(getRequest("/svc/v1/" + std::string(2700, '[')));
    REQUIRE_MESSAGE(fits, client.error());
    CHECK(fits->status == 200);
    auto over = client.exchange(getRequest("/svc/v1/" + std::string(2800, '[')));
    REQUIRE_MESSAGE(over, client.error());
    CHECK(over->status == 414);
    CHECK(over->errorCode() == 101414);
    std::string dots = "/svc/v1";
    for (int i = 0; i < 33; ++i) {
        dots += "/a/..";
    }
    auto many = client.exchange(getRequest(dots + "/x"));
    REQUIRE_MESSAGE(many, client.error());
    CHECK(many->status == 400);
    CHECK(backend.requestCount() == 1);
}

TEST_CASE("limits: after a 413 the gateway keeps reading the refused body for a while, so the client is not reset")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", kTightLimits));
    RawClient client(gw.port());
    // The head announces more than max_body_bytes and much of the body follows at once: the
    // answer goes out while those bytes are still unread. Closing then would reset the
    // connection (the client's next write fails, and some stacks drop the unread answer).
    const std::string head = "POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n";
    REQUIRE(client.send(head + std::string(200 * 1024, 'b')));
    auto r = client.read(3s);
    REQUIRE_MESSAGE(r, client.error() << "; received: " << client.received());
    CHECK(r->status == 413);
    CHECK(r->errorCode() == 101413);
    CHECK(r->hasToken("Connection", "close"));
    // The client goes on sending its body: the gateway discards it instead of resetting.
    for (int i = 0; i < 4; ++i) {
        CHECK(client.send(std::string(64 * 1024, 'c')));
    }
    // When the client is done, the gateway closes its side too.
    client.shutdownWrite();
    CHECK(client.waitClosed(3s));
    CHECK(backend.requestCount() == 0);
}

TEST_CASE("timeouts: 408 when the head or the body stalls, an idle keep-alive connection closes silently")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", kTightLimits));

    RawClient halfHead(gw.port());
    auto start = Clock::now();
    REQUIRE(halfHead.send("GET /svc/v1/x HTTP/1.1\r\nHost: a\r\n"));
    auto r = halfHead.read(3s);
    REQUIRE_MESSAGE(r, halfHead.error());
    CHECK(r->status == 408);
    CHECK(r->errorCode() == 101408);
    CHECK(r->hasToken("Connection", "close"));
    CHECK(millisSince(start) >= 250);
    CHECK(halfHead.waitClosed(2s));

    RawClient halfBody(gw.port());
    start = Clock::now();
    REQUIRE(halfBody.send("POST /svc/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789"));
    auto b = halfBody.read(3s);
    REQUIRE_MESSAGE(b, halfBody.error());
    CHECK(b->status == 408);
    CHECK(b->errorCode() == 101408);
    CHECK(b->hasToken("Connection", "close"));
    CHECK(millisSince(start) >= 250);
    CHECK(halfBody.waitClosed(2s));
    CHECK(backend.requestCount() == 0);

    // A stalled HEAD gets its 408 without content; a stalled GET after a HEAD on the same
    // connection gets its JSON.
    RawClient stalledHead(gw.port());
    REQUIRE(stalledHead.send("HEAD /svc/v1/x HTTP/1.1\r\nHost: a\r\n"));
    auto h = stalledHead.read(3s, "HEAD");
    REQUIRE_MESSAGE(h, stalledHead.error());
    CHECK(h->status == 408);
    std::string afterHeadBytes;
    CHECK(stalledHead.waitClosed(2s, &afterHeadBytes));  // nothing after the head, then the close
    CHECK(afterHeadBytes.empty());
    RawClient afterHead(gw.port());
    auto head = afterHead.exchange(getRequest("/svc/v1/x", {}, "HEAD"));
    REQUIRE_MESSAGE(head, afterHead.error());
    CHECK(head->status == 200);
    REQUIRE(afterHead.send("GET /svc/v1/x HTTP/1.1\r\nHost: a\r\n"));
    auto g = afterHead.read(3s);
    REQUIRE_MESSAGE(g, afterHead.error());
    CHECK(g->status == 408);
    CHECK(g->errorCode() == 101408);

    RawClient idle(gw.port());
    auto ok = idle.exchange(getRequest("/svc/v1/x"));
    REQUIRE_MESSAGE(ok, idle.error());
    CHECK(ok->status == 200);
    start = Clock::now();
    std::string extra;
    CHECK(idle.waitClosed(3s, &extra));
    CHECK(extra.empty());
    CHECK(millisSince(start) >= 250);

    RawClient silent(gw.port());  // never sends a byte
    CHECK(silent.waitClosed(3s, &extra));
    CHECK(extra.empty());
}

TEST_CASE("timeouts: body_timeout_ms limits how long a request body stalls, not how long it takes")
{
    // An upload that keeps coming, a piece every 100 ms for over three times body_timeout_ms, is
    // proxied whole: with a Content-Length, read whole first (request_buffer_bytes) or streamed,
    // and chunked.
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", R"({"body_timeout_ms": 300})"));
    SluicedProcess streaming(
        oneApi("/svc", endpointList({backend.url()}), "", R"({"body_timeout_ms": 300, "request_buffer_bytes": 0})"));
    constexpr int kPieces = 10;
    const std::string piece(100, 'p');
    std::size_t done = 0;
    for (const auto& [chunked, port] : {std::pair{false, gw.port()}, std::pair{false, streaming.port()},
                                        std::pair{true, gw.port()}, std::pair{true, streaming.port()}}) {
        CAPTURE(chunked);
        CAPTURE(port == streaming.port());
        RawClient client(port);
        const auto start = Clock::now();
        REQUIRE(client.send(
            chunked ? std::string("POST /svc/v1/up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
                    : "POST /svc/v1/up HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                          std::to_string(kPieces * piece.size()) + "\r\n\r\n"));
        for (int i = 0; i < kPieces; ++i) {
            std::this_thread::sleep_for(100ms);
            REQUIRE(client.send(chunked ? "64\r\n" + piece + "\r\n" : piece));
        }
        if (chunked) {
            REQUIRE(client.send("0\r\n\r\n"));
        }
        auto r = client.read(3s);
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(millisSince(start) >= 900);  // the body took three body timeouts to come
        REQUIRE(backend.waitForRequests(++done, 2s));
        const ReceivedRequest up = backend.requests().back();
        CHECK(up.bodyLength == kPieces * piece.size());
        CHECK(up.chunked == (chunked && port == streaming.port()));  // a short chunked body is read whole
    }
}

TEST_CASE("timeouts: a 408 after an earlier exchange carries none of that exchange's headers")
{
    ScriptedBackend backend([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "ok", {{"X-Backend-Marker", "first"}, {"Set-Cookie", "session=secret"}});
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", kTightLimits));
    RawClient client(gw.port());
    auto first = client.exchange(getRequest("/svc/v1/x"));
    REQUIRE_MESSAGE(first, client.error());
    CHECK(first->header("Set-Cookie") == "session=secret");
    REQUIRE(client.send("GET /svc/v1/y HTTP/1.1\r\n"));
    auto timedOut = client.read(3s);
    REQUIRE_MESSAGE(timedOut, client.error());
    CHECK(timedOut->status == 408);
    CHECK_FALSE(timedOut->header("X-Backend-Marker"));
    CHECK_FALSE(timedOut->header("Set-Cookie"));
}

TEST_CASE("timeouts: header_timeout_ms does not limit how long the backend may take")
{
    // Within read_ms (the default, 60 s), far beyond header_timeout_ms.
    ScriptedBackend backend(delayedReply(800ms, "slow but fine"));
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", kTightLimits));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/slow"), 5s);
    REQUIRE_MESSAGE(r, client.error() << "; received: " << client.received());
    CHECK(r->status == 200);
    CHECK(r->body == "slow but fine");
}

TEST_CASE("timeouts: a response that streams for longer than header_timeout_ms is relayed whole")
{
    ScriptedBackend backend([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n";
        for (const char* part : {"3\r\ntwo\r\n", "5\r\nthree\r\n", "4\r\nfour\r\n", "4\r\nfive\r\n0\r\n\r\n"}) {
            reply.later.emplace_back(150ms, part);  // each gap well within read_ms (60 s)
        }
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", kTightLimits));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/stream"), 5s);
    REQUIRE_MESSAGE(r, client.error() << "; received: " << client.received());
    CHECK(r->status == 200);
    CHECK(r->body == "onetwothreefourfive");
}

TEST_CASE("timeouts: a client that was briefly slow to read is not cut off later while the backend trickles")
{
    const std::string burst(4u << 20, 'b');  // more than the socket buffers hold: the gateway's writes block
    ScriptedBackend backend([&burst](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400000\r\n" + burst + "\r\n";
        for (const char* part : {"1\r\n1\r\n", "1\r\n2\r\n", "1\r\n3\r\n", "1\r\n4\r\n", "1\r\n5\r\n0\r\n\r\n"}) {
            reply.later.emplace_back(200ms, part);
        }
        return reply;
    });
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", R"({"body_timeout_ms": 300})"));
    RawClient client(gw.port());
    REQUIRE(client.send(getRequest("/svc/v1/trickle")));
    std::this_thread::sleep_for(150ms);  // slow to start reading, well within body_timeout_ms
    auto r = client.read(5s);
    REQUIRE_MESSAGE(r, client.error() << "; received " << client.received().size() << " bytes");
    CHECK(r->status == 200);
    CHECK(r->body.size() == burst.size() + 5);
    CHECK(r->body.substr(burst.size()) == "12345");
}

TEST_CASE("timeouts: body_timeout_ms does not cut a client that reads a large response slowly but steadily")
{
    // The kernel tells a blocked writer only once a good part of a large send buffer is free,
    // which a slow reader takes longer than body_timeout_ms to free, although it reads all the
    // time: what counts is that the answer moves, seen in the kernel's send queue.
    const std::string body(6u << 20, 's');
    ScriptedBackend backend(delayedReply(0ms, body));
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", R"({"body_timeout_ms": 300})"));
    int error = 0;
    const int fd = connectAddress("127.0.0.1", gw.port(), error);
    REQUIRE(fd >= 0);
    REQUIRE(sendAll(fd, getRequest("/svc/v1/large")));
    std::string received;
    const auto until = Clock::now() + 30s;
    ReadStatus status = ReadStatus::Data;
    auto whole = [&received, &body] {
        const std::size_t bodyAt = received.find("\r\n\r\n");
        return bodyAt != std::string::npos && received.size() >= bodyAt + 4 + body.size();
    };
    while (status == ReadStatus::Data && !whole()) {
        status = readSome(fd, received, until, 16 * 1024);  // at most 800 KB/s
        std::this_thread::sleep_for(20ms);
    }
    ::close(fd);
    const std::size_t bodyAt = received.find("\r\n\r\n");
    REQUIRE(bodyAt != std::string::npos);
    CHECK(received.size() - bodyAt - 4 == body.size());

    // One that stops reading is still cut off once the kernel's buffers are full (a small
    // receive buffer: its kernel does not take the whole answer in for it).
    const int stalled = connectAddress("127.0.0.1", gw.port(), error, 4096);
    REQUIRE(stalled >= 0);
    REQUIRE(sendAll(stalled, getRequest("/svc/v1/large")));
    std::this_thread::sleep_for(1500ms);
    std::string partial;
    status = ReadStatus::Data;
    while (status == ReadStatus::Data) {
        status = readSome(stalled, partial, until);
    }
    ::close(stalled);
    CHECK(status == ReadStatus::Eof);
    CHECK(partial.size() < body.size());
}

TEST_CASE("timeouts: a keep-alive answer that the client stops taking is cut off at body_timeout_ms, not kept as idle")
{
    // The exchange ends (the backend's last bytes come) while most of the answer still waits in
    // the gateway for a client that stopped reading long before: the connection is now between
    // requests, but it is not idle, and must not wait for keepalive_timeout_ms (60 s) to close.
    // The last bytes come after the client's window closed, so no write wakes the gateway later.
    const std::size_t size = 200 * 1024;
    ScriptedBackend backend([size](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes =
            "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n" + std::string(size - 10, 'k');
        reply.later.emplace_back(300ms, "0123456789");
        return reply;
    });
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}), "",
                              R"({"body_timeout_ms": 1000, "keepalive_timeout_ms": 60000})");
    spec.accessLog = R"({"path": "access.log", "flush_ms": 20})";
    SluicedProcess gw(spec);
    int error = 0;
    const int stalled = connectAddress("127.0.0.1", gw.port(), error, 4096, 1000);
    REQUIRE(stalled >= 0);
    REQUIRE(sendAll(stalled, getRequest("/svc/v1/stalled")));
    const auto lines = waitForLines(gw.directory() + "/access.log", 1);  // written when it closes
    std::string partial;
    const ReadStatus status = readToEnd(stalled, partial, Clock::now() + 10s);
    ::close(stalled);
    REQUIRE(lines.size() == 1);
    CHECK(contains(lines[0], "\"GET /svc/v1/stalled HTTP/1.1\" 200 " + std::to_string(partial.size()) + " "));
    CHECK(status == ReadStatus::Eof);
    CHECK(partial.size() < size);
}

TEST_CASE("timeouts: a client that reads none of a large answer is cut once body_timeout_ms has passed, not twice")
{
    // Right after the gateway's write blocks, the kernel still moves bytes into the client's
    // window for a moment; taken for the client's progress, that gave a client reading nothing
    // a second body_timeout_ms (nginx's send_timeout cuts it after one).
    const std::string body(6u << 20, 'n');
    ScriptedBackend backend(delayedReply(0ms, body));
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}), "", R"({"body_timeout_ms": 1000})");
    spec.accessLog = R"({"path": "access.log", "flush_ms": 20})";
    SluicedProcess gw(spec);
    int error = 0;
    const int stalled = connectAddress("127.0.0.1", gw.port(), error, 4096);
    REQUIRE(stalled >= 0);
    REQUIRE(sendAll(stalled, getRequest("/svc/v1/unread")));
    const auto lines = waitForLines(gw.directory() + "/access.log", 1);  // written when it closes
    ::close(stalled);
    REQUIRE(lines.size() == 1);
    // "... 200 <bytes> <duration ms> ..."
    const std::size_t status = lines[0].find("\" 200 ");
    REQUIRE(status != std::string::npos);
    const std::size_t durationAt = lines[0].find(' ', status + 6) + 1;
    const double durationMs = std::stod(lines[0].substr(durationAt));
    INFO(lines[0]);
    CHECK(durationMs >= 990);
    CHECK(durationMs < 1800);  // 2,000 and more before
}

TEST_CASE("limits: max_requests_per_connection closes the connection after the last answer")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", kTightLimits));
    RawClient client(gw.port());
    for (int i = 1; i <= 3; ++i) {
        auto r = client.exchange(getRequest("/svc/v1/n" + std::to_string(i)));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->hasToken("Connection", "close") == (i == 3));
    }
    CHECK(client.waitClosed(2s));

    // Pipelined past the limit: three answers, then the connection ends; the rest is never served.
    RawClient burst(gw.port());
    std::string requests;
    for (int i = 1; i <= 5; ++i) {
        requests += getRequest("/svc/v1/b" + std::to_string(i));
    }
    REQUIRE(burst.send(requests));
    for (int i = 1; i <= 3; ++i) {
        auto r = burst.read();
        REQUIRE_MESSAGE(r, burst.error());
        CHECK(r->body == "backend GET /b" + std::to_string(i));
    }
    CHECK(burst.waitClosed(2s));
    CHECK(backend.requestCount() == 6);
}

TEST_CASE("slow clients: a slowloris sender does not hold up a fast client on the same worker")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()}), "", R"({"header_timeout_ms": 10000})"));
    std::optional<HttpResponse> slowHead;
    std::optional<HttpResponse> slowBody;
    ClientThreads slowSenders;
    slowSenders.run([&] {
        RawClient slow(gw.port());
        if (slow.sendSlowly(getRequest("/svc/v1/slow-head", {"X-Padding: abcdefghij"}), 15ms)) {
            slowHead = slow.read(5s);
        }
    });
    slowSenders.run([&] {
        RawClient slow(gw.port());
        std::string request = bodyRequest("POST", "/svc/v1/slow-body", std::string(60, 'z'));
        std::size_t headLength = request.find("\r\n\r\n") + 4;
        if (slow.send(request.substr(0, headLength)) && slow.sendSlowly(request.substr(headLength), 15ms)) {
            slowBody = slow.read(5s);
        }
    });

    RawClient fast(gw.port());
    long long worst = 0;
    for (int i = 0; i < 30; ++i) {
        auto start = Clock::now();
        auto r = fast.exchange(getRequest("/svc/v1/fast"), 2s);
        worst = std::max(worst, millisSince(start));
        REQUIRE_MESSAGE(r, fast.error());
        CHECK(r->status == 200);
        std::this_thread::sleep_for(20ms);  // spread the fast requests over the slow sends
    }
    slowSenders.join();
    CHECK(slowSenders.exceptions() == 0);
    INFO("slowest fast request: " << worst << " ms");
    CHECK(worst < 500);  // a blocked worker would hold them for the whole slow send (> 1 s)
    REQUIRE(slowHead);
    CHECK(slowHead->status == 200);
    CHECK(slowHead->body == "backend GET /slow-head");
    REQUIRE(slowBody);
    CHECK(slowBody->status == 200);
    CHECK(slowBody->body == "backend POST /slow-body");
}
