#include "BinaryFormatter.h"

namespace sluice::plugins {

const sdk::ComponentInfo BinaryFormatter::kInfo{
    "binary_formatter",                                        // name
    "1.0.0",                                                   // version
    0,                                                         // priority: not a handler
    0,                                                         // flags
    nullptr,                                                   // config schema: none
    "application/octet-stream (raw bytes) message formatter",  // description
};

bool BinaryFormatter::format(sdk::MessageContext& ctx, std::string_view mediaType, sdk::ValueView message,
                             std::string& out)
{
    (void)ctx;
    (void)mediaType;
    if (!message.isString()) {
        logger().warn("cannot write the message as raw bytes: it is not a string");
        return false;
    }
    out.append(message.asString());
    return true;
}

}  // namespace sluice::plugins
