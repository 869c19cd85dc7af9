#include "FormFormatter.h"

#include "codec/JsonNumber.h"

namespace sluice::plugins {

const sdk::ComponentInfo FormFormatter::kInfo{
    "form_formatter",                                       // name
    "1.0.0",                                                // version
    0,                                                      // priority: not a handler
    0,                                                      // flags
    nullptr,                                                // config schema: none
    "application/x-www-form-urlencoded message formatter",  // description
};

namespace {

void encode(std::string_view s, std::string& out)
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char ch : s) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '*' || c == '-' ||
            c == '.' || c == '_') {
            out.push_back(ch);
        } else if (c == ' ') {
            out.push_back('+');
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
        }
    }
}

// The unencoded text of a form value; false when it has none.
bool valueText(sdk::ValueView v, std::string& text)
{
    if (v.isString()) {
        text.assign(v.asString());
        return true;
    }
    if (v.isBool()) {
        text = v.asBool() ? "true" : "false";
        return true;
    }
    if (v.isNumber()) {
        return codec::appendJsonNumber(*v.raw(), text);
    }
    return v.isNull();
}

}  // namespace

bool FormFormatter::format(sdk::MessageContext& ctx, std::string_view mediaType, sdk::ValueView message,
                           std::string& out)
{
    (void)ctx;
    (void)mediaType;
    if (!message.isObject()) {
        logger().warn("cannot write the message as a form: it is not an object");
        return false;
    }
    bool first = true;
    std::string text;
    auto pair = [&](std::string_view name, sdk::ValueView value) {
        text.clear();
        if (value.isArray() || value.isObject() || !valueText(value, text)) {
            return false;
        }
        if (!first) {
            out.push_back('&');
        }
        first = false;
        encode(name, out);
        out.push_back('=');
        encode(text, out);
        return true;
    };
    for (std::size_t i = 0; i < message.size(); ++i) {
        sdk::ValueView v = message.valueAt(i);
        bool ok = true;
        if (v.isArray()) {
            for (std::size_t k = 0; ok && k < v.size(); ++k) {
                ok = pair(message.keyAt(i), v[k]);
            }
        } else {
            ok = pair(message.keyAt(i), v);
        }
        if (!ok) {
            logger().warn("cannot write the message as a form: a value is not a string, number, boolean or null");
            return false;
        }
    }
    return true;
}

}  // namespace sluice::plugins
