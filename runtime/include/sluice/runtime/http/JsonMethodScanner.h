#pragma once

// A `_method` member of a JSON request body. Laravel reads a POST's parameters from its JSON body
// when the Content-Type holds "/json" or "+json", and its Symfony core then runs the POST as the
// method named by a top-level `_method`; Express apps pass `req.body._method` to method-override.
// So a JSON body is checked like a form one (FormMethodScanner.h): a top-level `_method` member
// naming another method than the request's, or whose value is no string, counts as an override.
// Members are read as JSON decoders read them, escapes (`\u005fmethod`) decoded; every one is
// judged (decoders keep the last of duplicate names; refusing when any differs is the safe side).

#include <cstddef>
#include <string_view>

#include "sluice/runtime/http/FormMethodScanner.h"

namespace sluice::runtime::http {

// Scans a JSON body as it streams, in pieces split anywhere, with bounded state. Only valid JSON
// is read as a decoder reads it; what the scanner makes of invalid JSON (which the frameworks do
// not decode at all) only matters in that it never misses a member a decoder would see.
class JsonMethodScanner final : public BodyMethodScanner {
public:
    explicit JsonMethodScanner(std::string_view method) : BodyMethodScanner(method) {}

    void feed(std::string_view bytes) noexcept override;
    void finish() noexcept override {}

    // Whether a Content-Type field value holds "/json" or "+json" (any case, anywhere, as
    // Laravel looks for them): application/json, application/merge-patch+json, text/json ...
    static bool isJsonContentType(std::string_view contentType) noexcept;

private:
    // The bytes skipBlock takes at once.
    static constexpr std::size_t kBlock = 64;

    enum class Escape { None, Backslash, Unicode };

    // The depth at which a nested value has ended: inside the top object its members are
    // parameters; a top-level array's elements are nested values.
    std::size_t nestedFloor() const noexcept { return _topIsObject ? 1 : 0; }
    // Inside a value nested in the top-level one (or an element of a top-level array).
    bool nested() const noexcept { return _depth > nestedFloor(); }
    const char* skipNested(const char* p, const char* end) noexcept;
    const char* skipNestedBytes(const char* p, const char* end) noexcept;
    // Reads the kBlock bytes at `p`, or up to the end of the nested value if it ends among them,
    // and returns where it stopped; reads nothing (returns `p`) when they hold a backslash, an
    // escape is pending, or the CPU has no SSE2.
    const char* skipBlock(const char* p) noexcept;
    void structural(char c) noexcept;
    void stringByte(char c) noexcept;
    void decoded(char c) noexcept;
    void endString() noexcept;
    // A value begins at the top level of the top object: judged when it is `_method`'s.
    void valueBegins(bool isString) noexcept;

    std::size_t _depth = 0;      // objects and arrays open around the current byte
    bool _topIsObject = false;   // the outermost value is an object (its members are the parameters)
    bool _expectName = false;    // at depth 1 of the top object, the next string is a member name
    bool _expectValue = false;   // at depth 1 of the top object, past a ':'
    bool _nameIsMethod = false;  // the last member name read there was `_method`
    bool _inString = false;
    bool _stringIsName = false;      // a member name of the top object that may still be `_method`
    bool _stringIsOverride = false;  // the value of a `_method` member
    Escape _escape = Escape::None;
    unsigned _code = 0;
    int _hexDigits = 0;
    std::size_t _nameLength = 0;  // the bytes of the name read so far, all matching `_method`'s
    OverrideValue _value;
};

}  // namespace sluice::runtime::http
