#pragma once

#include <cstddef>
#include <string_view>

#include <sluice/sdk.hpp>

namespace sluice::plugins {

// Builds text/plain bodies into one STRING value. The text must be UTF-8 (ASCII is UTF-8);
// anything else is refused, whatever charset the Content-Type claims.
class TextBuilder final : public sdk::MessageBuilder {
public:
    static const sdk::ComponentInfo kInfo;
    static constexpr const char* kMediaTypes[] = {"text/plain", nullptr};

    explicit TextBuilder(const sdk::ComponentInit& init);

    const sluice_value* build(sdk::MessageContext& ctx, std::string_view mediaType, std::string_view bytes) override;

private:
    std::size_t _maxBytes;
};

}  // namespace sluice::plugins
