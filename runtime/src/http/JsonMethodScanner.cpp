#include "sluice/runtime/http/JsonMethodScanner.h"

#include "sluice/sdk/HttpSyntax.hpp"

#include <strings.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice::runtime::http {

namespace {

constexpr std::string_view kMethodName = "_method";

// What a one-character escape stands for; 0 for one JSON does not have.
char simpleEscape(char c) noexcept
{
    switch (c) {
        case '"': return '"';
        case '\\': return '\\';
        case '/': return '/';
        case 'b': return '\b';
        case 'f': return '\f';
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        default: return 0;
    }
}

// Stands for a character that no method name or `_method` holds (a non-ASCII one, a broken escape).
constexpr char kNoMatch = '\x80';

// The bytes that matter between tokens inside a nested value: where strings and containers begin
// and end.
constexpr std::array<bool, 256> makeNesting()
{
    std::array<bool, 256> table{};
    for (char c : {'"', '{', '}', '[', ']'}) {
        table[static_cast<unsigned char>(c)] = true;
    }
    return table;
}

constexpr std::array<bool, 256> kNesting = makeNesting();

// The first '"' or '\\' at or after `p` (or `end`): byte by byte for short strings, then with
// memchr, which is faster on long ones.
const char* skipStringText(const char* p, const char* end) noexcept
{
    const char* const bytewise = end - p > 32 ? p + 32 : end;
    while (p < bytewise && *p != '"' && *p != '\\') {
        ++p;
    }
    if (p != bytewise || p == end) {
        return p;
    }
    const auto* quote = static_cast<const char*>(std::memchr(p, '"', static_cast<std::size_t>(end - p)));
    const char* stop = quote != nullptr ? quote : end;
    const auto* backslash = static_cast<const char*>(std::memchr(p, '\\', static_cast<std::size_t>(stop - p)));
    return backslash != nullptr ? backslash : stop;
}

}  // namespace

bool JsonMethodScanner::isJsonContentType(std::string_view contentType) noexcept
{
    for (std::size_t i = 0; i + 5 <= contentType.size(); ++i) {
        if ((contentType[i] == '/' || contentType[i] == '+') &&
            ::strncasecmp(contentType.data() + i + 1, "json", 4) == 0) {
            return true;
        }
    }
    return false;
}

void JsonMethodScanner::feed(std::string_view bytes) noexcept
{
    const char* p = bytes.data();
    const char* const end = p + bytes.size();
    while (p < end) {
        if (nested()) {
            p = skipNested(p, end);
        } else if (!_inString && _depth == 0) {
            // Outside the top-level value only where a string or container begins matters (a
            // number or a literal is no object; other bytes are not JSON at all).
            while (p < end && !kNesting[static_cast<unsigned char>(*p)]) {
                ++p;
            }
            if (p < end) {
                structural(*p++);
            }
        } else if (!_inString) {
            structural(*p++);
        } else if (!_stringIsName && !_stringIsOverride && _escape == Escape::None) {
            // A string that changes nothing: only its end matters, and escapes, which could
            // hide a quote.
            p = skipStringText(p, end);
            if (p < end) {
                stringByte(*p++);
            }
        } else {
            stringByte(*p++);
        }
    }
}

// Inside a nested value nothing is a parameter: only strings (which may hold brackets) and the
// nesting are followed, until the value ends or the input does: a block at a time (skipBlock), or
// byte by byte where a block holds a backslash or an escape is pending.
const char* JsonMethodScanner::skipNested(const char* p, const char* end) noexcept
{
    while (p < end && nested()) {
        const char* const skipped = end - p >= static_cast<std::ptrdiff_t>(kBlock) ? skipBlock(p) : p;
        p = skipped != p ? skipped : skipNestedBytes(p, std::min(end, p + kBlock));
    }
    return p;
}

#if defined(__SSE2__)

namespace {

// The 64 bytes of a block as bit masks: bit i stands for byte i.
struct BlockBits {
    bool backslash = false;    // some byte is '\\'
    std::uint64_t quotes = 0;  // '"'
    std::uint64_t opens = 0;   // '{' or '['
    std::uint64_t closes = 0;  // '}' or ']'
};

BlockBits blockBits(const char* p) noexcept
{
    // '[' and ']' differ from '{' and '}' only in the bit 0x20, which no other byte sets to them.
    const __m128i caseBit = _mm_set1_epi8(0x20);
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i open = _mm_set1_epi8('{');
    const __m128i close = _mm_set1_epi8('}');
    BlockBits bits;
    __m128i backslashes = _mm_setzero_si128();
    for (unsigned lane = 0; lane < 4; ++lane) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * lane));
        const __m128i folded = _mm_or_si128(bytes, caseBit);
        backslashes = _mm_or_si128(backslashes, _mm_cmpeq_epi8(bytes, backslash));
        const unsigned shift = 16 * lane;
        bits.quotes |= std::uint64_t{static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, quote)))}
                       << shift;
        bits.opens |= std::uint64_t{static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(folded, open)))}
                      << shift;
        bits.closes |= std::uint64_t{static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(folded, close)))}
                       << shift;
    }
    bits.backslash = _mm_movemask_epi8(backslashes) != 0;
    return bits;
}

// Bit i is the parity of bits 0..i.
std::uint64_t prefixParity(std::uint64_t bits) noexcept
{
    for (unsigned shift = 1; shift < 64; shift *= 2) {
        bits ^= bits << shift;
    }
    return bits;
}

}  // namespace

// A block without a backslash, where every quote is one: bit masks give the strings and the
// brackets outside them, and the depth follows from the brackets in order.
const char* JsonMethodScanner::skipBlock(const char* p) noexcept
{
    static_assert(kBlock == 64);
    if (_escape != Escape::None) {
        return p;
    }
    const BlockBits bits = blockBits(p);
    if (bits.backslash) {
        return p;
    }
    const std::uint64_t inString = prefixParity(bits.quotes) ^ (_inString ? ~std::uint64_t{0} : 0);
    const std::uint64_t opens = bits.opens & ~inString;
    const std::uint64_t closes = bits.closes & ~inString;
    _inString = (inString >> 63) != 0;
    _stringIsName = false;
    _stringIsOverride = false;
    // The depth after each bracket in turn, without a branch on its kind; only when one of them
    // ends the nested value are they followed again to find which.
    const std::size_t floor = nestedFloor();
    std::size_t depth = _depth;
    bool ends = false;
    for (std::uint64_t brackets = opens | closes; brackets != 0; brackets &= brackets - 1) {
        depth += 1 - 2 * static_cast<std::size_t>(closes >> __builtin_ctzll(brackets) & 1U);
        ends |= depth == floor;
    }
    if (!ends) {
        _depth = depth;
        return p + kBlock;
    }
    for (std::uint64_t brackets = opens | closes;; brackets &= brackets - 1) {
        const int at = __builtin_ctzll(brackets);
        if ((closes >> at & 1U) == 0) {
            ++_depth;
        } else if (--_depth == floor) {
            _inString = false;  // the bracket was outside any string
            return p + at + 1;
        }
    }
}

#else

const char* JsonMethodScanner::skipBlock(const char* p) noexcept { return p; }

#endif

const char* JsonMethodScanner::skipNestedBytes(const char* p, const char* end) noexcept
{
    while (p < end) {
        if (_inString) {
            if (_escape != Escape::None) {
                _escape = Escape::None;  // the escaped character (of "\u", the 'u': hex digits follow)
                ++p;
                continue;
            }
            p = skipStringText(p, end);
            if (p == end) {
                break;
            }
            if (*p++ == '\\') {
                _escape = Escape::Backslash;
            } else {
                _inString = false;
            }
            continue;
        }
        while (p < end && !kNesting[static_cast<unsigned char>(*p)]) {
            ++p;
        }
        if (p == end) {
            break;
        }
        const char c = *p++;
        if (c == '"') {
            _inString = true;
            _stringIsName = false;
            _stringIsOverride = false;
        } else if (c == '{' || c == '[') {
            if (_depth < static_cast<std::size_t>(-1)) {
                ++_depth;
            }
        } else {
            --_depth;
            if (!nested()) {
                break;
            }
        }
    }
    return p;
}

void JsonMethodScanner::structural(char c) noexcept
{
    const bool topMember = _depth == 1 && _topIsObject;
    switch (c) {
        case ' ':
        case '\t':
        case '\n':
        case '\r': return;
        case '"':
            _inString = true;
            _stringIsName = topMember && _expectName;
            _stringIsOverride = false;
            if (_stringIsName) {
                _expectName = false;
                _nameIsMethod = false;
                _nameLength = 0;
            } else if (topMember && _expectValue) {
                valueBegins(true);
            }
            return;
        case '{':
        case '[':
            if (_depth == 0) {
                _topIsObject = c == '{';
                _expectName = _topIsObject;
                _expectValue = false;
                _nameIsMethod = false;
            } else if (topMember && _expectValue) {
                valueBegins(false);
            }
            if (_depth < static_cast<std::size_t>(-1)) {
                ++_depth;
            }
            return;
        case '}':
        case ']':
            if (_depth > 0) {
                --_depth;
            }
            return;
        case ':':
            if (topMember) {
                _expectValue = true;
            }
            return;
        case ',':
            if (topMember) {
                _expectName = true;
                _expectValue = false;
                _nameIsMethod = false;
            }
            return;
        default:
            if (topMember && _expectValue) {
                valueBegins(false);  // a number, true, false or null
            }
            return;
    }
}

void JsonMethodScanner::valueBegins(bool isString) noexcept
{
    _expectValue = false;
    if (!_nameIsMethod) {
        return;
    }
    if (isString) {
        _stringIsOverride = true;
        _value.clear();
    } else {
        flag();  // not a string naming the request's method
    }
}

void JsonMethodScanner::stringByte(char c) noexcept
{
    switch (_escape) {
        case Escape::Backslash:
            _escape = Escape::None;
            if (c == 'u') {
                _escape = Escape::Unicode;
                _code = 0;
                _hexDigits = 0;
            } else {
                const char meant = simpleEscape(c);
                decoded(meant != 0 ? meant : kNoMatch);
            }
            return;
        case Escape::Unicode: {
            const int digit = sdk::hexValue(c);
            if (digit < 0) {
                // Invalid JSON, which decoders refuse; read on as if the escape had ended.
                _escape = Escape::None;
                decoded(kNoMatch);
                stringByte(c);
                return;
            }
            _code = _code * 16 + static_cast<unsigned>(digit);
            if (++_hexDigits == 4) {
                _escape = Escape::None;
                decoded(_code < 0x80 ? static_cast<char>(_code) : kNoMatch);
            }
            return;
        }
        case Escape::None: break;
    }
    if (c == '\\') {
        _escape = Escape::Backslash;
    } else if (c == '"') {
        endString();
    } else {
        decoded(c);
    }
}

void JsonMethodScanner::decoded(char c) noexcept
{
    if (_stringIsName) {
        // Once a character differs the name is another one: the rest of it is plain string text.
        if (_nameLength < kMethodName.size() && c == kMethodName[_nameLength]) {
            ++_nameLength;
        } else {
            _stringIsName = false;
        }
    } else if (_stringIsOverride) {
        _value.push(c);
    }
}

void JsonMethodScanner::endString() noexcept
{
    _inString = false;
    if (_stringIsName) {
        _nameIsMethod = _nameLength == kMethodName.size();
    } else if (_stringIsOverride) {
        judge(_value);
    }
    _stringIsName = false;
    _stringIsOverride = false;
}

}  // namespace sluice::runtime::http
