#include "JsonBuilder.h"

#include <string>

#include "codec/ArenaTree.h"
#include "codec/ConfigOption.h"
#include "json_builder_schema.h"

namespace sluice::plugins {

const sdk::ComponentInfo JsonBuilder::kInfo{
    "json_builder",                                   // name
    "1.1.0",                                          // version
    0,                                                // priority: not a handler
    0,                                                // flags
    json_builder_schema::kConfigSchema,               // config schema
    "Strict, bounded RFC 8259 JSON message builder",  // description
};

JsonBuilder::JsonBuilder(const sdk::ComponentInit& init)
    : MessageBuilder(init), _maxBytes(codec::sizeOption(init.config(), "max_bytes", 8u << 20, 1, 1u << 30))
{
    sdk::ValueView c = init.config();
    _limits.maxDepth = codec::sizeOption(c, "max_depth", 64, 1, 512);
    _limits.maxStringBytes = codec::sizeOption(c, "max_string_bytes", 1u << 20, 1, 1u << 30);
    _limits.maxObjectMembers = codec::sizeOption(c, "max_object_members", 10000, 1, 10000000);
    _limits.maxArrayItems = codec::sizeOption(c, "max_array_items", 100000, 1, 10000000);
    _limits.maxNodes = codec::sizeOption(c, "max_nodes", 500000, 1, 100000000);
}

const sluice_value* JsonBuilder::buildMessage(sdk::MessageContext& ctx, const sdk::BuildInput& input)
{
    std::string charset;
    const sdk::ParameterLookup lookup = sdk::mediaTypeParameter(input.contentType, "charset", charset);
    if (lookup == sdk::ParameterLookup::Malformed) {
        logger().debug("refused a JSON body: the Content-Type's parameters cannot be read");
        return nullptr;
    }
    if (lookup == sdk::ParameterLookup::Found) {
        for (char& c : charset) {
            c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
        }
        if (charset != "utf-8" && charset != "utf8" && charset != "us-ascii") {
            logger().debug("refused a JSON body: charset \"" + charset + "\" (JSON is UTF-8)");
            return nullptr;
        }
    }
    return build(ctx, input.mediaType, input.bytes);
}

const sluice_value* JsonBuilder::build(sdk::MessageContext& ctx, std::string_view mediaType, std::string_view bytes)
{
    (void)mediaType;
    if (bytes.size() > _maxBytes) {
        logger().debug("refused a JSON body of " + std::to_string(bytes.size()) + " bytes: larger than max_bytes");
        return nullptr;
    }
    codec::ArenaTree arena(ctx);
    JsonParser parser(_limits, arena);
    const sluice_value* tree = parser.parse(bytes);
    if (tree == nullptr) {
        logger().debug("refused a JSON body: " + parser.error());
    }
    return tree;
}

}  // namespace sluice::plugins
