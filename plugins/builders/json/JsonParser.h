#pragma once

// A strict RFC 8259 JSON parser that builds a sluice_value tree in the exchange's arena.
//
// Strict means: exactly one value with optional whitespace around it; no BOM, comments, trailing
// commas, single quotes, NaN/Infinity, leading zeros or '+' signs; control characters in strings
// must be escaped; text must be well-formed UTF-8 and \u escapes must pair surrogates properly;
// an object may not repeat a key (compared after unescaping). Bounded: every limit below is
// checked while parsing, so a hostile body is refused as soon as it crosses one.
//
// Numbers keep their literal text (sluice_value.text) beside the double (sluice_value.number).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <sluice/abi.h>

#include "codec/ArenaTree.h"

namespace sluice::plugins {

struct JsonLimits {
    std::size_t maxDepth = 64;              // nesting of arrays and objects
    std::size_t maxStringBytes = 1u << 20;  // a string or key after unescaping, or a number literal
    std::size_t maxObjectMembers = 10000;
    std::size_t maxArrayItems = 100000;
    std::size_t maxNodes = 500000;  // values in the whole document
};

class JsonParser {
public:
    JsonParser(const JsonLimits& limits, const codec::ArenaTree& arena) : _limits(limits), _arena(arena) {}

    // The tree, or nullptr with error() set.
    const sluice_value* parse(std::string_view text);
    const std::string& error() const noexcept { return _error; }

private:
    bool value(sluice_value& out, std::size_t depth);
    bool object(sluice_value& out, std::size_t depth);
    bool array(sluice_value& out, std::size_t depth);
    bool string(sluice_str& out);
    bool escape(std::size_t& pos, char32_t& cp);
    bool number(sluice_value& out);
    bool word(std::string_view literal);
    bool countNode();
    bool uniqueKeys(std::size_t first);
    void skipSpace() noexcept;
    bool fail(const char* what);

    const JsonLimits& _limits;
    const codec::ArenaTree& _arena;
    std::string_view _text;
    std::size_t _pos = 0;
    std::size_t _nodes = 0;
    std::string _error;
    std::vector<sluice_member> _open;  // members and items of the containers being parsed
    std::vector<std::string_view> _keys;
};

}  // namespace sluice::plugins
