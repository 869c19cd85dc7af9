#pragma once

// The request path is normalised once, and that canonical form is what routing, every policy and
// the backend see. Anything that cannot be normalised without guessing is refused (400).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::runtime::routing {

// Longest canonical path normalizePath() returns; longer ones are refused.
inline constexpr std::size_t kMaxNormalizedPathBytes = 8 * 1024;
// The error of a path refused for its normalised length (414, not 400: it is the URI's size).
inline constexpr const char* kPathTooLong = "path too long";

// Normalises the path of an origin-form request target (without the query):
//  - must start with '/'; characters outside RFC 3986 pchar / '/' are refused (controls,
//    space, '\\', '#', '?', non-ASCII bytes must arrive percent-encoded);
//  - percent-escapes: malformed ones ("%", "%1", "%G1") are refused; escapes of unreserved
//    characters (ALPHA DIGIT - . _ ~) are decoded; the rest (including bytes >= 0x80) are kept
//    with upper-case hex; an escaped '/' (%2F), '\\' (%5C) or NUL (%00) is refused (ambiguous
//    segment boundaries); so are overlong UTF-8 forms (%C0, %C1, %E0%80-%E0%9F, %F0%80-%F0%8F,
//    and the pre-RFC 3629 five- and six-byte forms %F8%80-%F8%87, %FC%80-%FC%83), whose only use
//    is to smuggle '.', '/' or '\\' past a filter to a lenient decoder. Other bytes >= 0x80 are
//    opaque: kept escaped and passed on, valid UTF-8 or not (a backend decoding them gets no
//    ASCII out of them). Double encodings ("%252e", "%252f") are kept as they are: the gateway,
//    like every RFC 3986 server, decodes once, and the backend receives exactly the bytes that
//    routing saw;
//  - repeated slashes are collapsed;
//  - "." and ".." segments (also when written %2E, e.g. "%2e%2E" or ".%2e") are resolved as in
//    RFC 3986 §5.2.4; ".." above the root is refused;
//  - a trailing slash is kept, also one produced by resolving a final dot segment
//    ("/a/b/.." -> "/a/", "/a/." -> "/a/");
//  - ';' is an ordinary pchar here: path parameters stay part of their segment and go on to the
//    backend (the router compares a segment only up to its first ';', see Router::route). A dot
//    segment carrying one (".;x", "..;") is refused, because Tomcat and Jetty
//    resolve it as "." / ".." after routing has seen a literal segment. So is a segment that is
//    nothing but parameters (";", ";x"): those servers drop it with the parameters and then
//    collapse the empty segment it leaves ("/a/;x/b" is "/a/b" to them), while routing would
//    count a segment there. An escaped ';' ("..%3B", "%3Bx") is data, not a parameter (those
//    servers split parameters off before decoding), so that segment is an ordinary one;
//  - a segment is compared byte for byte later on: letter case is significant ("/API" is not
//    "/api") and a trailing dot is part of the segment ("items." is not "items");
//  - a result longer than kMaxNormalizedPathBytes is refused.
// The result contains no "//", "/./" or "/../" and no final "/." or "/..", and is a fixed point:
// normalizePath(normalizePath(p)) == normalizePath(p).
// Returns the canonical path, or nullopt with `error` set to a short log-safe reason (a constant
// text that never echoes the input).
std::optional<std::string> normalizePath(std::string_view path, std::string& error);

// How far ".." segments reached back while normalising: `keptSegments` is the number of leading
// segments of the result that no ".." ever removed (the smallest depth a ".." brought the path
// down to), or kAllSegmentsKept when the path had no ".." segment. "/api/v1/x/../y" keeps 2
// ("/api/v1"), "/api/v1/../../admin" keeps 0. `beforePops` holds the resolved path as it stood
// just before each ".." removed its last segment ("/api/v1/x/../y": {"/api/v1/x"}; empty where
// that was longer than kMaxNormalizedPathBytes, as no API prefix can be). The router
// uses both so that a path written inside one API can never be resolved into another one (see
// Router::route). A path with more than kMaxDotDotSegments ".." segments is refused.
inline constexpr std::size_t kAllSegmentsKept = static_cast<std::size_t>(-1);
inline constexpr std::size_t kMaxDotDotSegments = 32;
struct NormalizeInfo {
    std::size_t keptSegments = kAllSegmentsKept;
    std::vector<std::string> beforePops;
};
std::optional<std::string> normalizePath(std::string_view path, std::string& error, NormalizeInfo& info);

// The query goes to the backend as the client sent it, while policies read its parameters
// percent-decoded (Exchange::queryParam). For both to read the same parameters every '%' must
// start an escape of two hex digits, and none may stand for NUL: backends skip a pair that does
// not decode (Go, Tomcat) or keep it literally (PHP, Python, Node), and C code stops at a NUL.
// Returns why a query is refused (400), or null when it is acceptable.
const char* queryProblem(std::string_view query) noexcept;

}  // namespace sluice::runtime::routing
