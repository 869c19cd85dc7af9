#pragma once

#include <cstddef>
#include <string_view>

#include <sluice/sdk.hpp>

#include "JsonParser.h"

namespace sluice::plugins {

// Builds JSON bodies (application/json and the +json types listed in kMediaTypes) into a tree
// with the strict, bounded JsonParser.
class JsonBuilder final : public sdk::MessageBuilder {
public:
    static const sdk::ComponentInfo kInfo;
    static constexpr const char* kMediaTypes[] = {
        "application/json",
        "application/problem+json",      // RFC 9457 problem details
        "application/merge-patch+json",  // RFC 7396
        "application/json-patch+json",   // RFC 6902
        "application/vnd.api+json",      // JSON:API
        "application/hal+json",
        "application/ld+json",
        "application/geo+json",   // RFC 7946
        "application/scim+json",  // RFC 7644
        nullptr,
    };

    explicit JsonBuilder(const sdk::ComponentInit& init);

    const sluice_value* build(sdk::MessageContext& ctx, std::string_view mediaType, std::string_view bytes) override;
    // JSON is UTF-8 (RFC 8259 §8.1): a Content-Type naming another charset, or whose parameters
    // cannot be read, is refused, as a backend that honours the charset would read other text.
    const sluice_value* buildMessage(sdk::MessageContext& ctx, const sdk::BuildInput& input) override;

private:
    std::size_t _maxBytes;
    JsonLimits _limits;
};

}  // namespace sluice::plugins
