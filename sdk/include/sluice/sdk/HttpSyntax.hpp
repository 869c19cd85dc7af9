#pragma once

// HTTP field syntax (RFC 9110 §5.1, §5.5), shared by the runtime, the fake host and plugins.

#include <cstddef>
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
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
        case '-': case '.': case '^': case '_': case '`': case '|': case '~':
            return true;
        default:
            return false;
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

}  // namespace sluice::sdk
