#pragma once

// Writes a sluice_value tree in the XML document form of the mapping (docs/message-mapping.md) as
// well-formed, namespace-well-formed XML 1.0 in UTF-8 — or only checks that it can, so that the
// json_xml handler refuses an unconvertible message itself instead of leaving the formatter to
// fail later.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sluice/sdk/Value.hpp>

namespace sluice::plugins::codec {

struct XmlWriteOptions {
    bool declaration = true;     // start with <?xml version="1.0" encoding="UTF-8"?>
    std::size_t maxDepth = 256;  // deepest element nesting written
};

class XmlWriter {
public:
    explicit XmlWriter(XmlWriteOptions options) : _options(options) {}

    // `document` must be an object with exactly one member {root-name: content}, content not an
    // array. Appends the XML text to *out, or only checks when out is null. On false, error()
    // says why (without echoing message content beyond a short, printable name).
    bool write(sdk::ValueView document, std::string* out);
    const std::string& error() const noexcept { return _error; }

private:
    struct Attribute {
        std::string_view name;
        const sluice_value* value;
    };

    bool element(std::string_view name, sdk::ValueView value, std::size_t depth);
    bool objectElement(std::string_view name, sdk::ValueView value, std::size_t depth);
    bool nilElement(std::string_view name);
    bool declare(const std::vector<Attribute>& attributes);
    bool checkAttributes(const std::vector<Attribute>& attributes);
    bool scalarText(sdk::ValueView value, bool attribute);
    bool escaped(std::string_view text, bool attribute);
    std::string_view lookup(std::string_view prefix) const noexcept;
    bool fail(std::string reason, std::string_view name = {});
    void put(std::string_view s)
    {
        if (_out != nullptr) {
            _out->append(s);
        }
    }

    XmlWriteOptions _options;
    std::string* _out = nullptr;
    std::string _error;
    std::vector<std::pair<std::string_view, std::string_view>> _scope;  // prefix -> namespace
};

}  // namespace sluice::plugins::codec
