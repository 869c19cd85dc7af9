// Fuzz target: parseRequestHead and, for chunked requests, the ChunkedDecoder on the body.
//
// The first input byte selects a mode, the rest is the wire input:
//   bit 0  small limits (request line 64, head 256 bytes, 8 fields; body 64, line 32, trailer 64)
//   bit 1  skip the head: the whole input is a chunked body
//   bits 2-7 seed the split points of the incremental checks
// Seeds therefore start with a printable mode character: '0' request, '1' request with small
// limits, '2' chunked body, '3' chunked body with small limits.

#include "FuzzTarget.h"

#include <sluice/runtime/http/HttpParser.h>

namespace sluice::fuzz {
namespace {

using namespace runtime::http;

bool sameHead(const RequestHead& a, const RequestHead& b)
{
    if (a.headers.size() != b.headers.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.headers.size(); ++i) {
        if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) {
            return false;
        }
    }
    return a.method == b.method && a.target == b.target && a.path == b.path && a.query == b.query && a.host == b.host &&
           a.versionMinor == b.versionMinor && a.framing == b.framing && a.contentLength == b.contentLength &&
           a.keepAlive == b.keepAlive && a.expectContinue == b.expectContinue && a.headLength == b.headLength;
}

void checkComplete(std::string_view input, const ParseLimits& limits, const RequestHead& head)
{
    SLUICE_FUZZ_CHECK(head.headLength > 0 && head.headLength <= input.size());
    SLUICE_FUZZ_CHECK(head.headLength <= limits.maxHeaderBytes);
    SLUICE_FUZZ_CHECK(head.headers.size() <= limits.maxHeaderCount);
    SLUICE_FUZZ_CHECK(input.substr(0, head.headLength).substr(head.headLength - 4) == "\r\n\r\n");
    const std::string_view wire = input.substr(0, head.headLength);
    SLUICE_FUZZ_CHECK(!head.method.empty() && inside(head.method, wire));
    SLUICE_FUZZ_CHECK(!head.target.empty() && inside(head.target, wire));
    SLUICE_FUZZ_CHECK(head.target.size() <= limits.maxRequestLine);
    SLUICE_FUZZ_CHECK(inside(head.path, wire) || head.path == "/");
    SLUICE_FUZZ_CHECK(inside(head.query, wire));
    SLUICE_FUZZ_CHECK(inside(head.host, wire));
    SLUICE_FUZZ_CHECK(head.versionMinor == 0 || head.versionMinor == 1);
    SLUICE_FUZZ_CHECK(head.method != "CONNECT");
    SLUICE_FUZZ_CHECK(head.target == "*" ? head.method == "OPTIONS" && head.path.empty() : head.path[0] == '/');
    for (char c : head.target) {
        SLUICE_FUZZ_CHECK(c > ' ' && c < 0x7f && c != '#');
    }
    for (const HeaderField& field : head.headers) {
        SLUICE_FUZZ_CHECK(!field.name.empty() && inside(field.name, wire) && inside(field.value, wire));
        for (char c : field.value) {
            SLUICE_FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
        }
        if (!field.value.empty()) {
            SLUICE_FUZZ_CHECK(field.value.front() != ' ' && field.value.back() != ' ');
        }
    }
    if (head.framing == BodyFraming::Chunked) {
        SLUICE_FUZZ_CHECK(head.versionMinor == 1);
    }
    if (head.framing != BodyFraming::ContentLength) {
        SLUICE_FUZZ_CHECK(head.contentLength == 0);
    }
    SLUICE_FUZZ_CHECK(head.framing != BodyFraming::UntilClose);
    if (head.versionMinor == 1) {
        SLUICE_FUZZ_CHECK(connectionHasToken(head.headers, "close") != head.keepAlive);
    }
}

// Writing a parsed head back out canonically and parsing that must give the same meaning: no
// whitespace or case games change what a field says once it has been accepted.
void checkRoundTrip(const ParseLimits& limits, const RequestHead& head)
{
    std::string wire;
    wire.append(head.method)
        .append(" ")
        .append(head.target)
        .append(head.versionMinor == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
    for (const HeaderField& field : head.headers) {
        wire.append(field.name).append(": ").append(field.value).append("\r\n");
    }
    wire.append("\r\n");
    ParseLimits roomy = limits;
    roomy.maxHeaderBytes = wire.size();
    RequestHead again;
    SLUICE_FUZZ_CHECK(parseRequestHead(wire, roomy, again).status == ParseStatus::Complete);
    SLUICE_FUZZ_CHECK(again.headLength == wire.size());
    RequestHead expected = head;
    expected.headLength = wire.size();
    SLUICE_FUZZ_CHECK(sameHead(expected, again));
}

}  // namespace

int fuzzHttpRequest(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) {
        return 0;
    }
    const unsigned mode = data[0];
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    const bool small = (mode & 1U) != 0;
    const unsigned seed = mode >> 2;
    ParseLimits limits;
    if (small) {
        limits.maxRequestLine = 64;
        limits.maxHeaderBytes = 256;
        limits.maxHeaderCount = 8;
    }
    const std::uint64_t maxBody = small ? 64 : UINT64_MAX;
    const std::size_t maxLine = small ? 32 : 4096;
    const std::size_t maxTrailer = small ? 64 : 8192;

    if ((mode & 2U) != 0) {
        checkChunked(input, seed, maxBody, maxLine, maxTrailer);
        return 0;
    }

    RequestHead head;
    const ParseResult result = parseRequestHead(input, limits, head);
    RequestHead again;
    switch (result.status) {
        case ParseStatus::Complete: {
            checkComplete(input, limits, head);
            checkRoundTrip(limits, head);
            // The head alone parses the same; any shorter prefix is Incomplete.
            SLUICE_FUZZ_CHECK(parseRequestHead(input.substr(0, head.headLength), limits, again).status ==
                              ParseStatus::Complete);
            SLUICE_FUZZ_CHECK(sameHead(head, again));
            const std::size_t cut = (head.headLength * (seed + 1)) / 65;
            SLUICE_FUZZ_CHECK(parseRequestHead(input.substr(0, cut), limits, again).status == ParseStatus::Incomplete);
            SLUICE_FUZZ_CHECK(parseRequestHead(input.substr(0, head.headLength - 1), limits, again).status ==
                              ParseStatus::Incomplete);
            if (head.framing == BodyFraming::Chunked) {
                checkChunked(input.substr(head.headLength), seed, maxBody, maxLine, maxTrailer);
            }
            break;
        }
        case ParseStatus::Error: {
            const int s = result.httpStatus;
            SLUICE_FUZZ_CHECK(s == 400 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505);
            SLUICE_FUZZ_CHECK(result.reason != nullptr && result.reason[0] != '\0');
            // A prefix is Incomplete or refused the same way.
            const std::size_t cut = (input.size() * (seed + 1)) / 65;
            const ParseResult prefix = parseRequestHead(input.substr(0, cut), limits, again);
            SLUICE_FUZZ_CHECK(prefix.status == ParseStatus::Incomplete ||
                              (prefix.status == ParseStatus::Error && prefix.httpStatus == s));
            // More input never changes a refusal.
            std::string longer(input);
            longer += "\r\n\r\n";
            const ParseResult extended = parseRequestHead(longer, limits, again);
            SLUICE_FUZZ_CHECK(extended.status == ParseStatus::Error && extended.httpStatus == s);
            break;
        }
        case ParseStatus::Incomplete: SLUICE_FUZZ_CHECK(input.size() <= limits.maxHeaderBytes); break;
    }
    return 0;
}

}  // namespace sluice::fuzz

SLUICE_FUZZ_EXPORT(sluice::fuzz::fuzzHttpRequest)
