// Fuzz target: parseResponseHead and, for chunked responses, the ChunkedDecoder on the body.
//
// The first input byte selects a mode, the rest is the wire input:
//   bits 0-1  the request method: GET, HEAD, CONNECT, POST
//   bit 2     small limits (status line 64, head 256 bytes, 8 fields; body 64, line 32, trailer 64)
//   bits 3-7  seed the split points of the incremental checks
// Seeds start with a printable mode character: '0' GET, '1' HEAD, '2' CONNECT, '3' POST, and
// '4'..'7' the same with small limits.

#include "FuzzTarget.h"

#include <sluice/runtime/http/HttpParser.h>

namespace sluice::fuzz {
namespace {

using namespace runtime::http;

bool sameHead(const ResponseHead& a, const ResponseHead& b)
{
    if (a.headers.size() != b.headers.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.headers.size(); ++i) {
        if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) {
            return false;
        }
    }
    return a.versionMinor == b.versionMinor && a.status == b.status && a.reason == b.reason && a.framing == b.framing &&
           a.contentLength == b.contentLength && a.keepAlive == b.keepAlive && a.headLength == b.headLength;
}

void checkComplete(std::string_view input, const ParseLimits& limits, std::string_view method, const ResponseHead& head)
{
    SLUICE_FUZZ_CHECK(head.headLength > 0 && head.headLength <= input.size());
    SLUICE_FUZZ_CHECK(head.headLength <= limits.maxHeaderBytes);
    SLUICE_FUZZ_CHECK(head.headers.size() <= limits.maxHeaderCount);
    const std::string_view wire = input.substr(0, head.headLength);
    SLUICE_FUZZ_CHECK(wire.substr(wire.size() - 4) == "\r\n\r\n");
    SLUICE_FUZZ_CHECK(head.status >= 100 && head.status <= 999);
    SLUICE_FUZZ_CHECK(head.versionMinor == 0 || head.versionMinor == 1);
    SLUICE_FUZZ_CHECK(inside(head.reason, wire));
    for (const HeaderField& field : head.headers) {
        SLUICE_FUZZ_CHECK(!field.name.empty() && inside(field.name, wire) && inside(field.value, wire));
    }
    const bool bodiless = method == "HEAD" || head.status < 200 || head.status == 204 || head.status == 304;
    if (bodiless) {
        SLUICE_FUZZ_CHECK(head.framing == BodyFraming::None);
    } else {
        SLUICE_FUZZ_CHECK(head.framing != BodyFraming::None);
    }
    if (method == "CONNECT") {
        SLUICE_FUZZ_CHECK(head.status < 200 || head.status >= 300);
    }
    if (head.framing == BodyFraming::UntilClose) {
        SLUICE_FUZZ_CHECK(!head.keepAlive);
    }
    if (head.framing == BodyFraming::Chunked) {
        SLUICE_FUZZ_CHECK(head.versionMinor == 1);
    }
    if (head.framing != BodyFraming::ContentLength) {
        SLUICE_FUZZ_CHECK(head.contentLength == 0);
    }
}

// Writing a parsed head back out canonically and parsing that must give the same meaning.
void checkRoundTrip(const ParseLimits& limits, std::string_view method, const ResponseHead& head)
{
    std::string wire = head.versionMinor == 1 ? "HTTP/1.1 " : "HTTP/1.0 ";
    wire.append(std::to_string(head.status)).append(" ").append(head.reason).append("\r\n");
    for (const HeaderField& field : head.headers) {
        wire.append(field.name).append(": ").append(field.value).append("\r\n");
    }
    wire.append("\r\n");
    ParseLimits roomy = limits;
    roomy.maxHeaderBytes = wire.size();
    roomy.maxRequestLine = wire.find('\r') > roomy.maxRequestLine ? wire.find('\r') : roomy.maxRequestLine;
    ResponseHead again;
    SLUICE_FUZZ_CHECK(parseResponseHead(wire, roomy, method, again).status == ParseStatus::Complete);
    ResponseHead expected = head;
    expected.headLength = wire.size();
    SLUICE_FUZZ_CHECK(sameHead(expected, again));
}

}  // namespace

int fuzzHttpResponse(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) {
        return 0;
    }
    static constexpr std::string_view kMethods[] = {"GET", "HEAD", "CONNECT", "POST"};
    const unsigned mode = data[0];
    const std::string_view method = kMethods[mode & 3U];
    const bool small = (mode & 4U) != 0;
    const unsigned seed = mode >> 3;
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    ParseLimits limits;
    if (small) {
        limits.maxRequestLine = 64;
        limits.maxHeaderBytes = 256;
        limits.maxHeaderCount = 8;
    }

    ResponseHead head;
    const ParseResult result = parseResponseHead(input, limits, method, head);
    ResponseHead again;
    switch (result.status) {
        case ParseStatus::Complete: {
            checkComplete(input, limits, method, head);
            checkRoundTrip(limits, method, head);
            SLUICE_FUZZ_CHECK(parseResponseHead(input.substr(0, head.headLength), limits, method, again).status ==
                              ParseStatus::Complete);
            SLUICE_FUZZ_CHECK(sameHead(head, again));
            const std::size_t cut = (head.headLength * (seed + 1)) / 33;
            SLUICE_FUZZ_CHECK(parseResponseHead(input.substr(0, cut), limits, method, again).status ==
                              ParseStatus::Incomplete);
            if (head.framing == BodyFraming::Chunked) {
                checkChunked(input.substr(head.headLength), seed, small ? 64 : UINT64_MAX, small ? 32 : 4096,
                             small ? 64 : 8192);
            }
            break;
        }
        case ParseStatus::Error: {
            SLUICE_FUZZ_CHECK(result.httpStatus == 502);
            SLUICE_FUZZ_CHECK(result.reason != nullptr && result.reason[0] != '\0');
            const std::size_t cut = (input.size() * (seed + 1)) / 33;
            const ParseResult prefix = parseResponseHead(input.substr(0, cut), limits, method, again);
            SLUICE_FUZZ_CHECK(prefix.status == ParseStatus::Incomplete ||
                              (prefix.status == ParseStatus::Error && prefix.reason == result.reason));
            break;
        }
        case ParseStatus::Incomplete: SLUICE_FUZZ_CHECK(input.size() <= limits.maxHeaderBytes); break;
    }
    return 0;
}

}  // namespace sluice::fuzz

SLUICE_FUZZ_EXPORT(sluice::fuzz::fuzzHttpResponse)
