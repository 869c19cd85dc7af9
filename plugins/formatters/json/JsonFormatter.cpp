#include "JsonFormatter.h"

#include "codec/ConfigOption.h"
#include "json_formatter_schema.h"

namespace sluice::plugins {

const sdk::ComponentInfo JsonFormatter::kInfo{
    "json_formatter",                      // name
    "1.0.0",                               // version
    0,                                     // priority: not a handler
    0,                                     // flags
    json_formatter_schema::kConfigSchema,  // config schema
    "JSON message formatter",              // description
};

JsonFormatter::JsonFormatter(const sdk::ComponentInit& init) : MessageFormatter(init)
{
    _options.asciiOnly = codec::boolOption(init.config(), "ascii_only", false);
    _options.maxDepth = codec::sizeOption(init.config(), "max_depth", 512, 1, 4096);
}

bool JsonFormatter::format(sdk::MessageContext& ctx, std::string_view mediaType, sdk::ValueView message,
                           std::string& out)
{
    (void)ctx;
    (void)mediaType;
    JsonWriter writer(_options);
    if (!writer.write(message, out)) {
        logger().warn("cannot write the message as JSON: " + writer.error());
        return false;
    }
    return true;
}

}  // namespace sluice::plugins
