#pragma once

namespace sluice::runtime::http {

// The value of one hexadecimal digit (either case), or -1: for chunk sizes and percent-escapes.
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

}  // namespace sluice::runtime::http
