// parseResponseHead: status line, framing rules of RFC 9112 §6.3, and 502 for anything unusable.

#include "HttpTestSupport.h"

#include <deque>
#include <string>

using namespace sluice::runtime::http;
using namespace sluice::runtime::http::testing;
using namespace std::string_literals;

namespace {

std::string response(std::string_view statusLine, std::initializer_list<std::string_view> fields = {})
{
    std::string text(statusLine);
    text += "\r\n";
    for (std::string_view field : fields) {
        text.append(field);
        text += "\r\n";
    }
    text += "\r\n";
    return text;
}

// Parses a copy of `text` kept alive for the whole run, so the returned views stay valid.
ResponseHead parsed(std::string_view text, std::string_view method = "GET")
{
    static std::deque<std::string> keep;
    ResponseHead out;
    const ParseResult r = parseResponseHead(keep.emplace_back(text), ParseLimits{}, method, out);
    REQUIRE(r.status == ParseStatus::Complete);
    return out;
}

}  // namespace

TEST_CASE("a 200 with Content-Length")
{
    const std::string text = response("HTTP/1.1 200 OK", {"Content-Length: 12", "Content-Type: text/plain"});
    const ResponseHead out = parsed(text + "hello world!");
    CHECK(out.versionMinor == 1);
    CHECK(out.status == 200);
    CHECK(out.reason == "OK");
    CHECK(out.framing == BodyFraming::ContentLength);
    CHECK(out.contentLength == 12);
    CHECK(out.keepAlive);
    CHECK(out.headLength == text.size());
    REQUIRE(out.headers.size() == 2);
    CHECK(out.headers[1].value == "text/plain");
}

TEST_CASE("status line: 3 digits and an optional reason whose SP may be missing only when it is empty")
{
    CHECK(parsed(response("HTTP/1.1 404 Not  Found \xe9", {"Content-Length: 0"})).reason == "Not  Found \xe9");
    CHECK(parsed(response("HTTP/1.1 200 ", {"Content-Length: 0"})).reason.empty());
    CHECK(parsed(response("HTTP/1.1 200", {"Content-Length: 0"})).status == 200);
    CHECK(parsed(response("HTTP/1.0 599 Whatever", {"Content-Length: 0"})).status == 599);
    CHECK(parsed(response("HTTP/1.1 100 Continue")).status == 100);

    CHECK(responseOutcome(response("HTTP/1.1 200OK")) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 2000 OK")) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 20 OK")) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 099 Low")) == 502);
    // RFC 9110 §15: outside 100-599 is invalid; a client treats it as a server error.
    CHECK(responseOutcome(response("HTTP/1.1 600 High")) == 502);
    CHECK(responseOutcome(response("HTTP/1.0 999 Whatever", {"Content-Length: 0"})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 000")) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 -20 OK")) == 502);
    CHECK(responseOutcome(response("HTTP/1.1  200 OK")) == 502);
    CHECK(responseOutcome(response("HTTP/1.1\t200 OK")) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 O\0K"s)) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 O\x7fK")) == 502);
    CHECK(responseOutcome(response("HTTP/2.0 200 OK")) == 502);
    CHECK(responseOutcome(response("HTTP/1.2 200 OK")) == 502);
    CHECK(responseOutcome(response("http/1.1 200 OK")) == 502);
    CHECK(responseOutcome(response("ICY 200 OK")) == 502);
    CHECK(responseOutcome("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n") == 502);
    CHECK(responseOutcome("\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") == 502);
}

TEST_CASE("responses without a body: HEAD and 1xx and 204 and 304")
{
    CHECK(parsed(response("HTTP/1.1 200 OK", {"Content-Length: 100"}), "HEAD").framing == BodyFraming::None);
    CHECK(parsed(response("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked"}), "HEAD").framing == BodyFraming::None);
    CHECK(parsed(response("HTTP/1.1 100 Continue")).framing == BodyFraming::None);
    CHECK(parsed(response("HTTP/1.1 103 Early Hints", {"Link: </a>; rel=preload"})).framing == BodyFraming::None);
    CHECK(parsed(response("HTTP/1.1 101 Switching Protocols", {"Upgrade: websocket"})).framing == BodyFraming::None);
    CHECK(parsed(response("HTTP/1.1 204 No Content", {"Content-Length: 5"})).framing == BodyFraming::None);
    const ResponseHead notModified = parsed(response("HTTP/1.1 304 Not Modified", {"Content-Length: 5"}));
    CHECK(notModified.framing == BodyFraming::None);
    CHECK(notModified.keepAlive);
    // A bodiless response still may not carry an unparseable Content-Length.
    CHECK(responseOutcome(response("HTTP/1.1 304 Not Modified", {"Content-Length: x"})) == 502);
}

TEST_CASE("the head of an interim response is followed by the final one")
{
    const std::string interim = response("HTTP/1.1 100 Continue");
    const std::string final = response("HTTP/1.1 201 Created", {"Content-Length: 0"});
    const std::string wire = interim + final;
    ResponseHead out;
    REQUIRE(parseResponseHead(wire, ParseLimits{}, "POST", out).status == ParseStatus::Complete);
    CHECK(out.status == 100);
    CHECK(out.headLength == interim.size());
    REQUIRE(parseResponseHead(std::string_view(wire).substr(out.headLength), ParseLimits{}, "POST", out).status ==
            ParseStatus::Complete);
    CHECK(out.status == 201);
}

TEST_CASE("response framing: chunked or Content-Length or until close")
{
    const ResponseHead chunked = parsed(response("HTTP/1.1 200 OK", {"Transfer-Encoding: Chunked"}));
    CHECK(chunked.framing == BodyFraming::Chunked);
    CHECK(chunked.keepAlive);

    // RFC 9112 §6.3 rule 3: Transfer-Encoding overrides Content-Length; the connection is not reused.
    const ResponseHead both = parsed(response("HTTP/1.1 200 OK", {"Content-Length: 3", "Transfer-Encoding: chunked"}));
    CHECK(both.framing == BodyFraming::Chunked);
    CHECK_FALSE(both.keepAlive);

    const ResponseHead close = parsed(response("HTTP/1.1 200 OK", {"Content-Type: text/html"}));
    CHECK(close.framing == BodyFraming::UntilClose);
    CHECK_FALSE(close.keepAlive);

    const ResponseHead zero = parsed(response("HTTP/1.1 500 Oops", {"Content-Length: 0"}));
    CHECK(zero.framing == BodyFraming::ContentLength);
    CHECK(zero.contentLength == 0);
}

TEST_CASE("upstream transfer codings other than a single chunked are refused with 502")
{
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"Transfer-Encoding: gzip"})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"Transfer-Encoding: gzip, chunked"})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked, gzip"})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked, chunked"})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked;x=y"})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"Transfer-Encoding:"})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"Transfer-Encoding: \"chunked\""})) == 502);
    CHECK(responseOutcome(response("HTTP/1.0 200 OK", {"Transfer-Encoding: chunked"})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"Transfer-Encoding : chunked"})) == 502);
}

TEST_CASE("upstream Content-Length must be a single field of digits only")
{
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"Content-Length: 5", "Content-Length: 5"})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"Content-Length: 5, 5"})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"Content-Length: -1"})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"Content-Length: 99999999999999999999"})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"Content-Length:"})) == 502);
}

TEST_CASE("response keepAlive follows version and Connection")
{
    CHECK(parsed(response("HTTP/1.1 200 OK", {"Content-Length: 0"})).keepAlive);
    CHECK_FALSE(parsed(response("HTTP/1.1 200 OK", {"Content-Length: 0", "Connection: close"})).keepAlive);
    CHECK_FALSE(parsed(response("HTTP/1.0 200 OK", {"Content-Length: 0"})).keepAlive);
    CHECK(parsed(response("HTTP/1.0 200 OK", {"Content-Length: 0", "Connection: keep-alive"})).keepAlive);
    CHECK_FALSE(parsed(response("HTTP/1.0 200 OK", {"Connection: keep-alive"})).keepAlive);  // until close
}

TEST_CASE("request-only rules do not apply to responses and CONNECT tunnels are refused")
{
    // Host and Expect mean nothing in a response.
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"Host: a b", "Host: c", "Expect: x", "Content-Length: 0"})) ==
          0);
    CHECK(responseOutcome(response("HTTP/1.1 200 Connection established"), "CONNECT") == 502);
    const ResponseHead denied = parsed(response("HTTP/1.1 407 Auth", {"Content-Length: 0"}), "CONNECT");
    CHECK(denied.framing == BodyFraming::ContentLength);
}

TEST_CASE("response field syntax is as strict as the request's")
{
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"X-A: b", " folded"})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"X-A : b"})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"X-A: \0"s})) == 502);
    CHECK(responseOutcome(response("HTTP/1.1 200 OK", {"no colon"})) == 502);
    CHECK(responseOutcome("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n") == 502);
}

TEST_CASE("response limits: status line and header bytes and count give 502 early")
{
    ParseLimits limits;
    limits.maxRequestLine = 20;
    CHECK(responseOutcome(response("HTTP/1.1 200 OKAYOKA", {"Content-Length: 0"}), "GET", limits) == 0);  // 20
    CHECK(responseOutcome(response("HTTP/1.1 200 OKAYOKAY", {"Content-Length: 0"}), "GET", limits) == 502);
    CHECK(responseOutcome("HTTP/1.1 200 OKAYOKA", "GET", limits) == -1);
    CHECK(responseOutcome("HTTP/1.1 200 OKAYOKAY", "GET", limits) == 502);  // no CRLF yet
    CHECK(responseOutcome(response("HTTP/1.1 200 OKAYOKA"), "GET", limits) == 0);

    ParseLimits bytes;
    bytes.maxHeaderBytes = 40;
    CHECK(responseOutcome("HTTP/1.1 200 OK\r\nX: " + std::string(100, 'x'), "GET", bytes) == 502);
    ParseLimits count;
    count.maxHeaderCount = 1;
    CHECK(responseOutcome("HTTP/1.1 200 OK\r\nA: 1\r\nB", "GET", count) == 502);
}

TEST_CASE("incremental response parsing gives the same head")
{
    checkResponseIncrementally(response("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked", "X: y"}) + "0\r\n\r\n", 0);
    checkResponseIncrementally(response("HTTP/1.1 204") + "HTTP/1.1 200", 0);
    checkResponseIncrementally(response("HTTP/1.0 200 Fine", {"Connection: keep-alive", "Content-Length: 2"}), 0);
    checkResponseIncrementally(response("HTTP/1.1 200 OK", {"Content-Length: 1, 1"}), 502);
    checkResponseIncrementally(response("HTTP/1.1 200 OK", {"Transfer-Encoding: gzip"}), 502);
}
