#pragma once

// A gateway for the Lua suites: one API at /lua whose chain is one `component` running `lua`.

#include <string>
#include <string_view>

#include "TransportTest.h"
#include "support/JsonText.h"

namespace sluice::transport_test {

// `options`: more members of the component's config, e.g. R"("max_time_ms": 200)".
inline GatewaySpec luaGateway(const ScriptedBackend& backend, std::string_view component, std::string_view lua,
                              unsigned workers = 1, std::string_view options = {})
{
    GatewaySpec spec;
    spec.workers = workers;
    const std::string more = options.empty() ? std::string() : ", " + std::string(options);
    spec.apis.emplace_back(
        "lua", apiJson("/lua", endpointList({backend.url()}),
                       R"("handlers": [{"component": ")" + std::string(component) + R"(", "config": {"source": )" +
                           sluice::test::jsonString(lua) + more + "}}]"));
    return spec;
}

}  // namespace sluice::transport_test
