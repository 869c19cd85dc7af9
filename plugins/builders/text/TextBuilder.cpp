#include "TextBuilder.h"

#include <string>

#include "codec/ArenaTree.h"
#include "codec/ConfigOption.h"
#include "codec/Utf8.h"
#include "text_builder_schema.h"

namespace sluice::plugins {

const sdk::ComponentInfo TextBuilder::kInfo{
    "text_builder",                        // name
    "1.0.0",                               // version
    0,                                     // priority: not a handler
    0,                                     // flags
    text_builder_schema::kConfigSchema,    // config schema
    "text/plain (UTF-8) message builder",  // description
};

TextBuilder::TextBuilder(const sdk::ComponentInit& init)
    : MessageBuilder(init), _maxBytes(codec::sizeOption(init.config(), "max_bytes", 8u << 20, 1, 1u << 30))
{
}

const sluice_value* TextBuilder::build(sdk::MessageContext& ctx, std::string_view mediaType, std::string_view bytes)
{
    (void)mediaType;
    if (bytes.size() > _maxBytes) {
        logger().debug("refused a text body of " + std::to_string(bytes.size()) + " bytes: larger than max_bytes");
        return nullptr;
    }
    if (!codec::isValidUtf8(bytes)) {
        logger().debug("refused a text body: not UTF-8");
        return nullptr;
    }
    const sluice_value* tree = codec::ArenaTree(ctx).string(bytes);
    if (tree == nullptr) {
        logger().debug("refused a text body: out of exchange memory");
    }
    return tree;
}

}  // namespace sluice::plugins
