#pragma once

// Writes a sluice_value tree in the XML document form of the mapping (docs/message-mapping.md) as
// well-formed, namespace-well-formed XML 1.0 in UTF-8 — or only checks that it can, so that the
// json_xml handler refuses an unconvertible message itself instead of leaving the formatter to
// fail later.

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sluice/sdk/Value.hpp>

namespace sluice::plugins::codec {

struct XmlWriteOptions {
    bool declaration = true;     // start with <?xml version="1.0" encoding="UTF-8"?>
    std::size_t maxDepth = 256;  // deepest element nesting written
    // Longest document written, counted also when only checking. Without it a small message
    // could ask for an unbounded one: every item of an array repeats its member's key twice
    // ({"<1 MiB key>":[1,1,...]} is 2 MiB of XML per 2 bytes of JSON).
    std::size_t maxBytes = 32u << 20;
};

class XmlWriter {
public:
    explicit XmlWriter(XmlWriteOptions options) : _options(options) {}

    // `document` must be an object with exactly one member {root-name: content}, content not an
    // array. Appends the XML text to *out, or only checks when out is null. On false, error()
    // says why (without echoing message content beyond a short, printable name).
    bool write(sdk::ValueView document, std::string* out);
    const std::string& error() const noexcept { return _error; }
    // The failure was the document's size (maxBytes), not what it holds.
    bool exceededMaxBytes() const noexcept { return _exceededMaxBytes; }

private:
    struct Attribute {
        std::string_view name;
        const sluice_value* value;
    };
    // A namespace binding in scope; `shadowed` is the binding of the same prefix it hides (npos:
    // none), so that lookups stay O(1) however many prefixes the ancestors declare.
    struct Binding {
        std::string_view prefix;
        std::string_view ns;
        std::size_t shadowed;
    };

    bool element(std::string_view name, sdk::ValueView value, std::size_t depth);
    bool objectElement(std::string_view name, sdk::ValueView value, std::size_t depth);
    bool nilElement(std::string_view name);
    bool declare(const std::vector<Attribute>& attributes);
    bool checkAttributes(const std::vector<Attribute>& attributes);
    bool scalarText(sdk::ValueView value, bool attribute);
    bool escaped(std::string_view text, bool attribute);
    std::string_view lookup(std::string_view prefix) const noexcept;
    void bind(std::string_view prefix, std::string_view ns);
    void unbind(std::size_t mark);
    bool fail(std::string reason, std::string_view name = {});
    bool tooLarge();
    void put(std::string_view s)
    {
        _written += s.size();
        if (_written > _options.maxBytes) {
            _overflow = true;  // element() stops at the next element; write() fails
            return;
        }
        if (_out != nullptr) {
            _out->append(s);
        }
    }

    XmlWriteOptions _options;
    std::string* _out = nullptr;
    std::string _error;
    bool _exceededMaxBytes = false;
    std::size_t _written = 0;
    bool _overflow = false;
    std::vector<Binding> _scope;                               // outermost first
    std::unordered_map<std::string_view, std::size_t> _bound;  // prefix -> its innermost binding
};

}  // namespace sluice::plugins::codec
