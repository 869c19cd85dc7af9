// Test plugin: in the response phase, replaces the response message with a tree whose media type
// no formatter handles, so that writing it back fails after the response chain ran (the
// gateway's 500 101500 on a buffered response). It first sets X-Unformattable on the response.
#include <sluice/sdk.hpp>

namespace {

using namespace sluice::sdk;

class Unformattable final : public Handler {
public:
    static constexpr ComponentInfo kInfo{
        "test_unformattable", "1.0.0", 0, SLUICE_COMPONENT_NEEDS_RESPONSE_BODY,
        R"({"type":"object","additionalProperties":false})",
        "test: a response message no formatter can write"};

    explicit Unformattable(const ComponentInit& init) : Handler(init) {}

    Action onResponse(MessageContext& ctx) override
    {
        auto* value = static_cast<sluice_value*>(ctx.allocate(sizeof(sluice_value)));
        if (value == nullptr) {
            return Action::Error;
        }
        *value = sluice_value{};
        value->type = SLUICE_VALUE_NULL;
        ctx.setHeader(Message::Response, "X-Unformattable", "set");
        return ctx.setMessage(Message::Response, value, "application/x-unformattable") == SLUICE_OK ? Action::Continue
                                                                                                : Action::Error;
    }
};

}  // namespace

SLUICE_PLUGIN("test_unformattable", "1.0.0", "test plugin: an unformattable response message", Unformattable)
