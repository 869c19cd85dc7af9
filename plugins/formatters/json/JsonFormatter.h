#pragma once

#include <string>
#include <string_view>

#include <sluice/sdk.hpp>

#include "JsonWriter.h"

namespace sluice::plugins {

// Writes messages as JSON (see JsonWriter) for the same media types the JSON builder reads.
class JsonFormatter final : public sdk::MessageFormatter {
public:
    static const sdk::ComponentInfo kInfo;
    static constexpr const char* kMediaTypes[] = {
        "application/json",
        "application/problem+json",
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/vnd.api+json",
        "application/hal+json",
        "application/ld+json",
        "application/geo+json",
        "application/scim+json",
        nullptr,
    };

    explicit JsonFormatter(const sdk::ComponentInit& init);

    bool format(sdk::MessageContext& ctx, std::string_view mediaType, sdk::ValueView message,
                std::string& out) override;

private:
    JsonWriteOptions _options;
};

}  // namespace sluice::plugins
