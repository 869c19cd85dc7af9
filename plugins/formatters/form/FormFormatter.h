#pragma once

#include <string>
#include <string_view>

#include <sluice/sdk.hpp>

namespace sluice::plugins {

// Writes an object as application/x-www-form-urlencoded: name=value pairs in member order, an
// array as one pair per item (name=a&name=b), null as an empty value. Values must be strings,
// numbers, booleans or null; nested objects and arrays have no form encoding and fail.
// Encoding is the WHATWG serializer's: [A-Za-z0-9*-._] as is, space as '+', every other byte %XX.
class FormFormatter final : public sdk::MessageFormatter {
public:
    static const sdk::ComponentInfo kInfo;
    static constexpr const char* kMediaTypes[] = {"application/x-www-form-urlencoded", nullptr};

    explicit FormFormatter(const sdk::ComponentInit& init) : MessageFormatter(init) {}

    bool format(sdk::MessageContext& ctx, std::string_view mediaType, sdk::ValueView message,
                std::string& out) override;
};

}  // namespace sluice::plugins
