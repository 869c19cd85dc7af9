#pragma once

#include <string>
#include <string_view>

#include <sluice/sdk.hpp>

namespace sluice::plugins {

// Writes a STRING message's bytes unchanged as application/octet-stream (they need not be UTF-8).
// Any other value fails: there is no one byte form of a number or a structure.
class BinaryFormatter final : public sdk::MessageFormatter {
public:
    static const sdk::ComponentInfo kInfo;
    static constexpr const char* kMediaTypes[] = {"application/octet-stream", nullptr};

    explicit BinaryFormatter(const sdk::ComponentInit& init) : MessageFormatter(init) {}

    bool format(sdk::MessageContext& ctx, std::string_view mediaType, sdk::ValueView message,
                std::string& out) override;
};

}  // namespace sluice::plugins
