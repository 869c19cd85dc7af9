#pragma once

// UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
// U+10FFFF. Every builder and formatter checks text with these before trusting it.

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::plugins::codec {

inline constexpr char32_t kInvalidCodePoint = 0xFFFFFFFFu;

// Decodes the code point starting at s[pos] and moves pos past it; kInvalidCodePoint (pos
// unchanged) when the bytes there are not well-formed UTF-8.
char32_t decodeUtf8(std::string_view s, std::size_t& pos) noexcept;

bool isValidUtf8(std::string_view s) noexcept;

// Appends the UTF-8 form of a scalar value (cp <= 0x10FFFF, not a surrogate).
void appendUtf8(std::string& out, char32_t cp);

// Writes the UTF-8 form of cp to out (room for 4 bytes) and returns its length.
std::size_t encodeUtf8(char32_t cp, char* out) noexcept;

}  // namespace sluice::plugins::codec
