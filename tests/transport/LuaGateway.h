#pragma once

// A gateway for the Lua suites: one API at /lua whose chain is one `component` running `lua`.

#include <string>
#include <string_view>

#include "TransportTest.h"
#include "support/JsonText.h"

namespace sluice::transport_test {

inline GatewaySpec luaGateway(const ScriptedBackend& backend, std::string_view component, std::string_view lua,
                              unsigned workers = 1)
{
    GatewaySpec spec;
    spec.workers = workers;
    spec.apis.emplace_back("lua", apiJson("/lua", endpointList({backend.url()}),
                                          R"("handlers": [{"component": ")" + std::string(component) +
                                              R"(", "config": {"source": )" + sluice::test::jsonString(lua) + "}}]"));
    return spec;
}

}  // namespace sluice::transport_test
