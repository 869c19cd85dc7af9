// parseRequestHead: RFC 9112 request syntax, framing and the request-smuggling classics.

#include "HttpTestSupport.h"

#include <deque>
#include <string>

using namespace sluice::runtime::http;
using namespace sluice::runtime::http::testing;
using namespace std::string_literals;

namespace {

// A request head: the start line and each field line, CRLF-terminated, then the empty line.
std::string head(std::string_view startLine, std::initializer_list<std::string_view> fields = {"Host: example.com"})
{
    std::string text(startLine);
    text += "\r\n";
    for (std::string_view field : fields) {
        text.append(field);
        text += "\r\n";
    }
    text += "\r\n";
    return text;
}

// Outcome of a GET / HTTP/1.1 request with Host plus `fields`.
int withFields(std::initializer_list<std::string_view> fields, std::string_view startLine = "POST / HTTP/1.1")
{
    std::string text(startLine);
    text += "\r\nHost: example.com\r\n";
    for (std::string_view field : fields) {
        text.append(field);
        text += "\r\n";
    }
    text += "\r\n";
    return requestOutcome(text);
}

// Parses a copy of `text` kept alive for the whole run, so the returned views stay valid.
RequestHead parsed(std::string_view text)
{
    static std::deque<std::string> keep;
    RequestHead out;
    const ParseResult r = parseRequestHead(keep.emplace_back(text), ParseLimits{}, out);
    REQUIRE(r.status == ParseStatus::Complete);
    return out;
}

}  // namespace

TEST_CASE("a simple GET yields its parts as views into the buffer")
{
    const std::string text =
        "GET /api/v1/pets?limit=10&x HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n"
        "X-Empty:\r\n\r\n";
    RequestHead out;
    const ParseResult r = parseRequestHead(text, ParseLimits{}, out);
    REQUIRE(r.status == ParseStatus::Complete);
    CHECK(r.httpStatus == 0);
    CHECK(out.method == "GET");
    CHECK(out.target == "/api/v1/pets?limit=10&x");
    CHECK(out.path == "/api/v1/pets");
    CHECK(out.query == "limit=10&x");
    CHECK(out.host == "example.com");
    CHECK(out.versionMinor == 1);
    CHECK(out.framing == BodyFraming::None);
    CHECK(out.keepAlive);
    CHECK_FALSE(out.expectContinue);
    CHECK(out.headLength == text.size());
    REQUIRE(out.headers.size() == 3);
    CHECK(out.headers[0].name == "Host");
    CHECK(out.headers[1].name == "Accept");
    CHECK(out.headers[1].value == "*/*");
    CHECK(out.headers[2].name == "X-Empty");
    CHECK(out.headers[2].value.empty());
    // No copies: the views point into the caller's buffer.
    CHECK(out.method.data() == text.data());
    CHECK(out.headers[1].value.data() == text.data() + text.find("*/*"));
}

TEST_CASE("optional whitespace around a field value is trimmed and inner whitespace kept")
{
    const RequestHead out = parsed("GET / HTTP/1.1\r\nHost: \t example.com \t \r\nX-A:  a \t b  \r\nX-B:c\r\n\r\n");
    CHECK(out.host == "example.com");
    CHECK(out.headers[1].value == "a \t b");
    CHECK(out.headers[2].value == "c");
}

TEST_CASE("field values accept obs-text and HTAB but no other control characters")
{
    CHECK(withFields({"X-Name: caf\xc3\xa9 \xff"}) == 0);
    CHECK(withFields({"X-Tab: a\tb"}) == 0);
    CHECK(withFields({"X-Nul: a\0b"s}) == 400);
    CHECK(withFields({"X-Nul: \0"s}) == 400);
    CHECK(withFields({"X-Del: a\x7f"}) == 400);
    CHECK(withFields({"X-Esc: a\x1b[31m"}) == 400);
    CHECK(withFields({"X-Cr: a\rb"}) == 400);
    CHECK(withFields({"X-Vt: a\vb"}) == 400);
}

TEST_CASE("a field value may not begin or end with NEL or NBSP, which Latin-1 servers trim, but UTF-8 may end so")
{
    // waitress and Tornado read "admin\xA0" as "admin" (str.strip() of the Latin-1 text).
    for (const char* value : {"admin\xa0", "admin\x85",
                              "\xa0"
                              "admin",
                              "\x85"
                              "admin",
                              "admin\xa0\xa0", "\xa0", "a\xc2\xa0", "a\xc2\x85", "\xa0\xc3\xa0", "admin\x80\xa0",
                              "admin\xe2\xa0", "x\xf0\x9f\x80\x80\xa0"}) {
        CAPTURE(value);
        CHECK(withFields({std::string("X-Role: ") + value}) == 400);
        CHECK(withFields({std::string("X-Role: ") + value + " \t"}) == 400);  // after OWS is trimmed
    }
    // The last byte of a UTF-8 character: 'à' (C3 A0), 'Å' (C3 85), '†' (E2 80 A0), U+1F020 (F0 9F 80 A0).
    for (const char* value : {"voil\xc3\xa0", "\xc3\x85ngstr\xc3\xb6m \xc3\x85", "a\xe2\x80\xa0", "a\xf0\x9f\x80\xa0",
                              "in\xa0side", "caf\xc3\xa9"}) {
        CAPTURE(value);
        CHECK(withFields({std::string("X-Name: ") + value}) == 0);
    }
    // A backend's answer is not judged so: it goes to the client, whose policies are its own.
}

TEST_CASE("the query is split at the first question mark and may be empty")
{
    CHECK(parsed(head("GET /a?b?c HTTP/1.1")).path == "/a");
    CHECK(parsed(head("GET /a?b?c HTTP/1.1")).query == "b?c");
    const RequestHead empty = parsed(head("GET /a? HTTP/1.1"));
    CHECK(empty.path == "/a");
    CHECK(empty.query.empty());
    CHECK(parsed(head("GET / HTTP/1.1")).query.empty());
}

TEST_CASE("methods are case-sensitive tokens followed by exactly one SP")
{
    CHECK(requestOutcome(head("PURGE / HTTP/1.1")) == 0);
    CHECK(parsed(head("get / HTTP/1.1")).method == "get");
    CHECK(requestOutcome(head(" / HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("G(T / HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("G\0T / HTTP/1.1"s)) == 400);
    CHECK(requestOutcome(head("GET  / HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET\t/ HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET /  HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET / HTTP/1.1 ")) == 400);
    CHECK(requestOutcome(head("GET /")) == 400);
    CHECK(requestOutcome(head("GET / ")) == 400);
}

TEST_CASE("the request target is visible ASCII without a fragment")
{
    CHECK(requestOutcome(head("GET /a{b}|c^ HTTP/1.1")) == 0);
    CHECK(requestOutcome(head("GET /caf\xc3\xa9 HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET /a\x01 HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET /a\x7f HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET /a\0b HTTP/1.1"s)) == 400);
    CHECK(requestOutcome(head("GET /a#frag HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET relative/path HTTP/1.1")) == 400);
}

TEST_CASE("only HTTP/1.0 and HTTP/1.1 are accepted - other versions 505 and garbage 400")
{
    CHECK(parsed(head("GET / HTTP/1.0", {})).versionMinor == 0);
    CHECK(parsed(head("GET / HTTP/1.1")).versionMinor == 1);
    CHECK(requestOutcome(head("GET / HTTP/2.0")) == 505);
    CHECK(requestOutcome(head("GET / HTTP/1.2")) == 505);
    CHECK(requestOutcome(head("GET / HTTP/0.9")) == 505);
    CHECK(requestOutcome(head("GET / HTTP/3.0")) == 505);
    CHECK(requestOutcome(head("GET / http/1.1")) == 400);
    CHECK(requestOutcome(head("GET / HTTP/1.10")) == 400);
    CHECK(requestOutcome(head("GET / HTTP/1")) == 400);
    CHECK(requestOutcome(head("GET / HTTP/1.x")) == 400);
    CHECK(requestOutcome(head("GET / HTTPS/1.1")) == 400);
}

TEST_CASE("bare LF is refused anywhere in the head")
{
    CHECK(requestOutcome("GET / HTTP/1.1\nHost: a\r\n\r\n") == 400);
    CHECK(requestOutcome("GET / HTTP/1.1\r\nHost: a\n\r\n") == 400);
    CHECK(requestOutcome("GET / HTTP/1.1\r\nHost: a\r\n\n") == 400);
    CHECK(requestOutcome("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n") == 400);
    CHECK(requestOutcome("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
    CHECK(requestOutcome("GET / HTTP/1.1\rHost: a\r\n\r\n") == 400);
    CHECK(requestOutcome("GET / HTTP/1.1\r\nHost: a\r\n\rX") == 400);
}

TEST_CASE("a few empty lines before the request line are skipped and counted")
{
    const std::string text = "\r\n\r\n" + head("GET / HTTP/1.1");
    const RequestHead out = parsed(text);
    CHECK(out.method == "GET");
    CHECK(out.headLength == text.size());
    CHECK(requestOutcome("\r\n\r\n\r\n\r\n" + head("GET / HTTP/1.1")) == 0);
    CHECK(requestOutcome("\r\n\r\n\r\n\r\n\r\n" + head("GET / HTTP/1.1")) == 400);
    CHECK(requestOutcome("\r\n\r\n") == -1);
}

TEST_CASE("field line syntax: name then colon then value and no obs-fold")
{
    CHECK(withFields({"Transfer-Encoding : chunked"}) == 400);
    CHECK(withFields({"X-A\t: b"}) == 400);
    CHECK(withFields({"X-A b: c"}) == 400);
    CHECK(withFields({": value"}) == 400);
    CHECK(withFields({"no colon here"}) == 400);
    CHECK(withFields({"NoColon"}) == 400);
    CHECK(withFields({"X-A: b", " folded"}) == 400);
    CHECK(withFields({"X-A: b", "\tfolded"}) == 400);
    CHECK(withFields({"X\0A: b"s}) == 400);
    CHECK(withFields({"X(A): b"}) == 400);
    CHECK(withFields({"X\xc3\xa9: b"}) == 400);
    CHECK(withFields({"X-A:b:c"}) == 0);
    CHECK(withFields({"!#$%&'*+-.^_`|~09azAZ: b"}) == 0);
    // Whitespace between the start line and the first field (RFC 9112 §2.2).
    CHECK(requestOutcome("GET / HTTP/1.1\r\n Host: a\r\n\r\n") == 400);
}

TEST_CASE("Host: required once in HTTP/1.1 and optional in 1.0 and syntax checked")
{
    CHECK(requestOutcome(head("GET / HTTP/1.1", {})) == 400);
    CHECK(requestOutcome(head("GET / HTTP/1.1", {"X-Host: a"})) == 400);
    CHECK(requestOutcome(head("GET / HTTP/1.1", {"Host: a", "Host: a"})) == 400);
    CHECK(requestOutcome(head("GET / HTTP/1.1", {"Host: a", "host: b"})) == 400);
    CHECK(requestOutcome(head("GET / HTTP/1.0", {"Host: a", "Host: a"})) == 400);
    // Credentials are one value: two Authorization fields are refused (a policy reads the first,
    // PHP joins them and Laravel takes the last token), as nginx does.
    CHECK(requestOutcome(head("GET / HTTP/1.1", {"Host: a", "Authorization: Bearer a", "authorization: Bearer b"})) ==
          400);
    CHECK(requestOutcome(head("GET / HTTP/1.1", {"Host: a", "Authorization: Bearer a"})) == 0);
    CHECK(requestOutcome(head("GET / HTTP/1.1", {"Host: a", "Authorization: Bearer a", "X-Authorization: b"})) == 0);
    CHECK(parsed(head("GET / HTTP/1.0", {})).host.empty());
    CHECK(parsed(head("GET / HTTP/1.1", {"hOsT: a"})).host == "a");

    auto hostOutcome = [](std::string_view value) {
        return requestOutcome("GET / HTTP/1.1\r\nHost: "s.append(value) + "\r\n\r\n");
    };
    // RFC 9112 §3.2: an empty Host says the target URI has no authority, which no http(s) URI
    // lacks; nginx refuses it too. An absolute-form target gives the authority itself.
    CHECK(hostOutcome("") == 400);
    CHECK(requestOutcome("GET / HTTP/1.0\r\nHost: \r\n\r\n") == 400);
    CHECK(requestOutcome("GET http://a/ HTTP/1.1\r\nHost: \r\n\r\n") == 0);
    CHECK(hostOutcome("example.com") == 0);
    CHECK(hostOutcome("example.com:8080") == 0);
    CHECK(hostOutcome("EXAMPLE.com:65535") == 0);
    CHECK(hostOutcome("192.0.2.1:80") == 0);
    CHECK(hostOutcome("my_host-1.local") == 0);
    CHECK(hostOutcome("[::1]") == 0);
    CHECK(hostOutcome("[::1]:443") == 0);
    CHECK(hostOutcome("[2001:db8::ff00:42:8329]") == 0);
    CHECK(hostOutcome("[2001:db8:0:0:0:0:2:1]") == 0);
    CHECK(hostOutcome("[::ffff:192.0.2.1]") == 0);

    CHECK(hostOutcome("a b") == 400);
    CHECK(hostOutcome("user@example.com") == 400);
    CHECK(hostOutcome("example.com/path") == 400);
    CHECK(hostOutcome("example.com:") == 400);
    CHECK(hostOutcome("example.com:65536") == 400);
    CHECK(hostOutcome("example.com:123456") == 400);
    CHECK(hostOutcome("example.com:8a") == 400);
    CHECK(hostOutcome("example.com:80:80") == 400);
    CHECK(hostOutcome(":80") == 400);
    CHECK(hostOutcome("ex%4") == 400);
    CHECK(hostOutcome("ex%zzample") == 400);
    CHECK(hostOutcome("a\"b") == 400);
    CHECK(hostOutcome("a\\b") == 400);
    CHECK(hostOutcome("[::1") == 400);
    CHECK(hostOutcome("[::1]x") == 400);
    CHECK(hostOutcome("[::1]:") == 400);
    CHECK(hostOutcome("[1:2:3:4:5:6:7:8:9]") == 400);
    CHECK(hostOutcome("[1:2:3]") == 400);
    CHECK(hostOutcome("[1::2::3]") == 400);
    CHECK(hostOutcome("[12345::]") == 400);
    CHECK(hostOutcome("[::1%25eth0]") == 400);
    CHECK(hostOutcome("[::256.1.1.1]") == 400);
    CHECK(hostOutcome("[::01.1.1.1]") == 400);
    CHECK(hostOutcome("[example.com]") == 400);
    CHECK(hostOutcome("[]") == 400);

    // Only letters, digits, "-", "." and "_" in a name: the host goes on in X-Forwarded-Host,
    // where a "," or ";" would split it and %XX could be decoded into anything.
    for (const char* odd : {"evil,api.example.com", "evil;x", "a!b", "a$b", "a&b", "a'b", "a(b)", "a*b", "a+b", "a=b",
                            "a~b", "ex%41mple.com", "%65vil", "[v1.fe80::a+en1]", "[v1.a,b]"}) {
        INFO(odd);
        CHECK(hostOutcome(odd) == 400);
        CHECK(requestOutcome(head("GET http://"s.append(odd) + "/ HTTP/1.1", {"Host: a"})) == 400);
    }
}

TEST_CASE("absolute-form: the authority becomes host and the path defaults to /")
{
    const RequestHead out = parsed(head("GET hTTp://Api.Example.com:8080/p/q?x=1 HTTP/1.1", {"Host: other"}));
    CHECK(out.target == "hTTp://Api.Example.com:8080/p/q?x=1");
    CHECK(out.host == "Api.Example.com:8080");
    CHECK(out.path == "/p/q");
    CHECK(out.query == "x=1");

    const RequestHead bare = parsed(head("GET https://example.com HTTP/1.1"));
    CHECK(bare.host == "example.com");
    CHECK(bare.path == "/");
    CHECK(bare.query.empty());

    const RequestHead queryOnly = parsed(head("GET HTTPS://[::1]:9?a=b HTTP/1.1"));
    CHECK(queryOnly.host == "[::1]:9");
    CHECK(queryOnly.path == "/");
    CHECK(queryOnly.query == "a=b");

    // HTTP/1.1 still needs a Host field (its value is ignored), HTTP/1.0 does not.
    CHECK(requestOutcome(head("GET http://example.com/ HTTP/1.1", {})) == 400);
    CHECK(parsed(head("GET http://example.com/ HTTP/1.0", {})).host == "example.com");
    // A bad Host field is refused even though the authority wins.
    CHECK(requestOutcome(head("GET http://example.com/ HTTP/1.1", {"Host: a b"})) == 400);

    CHECK(requestOutcome(head("GET http://user:pw@example.com/ HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET http:///path HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET http:// HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET http://exa%mple/ HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET http://example.com:99999/ HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET ftp://example.com/ HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET http:/example.com/ HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET httpx://example.com/ HTTP/1.1")) == 400);
}

TEST_CASE("asterisk-form only with OPTIONS and authority-form (CONNECT) is not implemented")
{
    const RequestHead out = parsed(head("OPTIONS * HTTP/1.1"));
    CHECK(out.target == "*");
    CHECK(out.path.empty());
    CHECK(out.query.empty());
    CHECK(out.host == "example.com");
    CHECK(requestOutcome(head("GET * HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("OPTIONS *x HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("OPTIONS ** HTTP/1.1")) == 400);

    CHECK(requestOutcome(head("CONNECT example.com:443 HTTP/1.1")) == 501);
    CHECK(requestOutcome(head("CONNECT / HTTP/1.1")) == 501);
    CHECK(requestOutcome(head("GET example.com:443 HTTP/1.1")) == 400);
}

TEST_CASE("Content-Length: exactly one field of digits only")
{
    const RequestHead out = parsed(head("POST / HTTP/1.1", {"Host: a", "Content-Length: 42"}));
    CHECK(out.framing == BodyFraming::ContentLength);
    CHECK(out.contentLength == 42);

    const RequestHead zero = parsed(head("POST / HTTP/1.1", {"Host: a", "content-length: 0"}));
    CHECK(zero.framing == BodyFraming::ContentLength);
    CHECK(zero.contentLength == 0);

    const RequestHead max = parsed(head("POST / HTTP/1.1", {"Host: a", "Content-Length: 9999999999999999999"}));
    CHECK(max.contentLength == 9999999999999999999ULL);
    CHECK(withFields({"Content-Length: 0000000000000000005"}) == 0);
    CHECK(withFields({"Content-Length:  5  "}) == 0);  // OWS around the value is not part of it

    CHECK(withFields({"Content-Length: 18446744073709551616"}) == 400);  // 2^64
    CHECK(withFields({"Content-Length: 10000000000000000000"}) == 400);  // 20 digits
    CHECK(withFields({"Content-Length: +5"}) == 400);
    CHECK(withFields({"Content-Length: -5"}) == 400);
    CHECK(withFields({"Content-Length: 0x5"}) == 400);
    CHECK(withFields({"Content-Length: 5 5"}) == 400);
    CHECK(withFields({"Content-Length: 5,5"}) == 400);
    CHECK(withFields({"Content-Length: 5, 5"}) == 400);
    CHECK(withFields({"Content-Length: 5a"}) == 400);
    CHECK(withFields({"Content-Length: 5.0"}) == 400);
    CHECK(withFields({"Content-Length: 1e3"}) == 400);
    CHECK(withFields({"Content-Length:"}) == 400);
    CHECK(withFields({"Content-Length: \"5\""}) == 400);
    CHECK(withFields({"Content-Length: \xd9\xa5"}) == 400);  // ARABIC-INDIC DIGIT FIVE
    CHECK(withFields({"Content-Length: 5", "Content-Length: 5"}) == 400);
    CHECK(withFields({"Content-Length: 5", "Content-Length: 6"}) == 400);
    CHECK(withFields({"Content-Length: 5", "content-LENGTH: 5"}) == 400);
}

TEST_CASE("Transfer-Encoding: chunked must be the one and final coding")
{
    auto framingOf = [](std::initializer_list<std::string_view> fields) {
        std::string text = "POST / HTTP/1.1\r\nHost: a\r\n";
        for (std::string_view f : fields) {
            text.append(f);
            text += "\r\n";
        }
        text += "\r\n";
        RequestHead out;
        REQUIRE(parseRequestHead(text, ParseLimits{}, out).status == ParseStatus::Complete);
        return out.framing;
    };
    CHECK(framingOf({"Transfer-Encoding: chunked"}) == BodyFraming::Chunked);
    CHECK(framingOf({"transfer-encoding: CHUNKED"}) == BodyFraming::Chunked);
    CHECK(framingOf({"Transfer-Encoding:  chunked  "}) == BodyFraming::Chunked);
    CHECK(framingOf({"Transfer-Encoding: , chunked ,"}) == BodyFraming::Chunked);  // empty elements
    CHECK(framingOf({"Transfer-Encoding:", "Transfer-Encoding: chunked"}) == BodyFraming::Chunked);

    CHECK(withFields({"Transfer-Encoding: gzip, chunked"}) == 501);
    CHECK(withFields({"Transfer-Encoding: gzip;level=9, chunked"}) == 501);
    CHECK(withFields({"Transfer-Encoding: gzip", "Transfer-Encoding: chunked"}) == 501);
    CHECK(withFields({"Transfer-Encoding: gzip"}) == 400);  // chunked is not final: MUST 400
    CHECK(withFields({"Transfer-Encoding: identity"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked, gzip"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked, identity"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked", "Transfer-Encoding: identity"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked, chunked"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked", "Transfer-Encoding: chunked"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked;foo=bar"}) == 400);
    CHECK(withFields({"Transfer-Encoding:"}) == 400);
    CHECK(withFields({"Transfer-Encoding: ,, ,"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked x"}) == 400);
    CHECK(withFields({"Transfer-Encoding: \"chunked\""}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked;"}) == 400);
    CHECK(withFields({"Transfer-Encoding: gzip;q=\"a, chunked\""}) == 400);  // quoted comma is not a split
    CHECK(withFields({"Transfer-Encoding: gzip;q=\"unterminated, chunked"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked\v"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked\0"s}) == 400);
}

TEST_CASE("request smuggling classics are refused")
{
    // CL.TE and TE.CL: both framings present, whatever the order.
    CHECK(withFields({"Content-Length: 6", "Transfer-Encoding: chunked"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked", "Content-Length: 6"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked", "Content-Length: 0"}) == 400);
    // TE.TE: obfuscated codings that one hop might ignore and another honour.
    CHECK(withFields({"Transfer-Encoding: xchunked"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunkedx"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked", "Transfer-Encoding: x"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked, identity"}) == 400);
    CHECK(withFields({"Transfer-Encoding : chunked"}) == 400);
    CHECK(withFields({"Transfer-Encoding\t: chunked"}) == 400);
    CHECK(withFields({" Transfer-Encoding: chunked"}) == 400);
    CHECK(withFields({"X: y", " Transfer-Encoding: chunked"}) == 400);
    CHECK(withFields({"Transfer-Encoding:\n chunked"}) == 400);
    CHECK(withFields({"Transfer-Encoding: \"chunked\""}) == 400);
    CHECK(withFields({"Transfer-Encoding: chun\x00ked"s}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked"}, "POST / HTTP/1.0") == 400);
    CHECK(withFields({"Content-Length: 6", "Transfer-Encoding: xchunked"}) == 400);
    // Content-Length that another parser might read as a different number.
    CHECK(withFields({"Content-Length: +5"}) == 400);
    CHECK(withFields({"Content-Length: 0x5"}) == 400);
    CHECK(withFields({"Content-Length: 5 5"}) == 400);
    CHECK(withFields({"Content-Length: 5", "Content-Length: 5"}) == 400);
    CHECK(withFields({"Content-Length : 5"}) == 400);
    // Header that some stacks normalise to Transfer-Encoding is just another field here: no body.
    RequestHead out;
    REQUIRE(parseRequestHead("POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n", {}, out).status ==
            ParseStatus::Complete);
    CHECK(out.framing == BodyFraming::None);
}

TEST_CASE("keepAlive follows the version default and Connection tokens")
{
    CHECK(parsed(head("GET / HTTP/1.1")).keepAlive);
    CHECK_FALSE(parsed(head("GET / HTTP/1.1", {"Host: a", "Connection: close"})).keepAlive);
    CHECK_FALSE(parsed(head("GET / HTTP/1.1", {"Host: a", "Connection: Upgrade, CLOSE"})).keepAlive);
    CHECK_FALSE(parsed(head("GET / HTTP/1.1", {"Host: a", "Connection: x", "connection: close"})).keepAlive);
    CHECK(parsed(head("GET / HTTP/1.1", {"Host: a", "Connection: closed"})).keepAlive);
    CHECK(parsed(head("GET / HTTP/1.1", {"Host: a", "Connection: keep-alive"})).keepAlive);
    CHECK_FALSE(parsed(head("GET / HTTP/1.0", {})).keepAlive);
    CHECK(parsed(head("GET / HTTP/1.0", {"Connection: Keep-Alive"})).keepAlive);
    CHECK_FALSE(parsed(head("GET / HTTP/1.0", {"Connection: keep-alive, close"})).keepAlive);
    CHECK_FALSE(parsed(head("GET / HTTP/1.0", {"Keep-Alive: timeout=5"})).keepAlive);
}

TEST_CASE("Expect: 100-continue is recognised and other expectations get 417")
{
    CHECK(parsed(head("POST / HTTP/1.1", {"Host: a", "Content-Length: 3", "Expect: 100-continue"})).expectContinue);
    CHECK(parsed(head("POST / HTTP/1.1", {"Host: a", "Content-Length: 3", "expect: 100-Continue"})).expectContinue);
    CHECK_FALSE(parsed(head("POST / HTTP/1.0", {"Content-Length: 3", "Expect: 100-continue"})).expectContinue);
    CHECK_FALSE(parsed(head("POST / HTTP/1.1", {"Host: a", "Expect:"})).expectContinue);
    CHECK(withFields({"Expect: something-else"}) == 417);
    CHECK(withFields({"Expect: 100-continue, foo"}) == 417);
    CHECK(withFields({"Expect: 100-continue;x=1"}) == 417);
    CHECK(withFields({"Expect: 100-continue", "Expect: 200-ok"}) == 417);
    // A malformed message is a 400 before the expectation is looked at.
    CHECK(withFields({"Expect: foo", "Content-Length: x"}) == 400);
    CHECK(withFields({"Content-Length: 5", "Transfer-Encoding: chunked", "Expect: foo"}) == 400);
}

TEST_CASE("pipelined requests: headLength stops at the end of the first head")
{
    const std::string first = head("POST /one HTTP/1.1", {"Host: a", "Content-Length: 5"});
    const std::string second = head("GET /two HTTP/1.1", {"Host: b"});
    const std::string wire = first + "hello" + second;
    RequestHead out;
    REQUIRE(parseRequestHead(wire, ParseLimits{}, out).status == ParseStatus::Complete);
    CHECK(out.headLength == first.size());
    CHECK(out.path == "/one");
    CHECK(out.contentLength == 5);
    CHECK(wire.substr(out.headLength, 5) == "hello");

    const std::string_view rest = std::string_view(wire).substr(out.headLength + 5);
    REQUIRE(parseRequestHead(rest, ParseLimits{}, out).status == ParseStatus::Complete);
    CHECK(out.path == "/two");
    CHECK(out.host == "b");
    CHECK(out.headLength == second.size());
}

TEST_CASE("a reused RequestHead is reset and keeps its header capacity")
{
    RequestHead out;
    const std::string big = head("POST http://x/y?z HTTP/1.1",
                                 {"Host: a", "A: 1", "B: 2", "C: 3", "Content-Length: 1", "Expect: 100-continue"});
    REQUIRE(parseRequestHead(big, ParseLimits{}, out).status == ParseStatus::Complete);
    const std::size_t capacity = out.headers.capacity();
    REQUIRE(out.headers.size() == 6);

    const std::string small = head("GET / HTTP/1.0", {});
    REQUIRE(parseRequestHead(small, ParseLimits{}, out).status == ParseStatus::Complete);
    CHECK(out.headers.empty());
    CHECK(out.headers.capacity() == capacity);
    CHECK(out.host.empty());
    CHECK(out.query.empty());
    CHECK(out.path == "/");
    CHECK(out.framing == BodyFraming::None);
    CHECK(out.contentLength == 0);
    CHECK_FALSE(out.expectContinue);
    CHECK_FALSE(out.keepAlive);
    CHECK(out.versionMinor == 0);
}

TEST_CASE("incremental: every prefix of a valid head is Incomplete and the whole gives the same result")
{
    checkRequestIncrementally(head("GET /a?b HTTP/1.1", {"Host: example.com", "X-A:  v  ", "Connection: close"}), 0);
    checkRequestIncrementally(
        "\r\n" + head("POST http://h:1/p HTTP/1.1", {"Host: x", "Transfer-Encoding: chunked", "Expect: 100-continue"}) +
            "5\r\nhello\r\n0\r\n\r\n",
        0);
    checkRequestIncrementally(head("OPTIONS * HTTP/1.0", {"Content-Length: 10"}) + "0123456789GET", 0);
}

TEST_CASE("incremental: a prefix of a refused head is Incomplete or already refused the same way")
{
    checkRequestIncrementally(head("GET / HTTP/1.1", {"Host: a", "X: a\0b"s}), 400);
    checkRequestIncrementally(head("GET / HTTP/2.0"), 505);
    checkRequestIncrementally(head("CONNECT a:1 HTTP/1.1"), 501);
    checkRequestIncrementally(head("GET / HTTP/1.1", {"Host: a", "Expect: x"}), 417);
    checkRequestIncrementally(head("GET / HTTP/1.1", {"Host: a", "Content-Length: 1", "Transfer-Encoding: chunked"}),
                              400);
    checkRequestIncrementally("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
    checkRequestIncrementally("GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n", 400);
}

TEST_CASE("request line over maxRequestLine is 414 and refused before its end arrives")
{
    ParseLimits limits;
    limits.maxRequestLine = 32;
    const std::string exact = "GET /" + std::string(18, 'a') + " HTTP/1.1";  // 32 bytes
    REQUIRE(exact.size() == 32);
    CHECK(requestOutcome(exact + "\r\nHost: a\r\n\r\n", limits) == 0);
    CHECK(requestOutcome(exact, limits) == -1);
    CHECK(requestOutcome(exact + "\r", limits) == -1);

    const std::string over = "GET /" + std::string(19, 'a') + " HTTP/1.1";  // 33 bytes
    CHECK(requestOutcome(over + "\r\nHost: a\r\n\r\n", limits) == 414);
    CHECK(requestOutcome(over.substr(0, 31), limits) == -1);
    CHECK(requestOutcome(over.substr(0, 32), limits) == 414);  // the version cannot fit any more
    CHECK(requestOutcome("GET /" + std::string(100, 'a'), limits) == 414);
    CHECK(requestOutcome(std::string(100, 'G'), limits) == 414);  // even inside the method
    checkRequestIncrementally(over + "\r\nHost: a\r\n\r\n", 414, limits);
    // Empty lines before the request line do not count towards it.
    CHECK(requestOutcome("\r\n\r\n" + exact + "\r\nHost: a\r\n\r\n", limits) == 0);
}

TEST_CASE("head over maxHeaderBytes or maxHeaderCount is 431 and refused early")
{
    ParseLimits limits;
    limits.maxHeaderBytes = 64;
    limits.maxHeaderCount = 3;
    const std::string exact = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(28, 'p') + "\r\n\r\n";
    REQUIRE(exact.size() == 64);
    CHECK(requestOutcome(exact, limits) == 0);
    CHECK(requestOutcome(exact.substr(0, 63), limits) == -1);

    const std::string over = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(29, 'p') + "\r\n\r\n";
    CHECK(requestOutcome(over, limits) == 431);
    CHECK(requestOutcome(over.substr(0, 64), limits) == 431);  // the end cannot fit any more
    CHECK(requestOutcome(over.substr(0, 63), limits) == -1);
    CHECK(requestOutcome("GET / HTTP/1.1\r\nX: " + std::string(1000, 'a'), limits) == 431);
    checkRequestIncrementally(over, 431, limits);

    ParseLimits count;
    count.maxHeaderCount = 3;
    CHECK(requestOutcome(head("GET / HTTP/1.1", {"Host: a", "B: 1", "C: 2"}), count) == 0);
    CHECK(requestOutcome(head("GET / HTTP/1.1", {"Host: a", "B: 1", "C: 2", "D: 3"}), count) == 431);
    CHECK(requestOutcome("GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\nD", count) == 431);  // before its end
    CHECK(requestOutcome("GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\n", count) == -1);
}

TEST_CASE("sameCgiName: case, '-', '_' and '.' alike, nothing else")
{
    // PHP, WSGI and Rack make each of these HTTP_X_REAL_IP (PHP turns '.' into '_').
    for (const char* name : {"X-Real-IP", "x_real_ip", "X.Real.Ip", "x-REAL_ip", "X.real-IP"}) {
        CAPTURE(name);
        CHECK(sameCgiName(name, "x-real-ip"));
        CHECK(sameCgiName("X_REAL_IP", name));
    }
    for (const char* name : {"X-Real-IPs", "X-Real-I", "X~Real~IP", "X+Real+IP", "X-Real IP", "XReal-IP-", ""}) {
        CAPTURE(name);
        CHECK_FALSE(sameCgiName(name, "x-real-ip"));
    }
}

TEST_CASE("CgiLookAlikes: a '_' or '.' name spelt otherwise than another field of the message")
{
    // The rule, one pair at a time.
    auto reference = [](const std::vector<HeaderField>& headers, std::size_t index) {
        const std::string_view name = headers[index].name;
        if (name.find_first_of("_.") == std::string_view::npos) {
            return false;
        }
        for (std::size_t j = 0; j < headers.size(); ++j) {
            if (j != index && sameCgiName(headers[j].name, name) && !fieldNameEquals(headers[j].name, name)) {
                return true;
            }
        }
        return false;
    };
    const std::vector<HeaderField> headers = {
        {"X-Api-Key", "a"},  {"X_Api_Key", "b"}, {"x.api.key", "c"}, {"Lone_Name", "d"},    {"Same_Twice", "e"},
        {"same_twice", "f"}, {"Odd_One", "g"},   {"Odd.One", "h"},   {"Host", "i"},         {"X-API-KEY", "j"},
        {"Plain", "k"},      {"Dot.Only", "l"},  {"Dot.Only2", "m"}, {"content_type", "n"}, {"Content-Type", "o"},
    };
    const CgiLookAlikes lookAlikes(headers);
    for (std::size_t i = 0; i < headers.size(); ++i) {
        CAPTURE(headers[i].name);
        CHECK(lookAlikes(i) == reference(headers, i));
    }
    CHECK(lookAlikes(1));
    CHECK(lookAlikes(2));
    CHECK_FALSE(lookAlikes(0));  // the '-' spelling stays
    CHECK_FALSE(lookAlikes(3));
    CHECK_FALSE(lookAlikes(4));  // one spelling in two cases: the same name
    CHECK(lookAlikes(6));
    CHECK(lookAlikes(7));
    CHECK(lookAlikes(13));
    CHECK_FALSE(lookAlikes(headers.size()));
    CHECK_FALSE(CgiLookAlikes({{"X-A", "1"}, {"x-a", "2"}})(0));

    // Thousands of fields (a raised max_headers): the same answers as the pairwise rule, sorted
    // once rather than compared pairwise.
    std::vector<std::string> names;
    for (int i = 0; i < 3000; ++i) {
        const std::string n = std::to_string(i % 1000);
        names.push_back((i % 3 == 0 ? "F-" : i % 3 == 1 ? "f_" : "F.") + n + (i % 7 == 0 ? "-x" : ""));
    }
    std::vector<HeaderField> many;
    for (const std::string& name : names) {
        many.push_back({name, "v"});
    }
    const CgiLookAlikes manyLookAlikes(many);
    int marked = 0;
    for (std::size_t i = 0; i < many.size(); i += 37) {
        CAPTURE(many[i].name);
        CHECK(manyLookAlikes(i) == reference(many, i));
        marked += manyLookAlikes(i) ? 1 : 0;
    }
    CHECK(marked > 0);
}

TEST_CASE("connectionHasToken and isHopByHop")
{
    const std::vector<HeaderField> headers = {
        {"Connection", "keep-alive, X-Secret"},
        {"Host", "a"},
        {"connection", " Upgrade ,, te"},
        {"X-Connection", "close"},
    };
    CHECK(connectionHasToken(headers, "x-secret"));
    CHECK(connectionHasToken(headers, "KEEP-ALIVE"));
    CHECK(connectionHasToken(headers, "upgrade"));
    CHECK(connectionHasToken(headers, "TE"));
    CHECK_FALSE(connectionHasToken(headers, "close"));
    CHECK_FALSE(connectionHasToken(headers, "keep"));
    CHECK_FALSE(connectionHasToken(headers, ""));
    CHECK_FALSE(connectionHasToken({}, "close"));

    for (std::string_view name : {"Connection", "keep-alive", "Proxy-Connection", "te", "Trailer", "TRANSFER-ENCODING",
                                  "upgrade", "Proxy-Authenticate", "proxy-authorization", "HTTP2-Settings"}) {
        CHECK(isHopByHop(name, {}));
    }
    CHECK(isHopByHop("X-SECRET", headers));
    // A field named in Connection goes in the spelling CGI-style servers read as the same field.
    CHECK(isHopByHop("x_secret", headers));
    CHECK(isHopByHop("X-Secret", {{"Connection", "X_SECRET"}}));
    CHECK_FALSE(isHopByHop("X_Secret_", headers));
    CHECK_FALSE(isHopByHop("XSecret", headers));
    CHECK_FALSE(isHopByHop("X-Secret", {}));
    CHECK_FALSE(isHopByHop("Host", headers));
    CHECK_FALSE(isHopByHop("Content-Length", headers));
    CHECK_FALSE(isHopByHop("Trailers", headers));
    // Names as long as a hop-by-hop one (the check goes by length first).
    for (std::string_view name : {"tx", "Trailes", "Upgradf", "Connectiom", "Keep-Alivf", "Content-Language",
                                  "Transfer-Encodinh", "Proxy-Authenticatx", "Proxy-Authorizatioo", "Set-Cookie"}) {
        CAPTURE(name);
        CHECK_FALSE(isHopByHopName(name));
    }
}

TEST_CASE(
    "HopByHopFilter: eight Connection tokens compared one by one and more through a sorted list, with the same answers")
{
    // The reference: a fixed hop-by-hop name, or a token of a Connection field that names the
    // field in either spelling.
    auto reference = [](const std::vector<HeaderField>& headers, std::string_view name) {
        if (isHopByHopName(name)) {
            return true;
        }
        for (const HeaderField& h : headers) {
            if (!fieldNameEquals(h.name, "connection")) {
                continue;
            }
            std::string_view rest = h.value;
            while (!rest.empty()) {
                const std::size_t comma = rest.find(',');
                std::string_view token = rest.substr(0, comma);
                while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
                    token.remove_prefix(1);
                }
                while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
                    token.remove_suffix(1);
                }
                if (!token.empty() && sameCgiName(token, name)) {
                    return true;
                }
                rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
            }
        }
        return false;
    };
    std::vector<HeaderField> headers = {
        {"Connection", "keep-alive, X-Secret"},
        {"Host", "a"},
        {"connection", " Upgrade ,, X-Other\t"},
    };
    const std::vector<std::string_view> names = {"X-SECRET",   "x-other",        "Upgrade",  "te",   "Host",
                                                 "X-Secret-2", "Content-Length", "",         "X-T9", "x-t12",
                                                 "X-T13",      "X_T10",          "x_secret", "X-T1", "x-t8"};
    auto agrees = [&] {
        HopByHopFilter filter(headers);
        for (std::string_view name : names) {
            CAPTURE(name);
            CHECK(filter(name) == reference(headers, name));
        }
    };
    agrees();
    {
        HopByHopFilter filter(headers);
        CHECK(filter("x-secret"));
        CHECK(filter("X-OTHER"));
        CHECK_FALSE(filter("X-Secret-2"));
        CHECK_FALSE(filter(""));
    }
    // Twelve tokens: past the eighth they go into the sorted list.
    headers.push_back({"Connection", "X-T1, X-T2, X-T3, X-T4, X-T5, X-T6, X-T7, X-T8, X-T9, X-T10, X-T11, X-T12"});
    agrees();
    HopByHopFilter filter(headers);
    CHECK(filter("x-t12"));
    CHECK(filter("X-T9"));
    CHECK(filter("X_T10"));  // the sorted list compares as sameCgiName does
    CHECK(filter("X.T11"));
    CHECK(filter("x_secret"));
    CHECK(filter("X.Secret"));
    CHECK(filter("keep-alive"));
    CHECK_FALSE(filter("X-T13"));

    // Thousands of tokens (a client's choice, up to the head limit): every one found in either
    // spelling and any case, nothing else.
    std::string many;
    for (int i = 0; i < 5000; ++i) {
        many += (i == 0 ? "" : ",") + std::string(i % 2 == 0 ? "Tok_" : "tok-") + std::to_string(i);
    }
    const std::vector<HeaderField> big = {{"Connection", many}, {"Connection", "Extra-One"}};
    HopByHopFilter bigFilter(big);
    for (int i = 0; i < 5000; i += 499) {
        CAPTURE(i);
        CHECK(bigFilter("TOK-" + std::to_string(i)));
        CHECK(bigFilter("tok_" + std::to_string(i)));
        CHECK(bigFilter("tok-" + std::to_string(i)) == reference(big, "tok-" + std::to_string(i)));
    }
    CHECK(bigFilter("extra_one"));
    CHECK_FALSE(bigFilter("tok-5000"));
    CHECK_FALSE(bigFilter("tok"));
    CHECK(bigFilter("TE"));
}

TEST_CASE("every byte value at every position of a field value and a target is judged alike")
{
    // The scans skip eight plain bytes at a time; this pins them to the byte-by-byte rules.
    for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        const bool valueOk = b == '\t' || b == ' ' || (b >= 0x21 && b <= 0x7E) || b >= 0x80;
        const bool trimmedSpace = b == 0x85 || b == 0xA0;  // refused at the start (and the end)
        const bool targetOk = b >= 0x21 && b <= 0x7E && b != '#';
        for (std::size_t at = 0; at < 19; ++at) {
            std::string value(20, 'v');
            value[at] = c;
            const std::string request = "GET / HTTP/1.1\r\nHost: a\r\nX: " + value + "\r\n\r\n";
            INFO("byte " << b << " at " << at);
            if (b == '\r') {
                CHECK(requestOutcome(request) == 400);  // CR not followed by LF
            } else {
                CHECK((requestOutcome(request) == 0) == (valueOk && !(at == 0 && trimmedSpace)));
            }
            std::string target = "/" + std::string(20, 't');
            target[at + 1] = c;
            CHECK((requestOutcome("GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n") == 0) == targetOk);
        }
    }
}

TEST_CASE("smuggling checklist: the remaining RFC 9112 section 6.3 shapes")
{
    auto framingOf = [](std::string_view field) {
        RequestHead out;
        const std::string text = "POST / HTTP/1.1\r\nHost: a\r\n"s.append(field) + "\r\n\r\n";
        REQUIRE(parseRequestHead(text, ParseLimits{}, out).status == ParseStatus::Complete);
        return out.framing;
    };
    // Odd case and OWS (SP / HTAB only) around the one coding are still chunked.
    CHECK(framingOf("Transfer-Encoding: cHuNkEd") == BodyFraming::Chunked);
    CHECK(framingOf("Transfer-Encoding:\tchunked\t") == BodyFraming::Chunked);
    // Any other whitespace-like byte is not OWS: refused, never read as "chunked".
    CHECK(withFields({"Transfer-Encoding: \x0b"
                      "chunked"}) == 400);
    CHECK(withFields({"Transfer-Encoding: \x0c"
                      "chunked"}) == 400);
    CHECK(withFields({"Transfer-Encoding: \xa0"
                      "chunked"}) == 400);  // obs-text is no OWS either
    CHECK(withFields({"Transfer-Encoding: chunked\r"}) == 400);
    CHECK(withFields({"Transfer-Encoding: identity", "Content-Length: 3"}) == 400);
    CHECK(withFields({"Transfer-Encoding: chunked", "Transfer-Encoding: chunked", "Content-Length: 3"}) == 400);
    CHECK(withFields({"Content-Length: 3", "Transfer-Encoding: chunked"}, "POST / HTTP/1.0") == 400);

    // Content-Length forms another parser could read as a number.
    CHECK(withFields({"Content-Length: 1 2"}) == 400);
    CHECK(withFields({"Content-Length:  1 2 "}) == 400);
    CHECK(withFields({"Content-Length: 1,1"}) == 400);
    CHECK(withFields({"Content-Length: 1, 2"}) == 400);
    CHECK(withFields({"Content-Length: 0x10"}) == 400);
    CHECK(withFields({"Content-Length: +1"}) == 400);
    CHECK(withFields({"Content-Length: -1"}) == 400);
    CHECK(withFields({"Content-Length: -0"}) == 400);
    CHECK(withFields({"Content-Length: 1\x0b"}) == 400);
    CHECK(withFields({"Content-Length: 99999999999999999999999"}) == 400);
    CHECK(withFields({"Content-Length: 1", "Content-Length:"}) == 400);
    CHECK(parsed(head("POST / HTTP/1.1", {"Host: a", "Content-Length: 007"})).contentLength == 7);

    // Control bytes in field names and values, and in the target.
    CHECK(withFields({"X-A\r: b"}) == 400);
    CHECK(withFields({"X-A: b\rc"}) == 400);
    CHECK(withFields({"X-A: b\x1b"
                      "c"}) == 400);
    CHECK(withFields({"X-A\x7f: b"}) == 400);
    CHECK(withFields({"Content-Length\0: 5"s}) == 400);
    CHECK(requestOutcome(head("GET /a\tb HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET /a\rb HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET /a?b\x0b"
                              "c HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET /a?b c HTTP/1.1")) == 400);

    // HTTP/0.9-style lines, odd versions, whitespace games in the request line.
    CHECK(requestOutcome("GET /\r\n\r\n") == 400);
    CHECK(requestOutcome("GET / \r\n\r\n") == 400);
    CHECK(requestOutcome(head("GET / HTTP/01.1")) == 400);
    CHECK(requestOutcome(head("GET / HTTP/1.01")) == 400);
    CHECK(requestOutcome(head("GET / HTTP/1.1\t")) == 400);
    CHECK(requestOutcome(head("GET\t/\tHTTP/1.1")) == 400);
    CHECK(requestOutcome(head(" GET / HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("GET / HTTP/1.1 extra")) == 400);

    // A very long method is part of the request line and bounded by it.
    ParseLimits limits;
    limits.maxRequestLine = 64;
    CHECK(requestOutcome(head(std::string(100, 'G') + " / HTTP/1.1"), limits) == 414);
    CHECK(requestOutcome(std::string(100, 'G'), limits) == 414);  // refused before the SP arrives

    // Lowercase methods are tokens like any other: parsed as sent, never upper-cased.
    CHECK(parsed(head("post / HTTP/1.1", {"Host: a", "Content-Length: 0"})).method == "post");

    // Absolute-form: the target's authority wins over a different Host.
    const RequestHead abs = parsed(head("GET http://public.example/a HTTP/1.1", {"Host: internal.example"}));
    CHECK(abs.host == "public.example");
    CHECK(abs.path == "/a");
    // Authority-form and asterisk-form where they do not belong.
    CHECK(requestOutcome(head("POST example.com:80 HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("DELETE * HTTP/1.1")) == 400);
    CHECK(requestOutcome(head("options * HTTP/1.1")) == 400);  // OPTIONS is case-sensitive
}

TEST_CASE("headWorthParsing: a head is parsed again only when that can decide something")
{
    const std::string start = "GET / HTTP/1.1\r\nHost: a\r\n";
    CHECK(headWorthParsing(start, 0, 0, 8192, 32768));  // nothing tried yet
    // The request line ends in the new bytes: refused at once if bad.
    CHECK(headWorthParsing(start, 5, 5, 8192, 32768));
    CHECK(headWorthParsing("\r\n" + start, 2, 2, 8192, 32768));  // after a leading empty line too
    // One more field line: nothing to decide yet.
    const std::string more = start + "X-A: 1\r\n";
    CHECK_FALSE(headWorthParsing(more, start.size(), start.size(), 8192, 32768));
    // The empty line arrives, also when its CR LF and the line before it are cut across reads.
    CHECK(headWorthParsing(more + "\r\n", more.size(), start.size(), 8192, 32768));
    CHECK(headWorthParsing(more + "\n", more.size() - 1, start.size(), 8192, 32768));
    CHECK(headWorthParsing(more + "\r\n", more.size() + 1, start.size(), 8192, 32768));
    CHECK(headWorthParsing(start + "X: 1\n\n", start.size() + 5, start.size(), 8192, 32768));  // bare LFs: refused
    // The input doubled since the last parse, or a limit was passed just now.
    const std::string longer = more + std::string(40, 'x');
    CHECK(headWorthParsing(longer, more.size(), longer.size() / 2, 8192, 32768));
    CHECK_FALSE(headWorthParsing(longer, more.size(), longer.size() / 2 + 1, 8192, 32768));
    CHECK(headWorthParsing(longer, more.size(), longer.size(), 8192, more.size() + 10));
    CHECK(headWorthParsing("GET /" + std::string(100, 'a'), 60, 60, 64, 32768));
    CHECK_FALSE(headWorthParsing("GET /" + std::string(100, 'a'), 80, 80, 64, 32768));  // passed before
    // Garbage input: the counter that is out of range means "parse".
    CHECK(headWorthParsing("ab", 5, 1, 8192, 32768));
}
