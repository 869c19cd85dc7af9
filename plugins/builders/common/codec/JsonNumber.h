#pragma once

// JSON numbers (RFC 8259 section 6): the grammar, the double a literal denotes, and how a NUMBER
// node is written back (its literal text when that is a valid literal, so 1.10 stays 1.10 and
// 12345678901234567890 keeps its digits).

#include <cstddef>
#include <string>
#include <string_view>

#include "sluice/abi.h"

namespace sluice::plugins::codec {

// Length of the longest JSON number literal at the start of s (0 when there is none).
std::size_t scanJsonNumber(std::string_view s) noexcept;

bool isJsonNumber(std::string_view literal) noexcept;

// The double nearest to a valid literal; +-infinity beyond the range of double, +-0 below it.
double jsonNumberValue(std::string_view literal) noexcept;

// Appends the JSON text of a NUMBER node: its literal when valid, else the shortest text that
// reads back as the same double. False when the node has no valid literal and is NaN or infinite.
bool appendJsonNumber(const sluice_value& number, std::string& out);

}  // namespace sluice::plugins::codec
