#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <Poco/Dynamic/Var.h>

#include "sluice/abi.h"
#include "sluice/runtime/Arena.h"

namespace sluice::runtime {

// Parses JSON text, keeping object members in document order. On failure returns nullopt and
// sets `error` to the parser's message, led by "line L, column C: " where a syntax error is.
std::optional<Poco::Dynamic::Var> parseJson(const std::string& text, std::string& error);

// Reads a whole file; nullopt with `error` set when it cannot be read.
std::optional<std::string> readTextFile(const std::string& path, std::string& error);

// Serialises a parsed value back to compact JSON.
std::string toJson(const Poco::Dynamic::Var& value);

// Quotes and escapes a string as a JSON string literal.
std::string jsonQuote(std::string_view text);

// Copies a parsed value into a sluice_value tree allocated from `arena` (nullptr when the arena
// is exhausted).
const sluice_value* toSluiceValue(const Poco::Dynamic::Var& value, Arena& arena);

// RFC 6901 escaping of one reference token ("~" -> "~0", "/" -> "~1").
std::string jsonPointerToken(std::string_view token);

}  // namespace sluice::runtime
