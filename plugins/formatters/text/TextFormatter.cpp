#include "TextFormatter.h"

#include "codec/JsonNumber.h"
#include "codec/Utf8.h"

namespace sluice::plugins {

const sdk::ComponentInfo TextFormatter::kInfo{
    "text_formatter",                        // name
    "1.0.0",                                 // version
    0,                                       // priority: not a handler
    0,                                       // flags
    nullptr,                                 // config schema: none
    "text/plain (UTF-8) message formatter",  // description
};

bool TextFormatter::format(sdk::MessageContext& ctx, std::string_view mediaType, sdk::ValueView message,
                           std::string& out)
{
    (void)ctx;
    (void)mediaType;
    bool ok = false;
    if (message.isString()) {
        ok = codec::isValidUtf8(message.asString());
        if (ok) {
            out.append(message.asString());
        }
    } else if (message.isNumber()) {
        ok = codec::appendJsonNumber(*message.raw(), out);
    } else if (message.isBool()) {
        out += message.asBool() ? "true" : "false";
        ok = true;
    } else {
        ok = message.isNull();
    }
    if (!ok) {
        logger().warn("cannot write the message as text: not UTF-8 text or a scalar");
    }
    return ok;
}

}  // namespace sluice::plugins
