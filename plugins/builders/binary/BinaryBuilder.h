#pragma once

#include <cstddef>
#include <string_view>

#include <sluice/sdk.hpp>

namespace sluice::plugins {

// Builds application/octet-stream bodies into one STRING value that holds the raw bytes as they
// came: NOT UTF-8, may contain NUL; read it with its length. Nothing is decoded or checked.
class BinaryBuilder final : public sdk::MessageBuilder {
public:
    static const sdk::ComponentInfo kInfo;
    static constexpr const char* kMediaTypes[] = {"application/octet-stream", nullptr};

    explicit BinaryBuilder(const sdk::ComponentInit& init);

    const sluice_value* build(sdk::MessageContext& ctx, std::string_view mediaType, std::string_view bytes) override;

private:
    std::size_t _maxBytes;
};

}  // namespace sluice::plugins
