#pragma once

// Method overrides carried in a request's parameters. Rails (Rack::MethodOverride), Laravel and
// Symfony, and Spring's HiddenHttpMethodFilter run a POST as the method named by a `_method`
// parameter of an application/x-www-form-urlencoded body; some also read it from the query. The
// gateway routed and policed the request line's method, so such a parameter naming another one
// is refused (http.method_override).
//
// Names are compared as the frameworks read them: percent-decoded, '+' as a space, and as PHP
// registers variables (leading spaces dropped, ' ' and '.' read as '_', and `_method[...]` an
// array under the name `_method`). Values compare case-insensitively, as the frameworks upper-case
// them; an empty or missing value counts as another method.

#include <cstddef>
#include <string_view>

namespace sluice::runtime::http {

// True when a parameter name, already percent-decoded, is read as `_method`.
bool isMethodParameterName(std::string_view decodedName) noexcept;

// Scans an application/x-www-form-urlencoded body as it streams, in pieces split anywhere, with
// bounded state (no allocation): a long name cannot be `_method`, a long value is no method.
class FormMethodScanner {
public:
    explicit FormMethodScanner(std::string_view method) noexcept;

    void feed(std::string_view bytes) noexcept;
    // The body has ended: the last parameter is complete.
    void finish() noexcept;
    // Some `_method` parameter seen so far names another method than the request's.
    bool overrides() const noexcept { return _overrides; }

    // Whether a Content-Type field value is application/x-www-form-urlencoded (any parameters).
    static bool isFormContentType(std::string_view contentType) noexcept;

private:
    static constexpr std::size_t kMaxName = 16;
    static constexpr std::size_t kMaxValue = 16;

    void take(char decoded) noexcept;
    void takeRaw(char raw) noexcept;
    void endName() noexcept;
    void endPair() noexcept;

    char _method[kMaxValue] = {};  // a longer method: every `_method` value differs from it
    std::size_t _methodLength = 0;
    char _name[kMaxName] = {};
    std::size_t _nameLength = 0;
    bool _nameTooLong = false;
    bool _nameStarted = false;  // past the leading spaces PHP drops
    bool _nameCut = false;      // past a '[': the rest is an array index
    char _value[kMaxValue] = {};
    std::size_t _valueLength = 0;
    bool _valueTooLong = false;
    bool _inValue = false;
    bool _capturing = false;  // the current pair's name is `_method`
    int _escape = 0;          // hex digits of a %XX escape read so far (0: none)
    char _escapeDigits[2] = {};
    bool _overrides = false;
};

}  // namespace sluice::runtime::http
