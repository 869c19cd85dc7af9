#pragma once

// Helpers shared by the HTTP parser tests: one-shot and incremental parsing with results compared
// field by field.

#include <sluice/runtime/http/ChunkedDecoder.h>
#include <sluice/runtime/http/HttpParser.h>

#include <doctest/doctest.h>

#include <string>
#include <string_view>

namespace sluice::runtime::http::testing {

// Outcome of a parse in one number: 0 Complete, -1 Incomplete, else the Error's httpStatus.
inline int outcome(const ParseResult& r)
{
    if (r.status == ParseStatus::Complete) {
        return 0;
    }
    return r.status == ParseStatus::Incomplete ? -1 : r.httpStatus;
}

inline int requestOutcome(std::string_view text, const ParseLimits& limits = {})
{
    RequestHead head;
    return outcome(parseRequestHead(text, limits, head));
}

inline int responseOutcome(std::string_view text, std::string_view method = "GET", const ParseLimits& limits = {})
{
    ResponseHead head;
    return outcome(parseResponseHead(text, limits, method, head));
}

inline void checkSameHeaders(const std::vector<HeaderField>& a, const std::vector<HeaderField>& b)
{
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        CHECK(a[i].name == b[i].name);
        CHECK(a[i].value == b[i].value);
    }
}

inline void checkSame(const RequestHead& a, const RequestHead& b)
{
    CHECK(a.method == b.method);
    CHECK(a.target == b.target);
    CHECK(a.path == b.path);
    CHECK(a.query == b.query);
    CHECK(a.host == b.host);
    CHECK(a.versionMinor == b.versionMinor);
    CHECK(a.framing == b.framing);
    CHECK(a.contentLength == b.contentLength);
    CHECK(a.keepAlive == b.keepAlive);
    CHECK(a.expectContinue == b.expectContinue);
    CHECK(a.headLength == b.headLength);
    checkSameHeaders(a.headers, b.headers);
}

inline void checkSame(const ResponseHead& a, const ResponseHead& b)
{
    CHECK(a.versionMinor == b.versionMinor);
    CHECK(a.status == b.status);
    CHECK(a.reason == b.reason);
    CHECK(a.framing == b.framing);
    CHECK(a.contentLength == b.contentLength);
    CHECK(a.keepAlive == b.keepAlive);
    CHECK(a.headLength == b.headLength);
    checkSameHeaders(a.headers, b.headers);
}

// Every proper prefix of `text` must be Incomplete or give the whole message's Error; the whole
// gives `expected` (see outcome()). On Complete, every prefix from headLength on gives the same head.
inline void checkRequestIncrementally(std::string_view text, int expected, const ParseLimits& limits = {})
{
    RequestHead whole;
    const ParseResult full = parseRequestHead(text, limits, whole);
    REQUIRE(outcome(full) == expected);
    RequestHead part;
    const std::size_t end = full.status == ParseStatus::Complete ? whole.headLength : text.size();
    for (std::size_t n = 0; n < end; ++n) {
        const ParseResult r = parseRequestHead(text.substr(0, n), limits, part);
        INFO("prefix length " << n);
        if (full.status == ParseStatus::Complete) {
            REQUIRE(r.status == ParseStatus::Incomplete);
        } else {
            REQUIRE((r.status == ParseStatus::Incomplete || outcome(r) == expected));
        }
    }
    if (full.status == ParseStatus::Complete) {
        for (std::size_t n = whole.headLength; n <= text.size(); ++n) {
            REQUIRE(parseRequestHead(text.substr(0, n), limits, part).status == ParseStatus::Complete);
            checkSame(part, whole);
        }
    }
}

inline void checkResponseIncrementally(std::string_view text, int expected, std::string_view method = "GET",
                                       const ParseLimits& limits = {})
{
    ResponseHead whole;
    const ParseResult full = parseResponseHead(text, limits, method, whole);
    REQUIRE(outcome(full) == expected);
    ResponseHead part;
    const std::size_t end = full.status == ParseStatus::Complete ? whole.headLength : text.size();
    for (std::size_t n = 0; n < end; ++n) {
        const ParseResult r = parseResponseHead(text.substr(0, n), limits, method, part);
        INFO("prefix length " << n);
        if (full.status == ParseStatus::Complete) {
            REQUIRE(r.status == ParseStatus::Incomplete);
        } else {
            REQUIRE((r.status == ParseStatus::Incomplete || outcome(r) == expected));
        }
    }
    if (full.status == ParseStatus::Complete) {
        REQUIRE(parseResponseHead(text, limits, method, part).status == ParseStatus::Complete);
        checkSame(part, whole);
    }
}

struct Decoded {
    ChunkedDecoder::Status status = ChunkedDecoder::Status::NeedMore;
    std::size_t consumed = 0;  // total over all feeds
    std::string body;
    bool tooLarge = false;
};

// Feeds `input` in pieces of `piece` bytes (0: all at once), stopping at Done or Error. Checks the
// feed() contract on the way: NeedMore consumes everything it was given.
inline Decoded decodeChunked(std::string_view input, std::size_t piece = 0, std::uint64_t maxBody = UINT64_MAX,
                             std::size_t maxLine = 4096, std::size_t maxTrailer = 8192)
{
    ChunkedDecoder decoder(maxBody, maxLine, maxTrailer);
    Decoded out;
    const std::size_t step = piece == 0 ? (input.empty() ? 1 : input.size()) : piece;
    for (std::size_t offset = 0; offset < input.size(); offset += step) {
        const std::string_view chunk = input.substr(offset, step);
        std::size_t used = 0;
        out.status = decoder.feed(chunk, used, [&out](std::string_view data) { out.body.append(data); });
        REQUIRE(used <= chunk.size());
        out.consumed += used;
        if (out.status != ChunkedDecoder::Status::NeedMore) {
            break;
        }
        REQUIRE(used == chunk.size());
    }
    CHECK(decoder.bodyBytes() == out.body.size());
    out.tooLarge = decoder.tooLarge();
    if (out.status == ChunkedDecoder::Status::Error) {
        CHECK(std::string_view(decoder.error()).size() > 0);
    }
    return out;
}

}  // namespace sluice::runtime::http::testing
