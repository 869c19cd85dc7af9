#include "sluice/runtime/routing/PathNormalizer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "sluice/sdk/HttpSyntax.hpp"

namespace sluice::runtime::routing {
namespace {

// What a byte may be when it appears literally in a path (RFC 3986 §3.3).
enum class CharClass : std::uint8_t {
    Refused,     // controls, space, '"', '#', '<', '>', '?', '\\', DEL, >= 0x80
    Unreserved,  // ALPHA DIGIT - . _ ~ : decoded when escaped
    Reserved,    // sub-delims ':' '@' : legal literally, kept escaped when escaped
    // Outside RFC 3986, but sent literally by browsers ('[', ']', '|', '^'), Python and Go ('[',
    // ']') and scripts ('{', '}', '`'), and accepted by nginx: written escaped, the one form
    // that every server reads alike.
    Escaped,
    Percent,
    Slash,
};

constexpr std::array<CharClass, 256> makeCharClasses()
{
    std::array<CharClass, 256> table{};  // value-initialised: all Refused
    for (int c = 'A'; c <= 'Z'; ++c) {
        table[static_cast<std::size_t>(c)] = CharClass::Unreserved;
    }
    for (int c = 'a'; c <= 'z'; ++c) {
        table[static_cast<std::size_t>(c)] = CharClass::Unreserved;
    }
    for (int c = '0'; c <= '9'; ++c) {
        table[static_cast<std::size_t>(c)] = CharClass::Unreserved;
    }
    for (char c : {'-', '.', '_', '~'}) {
        table[static_cast<unsigned char>(c)] = CharClass::Unreserved;
    }
    for (char c : {'!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@'}) {
        table[static_cast<unsigned char>(c)] = CharClass::Reserved;
    }
    for (char c : {'[', ']', '|', '^', '{', '}', '`'}) {
        table[static_cast<unsigned char>(c)] = CharClass::Escaped;
    }
    table[static_cast<unsigned char>('%')] = CharClass::Percent;
    table[static_cast<unsigned char>('/')] = CharClass::Slash;
    return table;
}

constexpr std::array<CharClass, 256> kCharClasses = makeCharClasses();

constexpr CharClass classOf(char c) { return kCharClasses[static_cast<unsigned char>(c)]; }

using sdk::hexValue;

constexpr char kHexDigits[] = "0123456789ABCDEF";

// The error texts are constants so that nothing from the request reaches a log line through them.
constexpr const char* kEmpty = "empty path";
constexpr const char* kNotAbsolute = "path does not start with '/'";
constexpr const char* kBadCharacter = "invalid character in path";
constexpr const char* kBadEscape = "malformed percent-escape in path";
constexpr const char* kEncodedSeparator = "encoded '/', '\\' or NUL in path";
constexpr const char* kOverlong = "overlong UTF-8 encoding in path";
constexpr const char* kAboveRoot = "'..' segment above the root";
constexpr const char* kDotWithParameter = "dot segment with a ';' parameter";
constexpr const char* kUnnamedParameter = "segment with a ';' parameter and no name";
constexpr const char* kTooManyDotDots = "too many '..' segments in path";
constexpr const char* kDotsAndSpaces = "segment of dots and spaces in path";

// Windows (IIS, and any backend reading files through Win32) drops the spaces and dots at the
// end of a path, so a segment of dots and spaces ("..%20", ".%09", "..%20.") is "." or ".."
// there: a '..' the gateway never saw. Such a segment (before any ';') is refused. Dots alone
// ("...") are a name on Windows too, and are kept.
bool dotsAndSpaces(std::string_view segment)
{
    bool space = false;
    for (std::size_t i = 0; i < segment.size();) {
        if (segment[i] == '.') {
            ++i;
        } else if (i > 0 && (segment.substr(i, 3) == "%20" || segment.substr(i, 3) == "%09")) {
            space = true;
            i += 3;
        } else {
            return false;
        }
    }
    return space;
}

// Overlong UTF-8: lead bytes C0/C1 never occur in valid UTF-8; E0 and F0 are overlong when the
// next byte is below A0 and 90 respectively.
bool isOverlongLead(int byte) { return byte == 0xC0 || byte == 0xC1; }

bool isOverlongContinuation(int previousEscaped, int byte)
{
    return (previousEscaped == 0xE0 && byte >= 0x80 && byte < 0xA0) ||
           (previousEscaped == 0xF0 && byte >= 0x80 && byte < 0x90) ||
           (previousEscaped == 0xF8 && byte >= 0x80 && byte < 0x88) ||  // five-byte form (RFC 2279)
           (previousEscaped == 0xFC && byte >= 0x80 && byte < 0x84);    // six-byte form
}

enum class SegmentKind { Empty, Dot, DotDot, Other };

// Where a canonical segment's ';' parameter begins: at ';', or at an escaped one ("%3B"; the
// canonical text writes escapes in upper case), which a backend that decodes the path before it
// strips parameters reads as ';' too ("..%3B" is "..;" there, then "..").
std::size_t parameterStart(std::string_view segment) { return std::min(segment.find(';'), segment.find("%3B")); }

// Classifies the canonical segment text (already decoded).
SegmentKind classify(std::string_view segment, const char*& error)
{
    if (segment.empty()) {
        return SegmentKind::Empty;
    }
    const std::size_t parameter = parameterStart(segment);
    if (parameter == 0) {
        // Tomcat, Jetty and Spring drop the parameter and then the empty segment it leaves
        // ("/a/;x/b" is "/a//b", then "/a/b"), while routing would count it as a segment.
        error = kUnnamedParameter;
        return SegmentKind::Other;
    }
    if (segment[0] != '.') {
        return SegmentKind::Other;
    }
    std::string_view beforeParameter = segment.substr(0, parameter);
    if (dotsAndSpaces(beforeParameter)) {
        error = kDotsAndSpaces;
        return SegmentKind::Other;
    }
    bool dot = beforeParameter == ".";
    bool dotDot = beforeParameter == "..";
    if ((dot || dotDot) && beforeParameter.size() != segment.size()) {
        error = kDotWithParameter;
        return SegmentKind::Other;
    }
    if (dot) {
        return SegmentKind::Dot;
    }
    return dotDot ? SegmentKind::DotDot : SegmentKind::Other;
}

// Appends the canonical form of the segment starting at path[pos] (up to the next '/' or the end)
// to `out`, and advances `pos` to that '/' or the end. Returns false with `error` set on refusal.
bool appendSegment(std::string_view path, std::size_t& pos, std::string& out, const char*& error)
{
    int previousEscaped = -1;  // the byte of the escape just before, for the overlong check
    while (pos < path.size()) {
        char c = path[pos];
        switch (classOf(c)) {
            case CharClass::Slash: return true;
            case CharClass::Unreserved:
            case CharClass::Reserved:
                out.push_back(c);
                previousEscaped = -1;
                ++pos;
                break;
            case CharClass::Percent: {
                if (path.size() - pos < 3) {
                    error = kBadEscape;
                    return false;
                }
                int high = hexValue(path[pos + 1]);
                int low = hexValue(path[pos + 2]);
                if (high < 0 || low < 0) {
                    error = kBadEscape;
                    return false;
                }
                int byte = high * 16 + low;
                if (byte == '/' || byte == '\\' || byte == 0) {
                    error = kEncodedSeparator;
                    return false;
                }
                if (isOverlongLead(byte) || isOverlongContinuation(previousEscaped, byte)) {
                    error = kOverlong;
                    return false;
                }
                auto decoded = static_cast<char>(byte);
                if (classOf(decoded) == CharClass::Unreserved) {
                    out.push_back(decoded);
                    previousEscaped = -1;
                } else {
                    out.push_back('%');
                    out.push_back(kHexDigits[high]);
                    out.push_back(kHexDigits[low]);
                    previousEscaped = byte;
                }
                pos += 3;
                break;
            }
            case CharClass::Escaped:
                out.push_back('%');
                out.push_back(kHexDigits[static_cast<unsigned char>(c) >> 4]);
                out.push_back(kHexDigits[static_cast<unsigned char>(c) & 0xF]);
                previousEscaped = -1;
                ++pos;
                break;
            case CharClass::Refused: error = kBadCharacter; return false;
        }
    }
    return true;
}

}  // namespace

std::optional<std::string> normalizePath(std::string_view path, std::string& error)
{
    NormalizeInfo info;
    return normalizePath(path, error, info);
}

std::optional<std::string> normalizePath(std::string_view path, std::string& error, NormalizeInfo& info)
{
    info.keptSegments = kAllSegmentsKept;
    info.beforePops.clear();
    std::size_t depth = 0;  // segments in `out`
    const char* failure = nullptr;
    if (path.empty()) {
        failure = kEmpty;
    } else if (path[0] != '/') {
        failure = kNotAbsolute;
    }

    // `out` holds the resolved segments, each as "/segment"; a new segment is written in place at
    // its end, then kept, dropped (empty, ".") or used to pop the previous one ("..").
    std::string out;
    bool trailingSlash = false;
    if (failure == nullptr) {
        out.reserve(path.size() + 1);
        std::size_t pos = 0;
        while (pos < path.size()) {
            ++pos;  // the '/' that starts this segment
            std::size_t segmentStart = out.size();
            out.push_back('/');
            if (!appendSegment(path, pos, out, failure)) {
                break;
            }
            std::string_view segment = std::string_view(out).substr(segmentStart + 1);
            SegmentKind kind = classify(segment, failure);
            if (failure != nullptr) {
                break;
            }
            trailingSlash = kind != SegmentKind::Other;
            if (kind == SegmentKind::Other) {
                ++depth;
                continue;
            }
            out.resize(segmentStart);
            if (kind == SegmentKind::DotDot) {
                if (out.empty()) {
                    failure = kAboveRoot;
                    break;
                }
                if (info.beforePops.size() == kMaxDotDotSegments) {
                    failure = kTooManyDotDots;
                    break;
                }
                // A path longer than a request may resolve to cannot be an API's prefix: no copy
                // (each ".." would otherwise copy up to the whole request line).
                info.beforePops.emplace_back(out.size() <= kMaxNormalizedPathBytes ? out : std::string());
                out.resize(out.rfind('/'));
                --depth;
                info.keptSegments = std::min(info.keptSegments, depth);
            }
        }
    }
    if (failure == nullptr) {
        if (out.empty() || trailingSlash) {
            out.push_back('/');
        }
        if (out.size() > kMaxNormalizedPathBytes) {
            failure = kPathTooLong;
        }
    }
    if (failure != nullptr) {
        error = failure;
        info.keptSegments = kAllSegmentsKept;
        info.beforePops.clear();
        return std::nullopt;
    }
    return out;
}

const char* queryProblem(std::string_view query) noexcept
{
    if (query.empty()) {
        return nullptr;  // its data() may be null, which memchr must not be given
    }
    const char* p = query.data();
    const char* const end = p + query.size();
    while ((p = static_cast<const char*>(std::memchr(p, '%', static_cast<std::size_t>(end - p)))) != nullptr) {
        const int high = end - p > 2 ? sdk::hexValue(p[1]) : -1;
        const int low = high >= 0 ? sdk::hexValue(p[2]) : -1;
        if (low < 0) {
            return "The query has a '%' that does not start an escape of two hex digits (write it as %25).";
        }
        if (high == 0 && low == 0) {
            return "The query has an escaped NUL (%00).";
        }
        p += 3;
    }
    return nullptr;
}

}  // namespace sluice::runtime::routing
