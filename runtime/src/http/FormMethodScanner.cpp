#include "sluice/runtime/http/FormMethodScanner.h"

#include <strings.h>

namespace sluice::runtime::http {

namespace {

int hexValue(char c) noexcept
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool isSpace(char c) noexcept { return c == ' ' || c == '\t'; }

}  // namespace

bool isMethodParameterName(std::string_view decodedName) noexcept
{
    constexpr std::string_view kName = "_method";
    std::size_t i = 0;
    while (i < decodedName.size() && decodedName[i] == ' ') {
        ++i;
    }
    std::size_t matched = 0;
    for (; i < decodedName.size() && decodedName[i] != '['; ++i) {
        char c = decodedName[i];
        if (c == ' ' || c == '.') {
            c = '_';
        }
        if (matched == kName.size() || c != kName[matched]) {
            return false;
        }
        ++matched;
    }
    return matched == kName.size();
}

FormMethodScanner::FormMethodScanner(std::string_view method) noexcept
{
    // A method longer than any value kept is never matched: its length is kept out of range.
    _methodLength = method.size() <= kMaxValue ? method.size() : kMaxValue + 1;
    for (std::size_t i = 0; i < method.size() && i < kMaxValue; ++i) {
        _method[i] = method[i];
    }
}

bool FormMethodScanner::isFormContentType(std::string_view contentType) noexcept
{
    constexpr std::string_view kType = "application/x-www-form-urlencoded";
    std::size_t start = 0;
    while (start < contentType.size() && isSpace(contentType[start])) {
        ++start;
    }
    std::size_t end = contentType.find(';', start);
    if (end == std::string_view::npos) {
        end = contentType.size();
    }
    while (end > start && isSpace(contentType[end - 1])) {
        --end;
    }
    return end - start == kType.size() && ::strncasecmp(contentType.data() + start, kType.data(), kType.size()) == 0;
}

void FormMethodScanner::feed(std::string_view bytes) noexcept
{
    for (char c : bytes) {
        if (_escape > 0) {
            if (hexValue(c) >= 0) {
                _escapeDigits[_escape - 1] = c;
                if (_escape == 2) {
                    _escape = 0;
                    take(static_cast<char>(hexValue(_escapeDigits[0]) * 16 + hexValue(c)));
                } else {
                    _escape = 2;
                }
                continue;
            }
            // Not an escape: the frameworks keep such bytes as they are.
            const int digits = _escape - 1;
            _escape = 0;
            take('%');
            for (int i = 0; i < digits; ++i) {
                take(_escapeDigits[i]);
            }
        }
        takeRaw(c);
    }
}

void FormMethodScanner::takeRaw(char raw) noexcept
{
    switch (raw) {
        case '&':
            endPair();
            return;
        case '%':
            _escape = 1;
            return;
        case '+':
            take(' ');
            return;
        case '=':
            if (!_inValue) {
                endName();
                return;
            }
            break;
        default:
            break;
    }
    take(raw);
}

void FormMethodScanner::take(char decoded) noexcept
{
    if (_inValue) {
        if (_capturing) {
            if (_valueLength < kMaxValue) {
                _value[_valueLength++] = decoded;
            } else {
                _valueTooLong = true;
            }
        }
        return;
    }
    // The name is reduced as it comes (as isMethodParameterName() reads it), so that only its
    // first kMaxName characters need keeping.
    if (!_nameStarted && decoded == ' ') {
        return;
    }
    _nameStarted = true;
    if (_nameCut) {
        return;
    }
    if (decoded == '[') {
        _nameCut = true;
        return;
    }
    if (_nameLength < kMaxName) {
        _name[_nameLength++] = decoded;
    } else {
        _nameTooLong = true;
    }
}

void FormMethodScanner::endName() noexcept
{
    _inValue = true;
    _capturing = !_nameTooLong && isMethodParameterName(std::string_view(_name, _nameLength));
}

void FormMethodScanner::endPair() noexcept
{
    if (_escape > 0) {
        // A '%' (and a digit) at the end of the pair: kept as they are.
        const int digits = _escape - 1;
        _escape = 0;
        take('%');
        for (int i = 0; i < digits; ++i) {
            take(_escapeDigits[i]);
        }
    }
    if (!_inValue && _nameLength > 0) {
        endName();  // "_method" without '=': an empty value
    }
    if (_capturing) {
        const bool same =
            !_valueTooLong && _valueLength == _methodLength && ::strncasecmp(_value, _method, _valueLength) == 0;
        _overrides = _overrides || !same;
    }
    _nameLength = 0;
    _nameTooLong = false;
    _nameStarted = false;
    _nameCut = false;
    _valueLength = 0;
    _valueTooLong = false;
    _inValue = false;
    _capturing = false;
}

void FormMethodScanner::finish() noexcept { endPair(); }

}  // namespace sluice::runtime::http
