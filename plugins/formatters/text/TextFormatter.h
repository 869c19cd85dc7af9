#pragma once

#include <string>
#include <string_view>

#include <sluice/sdk.hpp>

namespace sluice::plugins {

// Writes a STRING message (UTF-8 required) as text/plain; a number as its JSON text, a boolean as
// true/false, null as an empty body. Arrays and objects have no text form and fail.
class TextFormatter final : public sdk::MessageFormatter {
public:
    static const sdk::ComponentInfo kInfo;
    static constexpr const char* kMediaTypes[] = {"text/plain", nullptr};

    explicit TextFormatter(const sdk::ComponentInit& init) : MessageFormatter(init) {}

    bool format(sdk::MessageContext& ctx, std::string_view mediaType, sdk::ValueView message,
                std::string& out) override;
};

}  // namespace sluice::plugins
