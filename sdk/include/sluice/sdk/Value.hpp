#pragma once

// A read-only C++ view over a sluice_value tree (configuration or a built message).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sluice/abi.h"

namespace sluice::sdk {

inline std::string_view view(sluice_str s) noexcept
{
    return s.data == nullptr ? std::string_view{} : std::string_view{s.data, s.len};
}

inline sluice_str str(std::string_view s) noexcept { return sluice_str{s.data(), s.size()}; }

// A cheap, copyable handle on a node; a missing node (absent key, index out of range) is a
// valid ValueView whose isMissing() is true, so lookups chain without checks.
class ValueView {
public:
    ValueView() noexcept = default;
    explicit ValueView(const sluice_value* value) noexcept : _value(value) {}

    bool isMissing() const noexcept { return _value == nullptr; }
    bool isNull() const noexcept { return _value != nullptr && _value->type == SLUICE_VALUE_NULL; }
    bool isBool() const noexcept { return is(SLUICE_VALUE_BOOL); }
    bool isNumber() const noexcept { return is(SLUICE_VALUE_NUMBER); }
    bool isString() const noexcept { return is(SLUICE_VALUE_STRING); }
    bool isArray() const noexcept { return is(SLUICE_VALUE_ARRAY); }
    bool isObject() const noexcept { return is(SLUICE_VALUE_OBJECT); }

    // Number of items (array) or members (object); 0 otherwise.
    std::size_t size() const noexcept { return (isArray() || isObject()) ? _value->count : 0; }

    // Object member by key; missing when absent or not an object.
    ValueView operator[](std::string_view key) const noexcept
    {
        if (!isObject()) {
            return ValueView{};
        }
        for (std::size_t i = 0; i < _value->count; ++i) {
            if (view(_value->members[i].key) == key) {
                return ValueView{&_value->members[i].value};
            }
        }
        return ValueView{};
    }

    // Array item by index; missing when out of range or not an array.
    ValueView operator[](std::size_t index) const noexcept
    {
        if (!isArray() || index >= _value->count) {
            return ValueView{};
        }
        return ValueView{&_value->items[index]};
    }

    // Key of the index-th member of an object ("" otherwise).
    std::string_view keyAt(std::size_t index) const noexcept
    {
        return (isObject() && index < _value->count) ? view(_value->members[index].key) : std::string_view{};
    }
    ValueView valueAt(std::size_t index) const noexcept
    {
        return (isObject() && index < _value->count) ? ValueView{&_value->members[index].value} : ValueView{};
    }

    std::string_view asString(std::string_view fallback = {}) const noexcept
    {
        return isString() ? view(_value->text) : fallback;
    }
    bool asBool(bool fallback = false) const noexcept { return isBool() ? _value->boolean != 0 : fallback; }
    double asNumber(double fallback = 0.0) const noexcept { return isNumber() ? _value->number : fallback; }
    std::int64_t asInt(std::int64_t fallback = 0) const noexcept
    {
        return isNumber() ? static_cast<std::int64_t>(_value->number) : fallback;
    }

    const sluice_value* raw() const noexcept { return _value; }

private:
    bool is(sluice_value_type type) const noexcept { return _value != nullptr && _value->type == type; }

    const sluice_value* _value = nullptr;
};

}  // namespace sluice::sdk
