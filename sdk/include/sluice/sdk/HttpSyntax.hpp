#pragma once

// HTTP field syntax (RFC 9110 §5.1, §5.5), shared by the runtime, the fake host and plugins.

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::sdk {

// The value of one hexadecimal digit (either case), or -1: for percent-escapes and chunk sizes.
constexpr int hexValue(char c) noexcept
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

namespace detail {

// tchar of RFC 9110 §5.6.2.
constexpr bool tokenChar(unsigned c) noexcept
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        return true;
    }
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '.':
        case '^':
        case '_':
        case '`':
        case '|':
        case '~': return true;
        default: return false;
    }
}

// A byte a field value may hold: anything but controls other than horizontal tab, and DEL.
constexpr bool fieldValueByte(unsigned c) noexcept { return (c >= 0x20 || c == '\t') && c != 0x7f; }

// One lookup per byte: header names and values are checked on every change a handler makes.
// The versioned namespace keeps the table's symbol apart from another SDK's: built with default
// visibility, a plugin exports it as a unique symbol that the dynamic linker shares process-wide.
// Change the version with the content.
inline namespace syntax_v1 {
struct SyntaxTable {
    bool token[256] = {};
    bool fieldValue[256] = {};
    constexpr SyntaxTable()
    {
        for (unsigned c = 0; c < 256; ++c) {
            token[c] = tokenChar(c);
            fieldValue[c] = fieldValueByte(c);
        }
    }
};
inline constexpr SyntaxTable kSyntaxTable{};
}  // namespace syntax_v1

}  // namespace detail

inline bool isTokenChar(unsigned char c) noexcept { return detail::kSyntaxTable.token[c]; }

inline char asciiLower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// A field name's byte as CGI-style servers read it: ASCII case folded, and '_' and '.' read as
// '-'. PHP, WSGI and Rack make "X-Real-IP", "X_Real_IP" and (PHP) "X.Real.IP" one variable,
// HTTP_X_REAL_IP; '-', '_' and '.' are the only token characters that are so merged.
inline char cgiFold(char c) noexcept { return c == '_' || c == '.' ? '-' : asciiLower(c); }

// Whether two names are equal byte by byte once each byte is folded with `fold`.
template <typename Fold>
bool equalFolded(std::string_view a, std::string_view b, Fold fold) noexcept
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (fold(a[i]) != fold(b[i])) {
            return false;
        }
    }
    return true;
}

// Field names a CGI-style server reads as one variable (cgiFold byte by byte).
inline bool sameCgiName(std::string_view a, std::string_view b) noexcept { return equalFolded(a, b, cgiFold); }

// Field names compare case-insensitively (ASCII).
inline bool sameFieldName(std::string_view a, std::string_view b) noexcept { return equalFolded(a, b, asciiLower); }

// Whether a field name has a byte that a CGI-style server reads as another ('_' or '.'), so that
// it may stand for a field of another spelling.
inline bool hasCgiLookAlikeByte(std::string_view name) noexcept
{
    for (char c : name) {  // asked for every field of every request: no call per byte
        if (c == '_' || c == '.') {
            return true;
        }
    }
    return false;
}

inline bool isFieldName(std::string_view name, std::size_t maxLength = 256) noexcept
{
    if (name.empty() || name.size() > maxLength) {
        return false;
    }
    for (unsigned char c : name) {
        if (!isTokenChar(c)) {
            return false;
        }
    }
    return true;
}

// A header value: no CR, LF, NUL or other control character except horizontal tab.
inline bool isFieldValue(std::string_view value) noexcept
{
    for (unsigned char c : value) {
        if (!detail::kSyntaxTable.fieldValue[c]) {
            return false;
        }
    }
    return true;
}

enum class ParameterLookup {
    Absent,    // the media type has no parameter of that name
    Found,     // exactly one; its value is in `out`
    Malformed  // the parameter list does not follow RFC 9110 §5.6.6, or the name occurs twice
};

// Looks up the parameter `name` (case-insensitive) of a Content-Type value such as
// `application/xml; charset="iso-8859-1"` (RFC 9110 §8.3.1): parameters are `;`-separated
// `token=token` or `token=quoted-string` pairs with optional whitespace around the `;`. A
// quoted value is returned unquoted. A list that cannot be read is Malformed rather than read
// loosely, and so is a repeated name: a recipient that picked the other one would see a
// different message.
inline ParameterLookup mediaTypeParameter(std::string_view contentType, std::string_view name, std::string& out)
{
    const auto isSpace = [](char c) { return c == ' ' || c == '\t'; };
    const auto tokenEnd = [&](std::size_t from) {
        while (from < contentType.size() && isTokenChar(static_cast<unsigned char>(contentType[from]))) {
            ++from;
        }
        return from;
    };
    bool found = false;
    std::size_t at = contentType.find(';');
    while (at < contentType.size()) {
        ++at;  // past ';'
        while (at < contentType.size() && isSpace(contentType[at])) {
            ++at;
        }
        if (at == contentType.size() || contentType[at] == ';') {
            continue;  // an empty parameter
        }
        const std::size_t nameEnd = tokenEnd(at);
        if (nameEnd == at || nameEnd == contentType.size() || contentType[nameEnd] != '=') {
            return ParameterLookup::Malformed;
        }
        const std::string_view parameter = contentType.substr(at, nameEnd - at);
        std::string value;
        at = nameEnd + 1;
        if (at < contentType.size() && contentType[at] == '"') {
            for (++at;; ++at) {
                if (at == contentType.size()) {
                    return ParameterLookup::Malformed;  // no closing quote
                }
                auto c = static_cast<unsigned char>(contentType[at]);
                if (c == '"') {
                    ++at;
                    break;
                }
                if (c == '\\') {
                    if (++at == contentType.size()) {
                        return ParameterLookup::Malformed;
                    }
                    c = static_cast<unsigned char>(contentType[at]);
                }
                if (!detail::kSyntaxTable.fieldValue[c]) {
                    return ParameterLookup::Malformed;
                }
                value.push_back(static_cast<char>(c));
            }
        } else {
            const std::size_t valueEnd = tokenEnd(at);
            if (valueEnd == at) {
                return ParameterLookup::Malformed;
            }
            value.assign(contentType.substr(at, valueEnd - at));
            at = valueEnd;
        }
        while (at < contentType.size() && isSpace(contentType[at])) {
            ++at;
        }
        if (at < contentType.size() && contentType[at] != ';') {
            return ParameterLookup::Malformed;
        }
        if (equalFolded(parameter, name, asciiLower)) {
            if (found) {
                return ParameterLookup::Malformed;
            }
            found = true;
            out = std::move(value);
        }
    }
    return found ? ParameterLookup::Found : ParameterLookup::Absent;
}

// Whether one Content-Encoding field value names a coding other than identity (RFC 9110 §8.4):
// the body is not the media type's bytes until it is decoded. The value is a list; empty
// elements and "identity" (any case) name none, anything else does ("identity, gzip" is coded).
inline bool namesContentCoding(std::string_view value) noexcept
{
    constexpr std::string_view kIdentity = "identity";
    while (!value.empty()) {
        const std::size_t comma = value.find(',');
        std::string_view element = value.substr(0, comma);
        value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
        while (!element.empty() && (element.front() == ' ' || element.front() == '\t')) {
            element.remove_prefix(1);
        }
        while (!element.empty() && (element.back() == ' ' || element.back() == '\t')) {
            element.remove_suffix(1);
        }
        if (element.empty()) {
            continue;
        }
        if (!equalFolded(element, kIdentity, asciiLower)) {
            return true;
        }
    }
    return false;
}

// Fields whose value is one item, not a list (RFC 9110 §5.3: a sender does not send such a field
// twice): Authorization, Content-Type, Location ... and the one-value fields of CORS (Fetch),
// Origin (RFC 6454), HSTS (RFC 6797) and X-Frame-Options (RFC 7034). A recipient given two reads
// the first, the last, or both joined with ", " (PHP), and a browser may ignore both. Cookie is a
// list of pairs, but with "; " (RFC 6265 §5.4): see header_add in abi.h.
inline bool takesOneValue(std::string_view name) noexcept
{
    constexpr std::string_view kOneValue[] = {
        "access-control-allow-credentials",
        "access-control-allow-origin",
        "access-control-max-age",
        "age",
        "authorization",
        "content-length",
        "content-location",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expires",
        "from",
        "host",
        "if-modified-since",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "origin",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "strict-transport-security",
        "user-agent",
        "x-content-type-options",
        "x-frame-options",
    };
    for (std::string_view known : kOneValue) {
        if (sameFieldName(name, known)) {
            return true;
        }
    }
    return false;
}

}  // namespace sluice::sdk
