#pragma once

// Writes a sluice_value tree as RFC 8259 JSON text.
//
// Strings (and keys) must be UTF-8 and are escaped: '"', '\\', every control character
// (\b \f \n \r \t or \u00XX), and U+2028/U+2029 (so the text is also safe inside JavaScript);
// with asciiOnly every other non-ASCII character becomes \uXXXX, outside the BMP as a surrogate
// pair. Numbers are written from their literal text when it is a valid JSON number, else as the
// shortest text of the double; NaN and infinities have no JSON form and fail.

#include <cstddef>
#include <string>

#include <sluice/sdk/Value.hpp>

namespace sluice::plugins {

struct JsonWriteOptions {
    bool asciiOnly = false;
    std::size_t maxDepth = 512;  // nesting of arrays and objects
};

class JsonWriter {
public:
    explicit JsonWriter(JsonWriteOptions options) : _options(options) {}

    // Appends the JSON text of `value` to out; false (with error()) when it has no JSON form.
    bool write(sdk::ValueView value, std::string& out);
    const std::string& error() const noexcept { return _error; }

private:
    bool value(sdk::ValueView v, std::size_t depth, std::string& out);
    bool string(std::string_view s, std::string& out);
    bool fail(std::string reason);

    JsonWriteOptions _options;
    std::string _error;
};

}  // namespace sluice::plugins
