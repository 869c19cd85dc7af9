// Test plugin: in the response phase, replaces the response message with a tree whose media type
// no formatter handles, so that writing it back fails after the response chain ran (the
// gateway's 500 101500 on a buffered response). It first sets X-Unformattable on the response.
// With "media_type" (and "text"), the tree is that string under that type instead, which a
// formatter does write.
#include <sluice/sdk.hpp>

namespace {

using namespace sluice::sdk;

class Unformattable final : public Handler {
public:
    static constexpr ComponentInfo kInfo{"test_unformattable",
                                         "1.0.0",
                                         0,
                                         SLUICE_COMPONENT_NEEDS_RESPONSE_BODY,
                                         R"({"type":"object","additionalProperties":false,
            "properties":{"media_type":{"type":"string"},"text":{"type":"string"}}})",
                                         "test: a response message no formatter can write"};

    explicit Unformattable(const ComponentInit& init)
        : Handler(init),
          _mediaType(init.config()["media_type"].asString("application/x-unformattable")),
          _text(init.config()["text"].asString(""))
    {
    }

    Action onResponse(MessageContext& ctx) override
    {
        auto* value = static_cast<sluice_value*>(ctx.allocate(sizeof(sluice_value)));
        if (value == nullptr) {
            return Action::Error;
        }
        *value = sluice_value{};
        value->type = _text.empty() ? SLUICE_VALUE_NULL : SLUICE_VALUE_STRING;
        value->text = sluice_str{_text.data(), _text.size()};
        ctx.setHeader(Message::Response, "X-Unformattable", "set");
        return ctx.setMessage(Message::Response, value, _mediaType) == SLUICE_OK ? Action::Continue : Action::Error;
    }

private:
    std::string _mediaType;
    std::string _text;
};

}  // namespace

SLUICE_PLUGIN("test_unformattable", "1.0.0", "test plugin: an unformattable response message", Unformattable)
