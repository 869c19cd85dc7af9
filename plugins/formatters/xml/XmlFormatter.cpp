#include "XmlFormatter.h"

#include "codec/ConfigOption.h"
#include "xml_formatter_schema.h"

namespace sluice::plugins {

const sdk::ComponentInfo XmlFormatter::kInfo{
    "xml_formatter",                      // name
    "1.0.1",                              // version
    0,                                    // priority: not a handler
    0,                                    // flags
    xml_formatter_schema::kConfigSchema,  // config schema
    "XML message formatter",              // description
};

XmlFormatter::XmlFormatter(const sdk::ComponentInit& init) : MessageFormatter(init)
{
    _options.declaration = codec::boolOption(init.config(), "xml_declaration", true);
    _options.maxDepth = codec::sizeOption(init.config(), "max_depth", 256, 1, 4096);
    _options.maxBytes = codec::sizeOption(init.config(), "max_bytes", 32u << 20, 1, 1u << 30);
}

bool XmlFormatter::format(sdk::MessageContext& ctx, std::string_view mediaType, sdk::ValueView message,
                          std::string& out)
{
    (void)ctx;
    (void)mediaType;
    codec::XmlWriter writer(_options);
    if (!writer.write(message, &out)) {
        logger().warn("cannot write the message as XML: " + writer.error());
        return false;
    }
    return true;
}

}  // namespace sluice::plugins
