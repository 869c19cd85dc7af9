#include "BinaryBuilder.h"

#include <string>

#include "binary_builder_schema.h"
#include "codec/ArenaTree.h"
#include "codec/ConfigOption.h"

namespace sluice::plugins {

const sdk::ComponentInfo BinaryBuilder::kInfo{
    "binary_builder",                                        // name
    "1.0.0",                                                 // version
    0,                                                       // priority: not a handler
    0,                                                       // flags
    binary_builder_schema::kConfigSchema,                    // config schema
    "application/octet-stream (raw bytes) message builder",  // description
};

BinaryBuilder::BinaryBuilder(const sdk::ComponentInit& init)
    : MessageBuilder(init), _maxBytes(codec::sizeOption(init.config(), "max_bytes", 8u << 20, 1, 1u << 30))
{
}

const sluice_value* BinaryBuilder::build(sdk::MessageContext& ctx, std::string_view mediaType, std::string_view bytes)
{
    (void)mediaType;
    if (bytes.size() > _maxBytes) {
        logger().debug("refused a binary body of " + std::to_string(bytes.size()) + " bytes: larger than max_bytes");
        return nullptr;
    }
    const sluice_value* tree = codec::ArenaTree(ctx).string(bytes);
    if (tree == nullptr) {
        logger().debug("refused a binary body: out of exchange memory");
    }
    return tree;
}

}  // namespace sluice::plugins
