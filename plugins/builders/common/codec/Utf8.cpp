#include "codec/Utf8.h"

namespace sluice::plugins::codec {

namespace {

unsigned char byteAt(std::string_view s, std::size_t i) noexcept { return static_cast<unsigned char>(s[i]); }

bool continuation(unsigned char b) noexcept { return (b & 0xC0u) == 0x80u; }

}  // namespace

char32_t decodeUtf8(std::string_view s, std::size_t& pos) noexcept
{
    if (pos >= s.size()) {
        return kInvalidCodePoint;
    }
    const unsigned char b0 = byteAt(s, pos);
    if (b0 < 0x80u) {
        ++pos;
        return b0;
    }
    std::size_t need = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if (b0 >= 0xC2u && b0 <= 0xDFu) {
        need = 1;
        cp = b0 & 0x1Fu;
        min = 0x80;
    } else if (b0 >= 0xE0u && b0 <= 0xEFu) {
        need = 2;
        cp = b0 & 0x0Fu;
        min = 0x800;
    } else if (b0 >= 0xF0u && b0 <= 0xF4u) {
        need = 3;
        cp = b0 & 0x07u;
        min = 0x10000;
    } else {
        return kInvalidCodePoint;  // continuation byte, C0/C1 (always overlong) or F5..FF
    }
    if (s.size() - pos <= need) {
        return kInvalidCodePoint;
    }
    for (std::size_t k = 1; k <= need; ++k) {
        const unsigned char b = byteAt(s, pos + k);
        if (!continuation(b)) {
            return kInvalidCodePoint;
        }
        cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return kInvalidCodePoint;
    }
    pos += need + 1;
    return cp;
}

bool isValidUtf8(std::string_view s) noexcept
{
    std::size_t pos = 0;
    while (pos < s.size()) {
        if (byteAt(s, pos) < 0x80u) {
            ++pos;
            continue;
        }
        if (decodeUtf8(s, pos) == kInvalidCodePoint) {
            return false;
        }
    }
    return true;
}

std::size_t encodeUtf8(char32_t cp, char* out) noexcept
{
    if (cp < 0x80) {
        out[0] = static_cast<char>(cp);
        return 1;
    }
    if (cp < 0x800) {
        out[0] = static_cast<char>(0xC0u | (cp >> 6));
        out[1] = static_cast<char>(0x80u | (cp & 0x3Fu));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = static_cast<char>(0xE0u | (cp >> 12));
        out[1] = static_cast<char>(0x80u | ((cp >> 6) & 0x3Fu));
        out[2] = static_cast<char>(0x80u | (cp & 0x3Fu));
        return 3;
    }
    out[0] = static_cast<char>(0xF0u | (cp >> 18));
    out[1] = static_cast<char>(0x80u | ((cp >> 12) & 0x3Fu));
    out[2] = static_cast<char>(0x80u | ((cp >> 6) & 0x3Fu));
    out[3] = static_cast<char>(0x80u | (cp & 0x3Fu));
    return 4;
}

void appendUtf8(std::string& out, char32_t cp)
{
    char buf[4];
    out.append(buf, encodeUtf8(cp, buf));
}

}  // namespace sluice::plugins::codec
