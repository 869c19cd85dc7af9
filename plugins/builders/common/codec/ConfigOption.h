#pragma once

// Reading numeric limits from a component's configuration. The runtime validates configuration
// against the schema first; these checks repeat the bounds so that a host that does not (such as
// a test's fake host) cannot create an instance with a nonsensical limit.

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sluice/sdk/Value.hpp>

namespace sluice::plugins::codec {

// config[name] as a count in [min, max], or fallback when absent. Throws std::invalid_argument
// (create() turns it into the reason the instance was refused).
inline std::size_t sizeOption(sdk::ValueView config, std::string_view name, std::size_t fallback, std::size_t min,
                              std::size_t max)
{
    sdk::ValueView v = config[name];
    if (v.isMissing()) {
        return fallback;
    }
    double n = v.asNumber(-1.0);
    if (!v.isNumber() || !(n >= static_cast<double>(min) && n <= static_cast<double>(max)) || n != std::floor(n)) {
        throw std::invalid_argument(std::string(name) + " must be an integer from " + std::to_string(min) + " to " +
                                    std::to_string(max));
    }
    return static_cast<std::size_t>(n);
}

inline bool boolOption(sdk::ValueView config, std::string_view name, bool fallback)
{
    sdk::ValueView v = config[name];
    if (v.isMissing()) {
        return fallback;
    }
    if (!v.isBool()) {
        throw std::invalid_argument(std::string(name) + " must be a boolean");
    }
    return v.asBool();
}

}  // namespace sluice::plugins::codec
