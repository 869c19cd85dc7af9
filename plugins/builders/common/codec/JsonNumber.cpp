#include "codec/JsonNumber.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

#include <sluice/sdk/Value.hpp>

namespace sluice::plugins::codec {

namespace {

bool digit(char c) noexcept { return c >= '0' && c <= '9'; }

std::size_t skipDigits(std::string_view s, std::size_t i) noexcept
{
    while (i < s.size() && digit(s[i])) {
        ++i;
    }
    return i;
}

// For a literal that std::from_chars found out of range: does it overflow (true) or underflow?
// Decides by the decimal exponent of its first significant digit.
bool overflows(std::string_view literal) noexcept
{
    std::size_t i = literal[0] == '-' ? 1 : 0;
    long magnitude = 0;  // decimal exponent of the first significant digit, before 'e'
    bool seen = false;
    long intDigits = 0;
    for (; i < literal.size() && digit(literal[i]); ++i) {
        if (seen || literal[i] != '0') {
            seen = true;
            ++intDigits;
        }
    }
    if (seen) {
        magnitude = intDigits - 1;
    } else if (i < literal.size() && literal[i] == '.') {
        long zeros = 0;
        for (++i; i < literal.size() && literal[i] == '0'; ++i) {
            ++zeros;
        }
        magnitude = -zeros - 1;
    }
    i = literal.find_first_of("eE");
    long exponent = 0;
    if (i != std::string_view::npos) {
        ++i;
        bool negative = literal[i] == '-';
        if (literal[i] == '-' || literal[i] == '+') {
            ++i;
        }
        for (; i < literal.size(); ++i) {
            if (exponent < 100000) {
                exponent = exponent * 10 + (literal[i] - '0');
            }
        }
        exponent = negative ? -exponent : exponent;
    }
    return magnitude + exponent > 0;
}

}  // namespace

std::size_t scanJsonNumber(std::string_view s) noexcept
{
    std::size_t i = 0;
    if (i < s.size() && s[i] == '-') {
        ++i;
    }
    if (i >= s.size()) {
        return 0;
    }
    if (s[i] == '0') {
        ++i;
    } else if (s[i] >= '1' && s[i] <= '9') {
        i = skipDigits(s, i);
    } else {
        return 0;
    }
    if (i < s.size() && s[i] == '.') {
        std::size_t start = i + 1;
        std::size_t end = skipDigits(s, start);
        if (end == start) {
            return 0;
        }
        i = end;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        std::size_t start = i + 1;
        if (start < s.size() && (s[start] == '+' || s[start] == '-')) {
            ++start;
        }
        std::size_t end = skipDigits(s, start);
        if (end == start) {
            return 0;
        }
        i = end;
    }
    return i;
}

bool isJsonNumber(std::string_view literal) noexcept
{
    return !literal.empty() && scanJsonNumber(literal) == literal.size();
}

double jsonNumberValue(std::string_view literal) noexcept
{
    double value = 0.0;
    auto [ptr, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), value);
    (void)ptr;
    if (ec == std::errc::result_out_of_range) {
        const bool negative = literal[0] == '-';
        if (overflows(literal)) {
            return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
        }
        return negative ? -0.0 : 0.0;
    }
    return value;
}

bool appendJsonNumber(const sluice_value& number, std::string& out)
{
    std::string_view literal = sdk::view(number.text);
    if (isJsonNumber(literal)) {
        out.append(literal);
        return true;
    }
    if (!std::isfinite(number.number)) {
        return false;
    }
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, number.number);
    if (ec != std::errc{}) {
        return false;
    }
    out.append(buf, static_cast<std::size_t>(end - buf));
    return true;
}

}  // namespace sluice::plugins::codec
