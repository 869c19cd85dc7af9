#pragma once

// HTTP field syntax (RFC 9110 §5.1, §5.5), shared by the runtime, the fake host and plugins.

#include <cstddef>
#include <string_view>

namespace sluice::sdk {

inline bool isTokenChar(unsigned char c) noexcept
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

// A header name: a non-empty token of at most `maxLength` characters.
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
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return false;
        }
    }
    return true;
}

}  // namespace sluice::sdk
