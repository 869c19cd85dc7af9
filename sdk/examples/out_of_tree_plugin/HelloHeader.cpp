// hello_header: a handler that adds `X-Hello: <value>` to every response.
//
// A complete Sluice plugin: one component class, its data (kInfo), and SLUICE_PLUGIN, which emits
// the manifest and the single exported entry symbol. The runtime validates the configuration
// against the schema in kInfo before the constructor runs.

#include <sluice/sdk.hpp>

#include <string>

namespace {

class HelloHeader final : public sluice::sdk::Handler {
public:
    static constexpr sluice::sdk::ComponentInfo kInfo{
        "hello_header",  // name, as used in an API's handler chain
        "1.0.0",         // version
        10,              // priority: position in the default chain (higher runs first)
        0,               // flags
        R"({"type":"object","properties":{"value":{"type":"string"}},"additionalProperties":false})",
        "Adds an X-Hello header to responses",
    };

    explicit HelloHeader(const sluice::sdk::ComponentInit& init)
        : Handler(init), _value(init.config()["value"].asString("world"))
    {
    }

    sluice::sdk::Action onResponse(sluice::sdk::MessageContext& ctx) override
    {
        ctx.setHeader(sluice::sdk::Message::Response, "X-Hello", _value);
        return sluice::sdk::Action::Continue;
    }

private:
    std::string _value;
};

}  // namespace

SLUICE_PLUGIN("hello_header", "1.0.0", "Example out-of-tree plugin", HelloHeader)
