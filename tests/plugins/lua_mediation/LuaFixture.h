#pragma once

// The fake host with the lua_mediation plugin loaded, and the helpers the plugin's suites share.

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sluice/sdk/testing/FakeHost.hpp>
#include "support/JsonText.h"

namespace sluice::test {

struct LuaFixture {
    sdk::testing::FakeHost host;
    LuaFixture() { host.open(SLUICE_PLUGIN_PATH); }

    // An instance of `component` running `lua`; `extra` adds members to its config ("\"max_time_ms\": 50").
    std::unique_ptr<sdk::testing::FakeInstance> script(std::string_view lua, const char* component = "lua_mediation",
                                                       std::string_view extra = "")
    {
        std::string config = "{\"source\": " + jsonString(lua);
        if (!extra.empty()) {
            config += ", ";
            config += extra;
        }
        return host.create(component, config + "}");
    }
    // lua_mediation running `lua` with the config members `extra`.
    std::unique_ptr<sdk::testing::FakeInstance> withLimits(std::string_view lua, std::string_view extra)
    {
        return script(lua, "lua_mediation", extra);
    }
    std::unique_ptr<sdk::testing::FakeInstance> file(const std::string& path, const char* component = "lua_mediation")
    {
        return host.create(component, "{\"file\": " + jsonString(path) + "}");
    }
    // The reason create() gave, or "" when it succeeded.
    std::string createError(std::string_view component, std::string_view config)
    {
        try {
            host.create(component, config);
        } catch (const std::runtime_error& e) {
            return e.what();
        }
        return "";
    }
    bool logged(sluice_log_level level, std::string_view needle) const
    {
        for (const auto& line : host.logs()) {
            if (line.level == level && line.message.find(needle) != std::string::npos) {
                return true;
            }
        }
        return false;
    }
    std::string allLogs() const
    {
        std::string text;
        for (const auto& line : host.logs()) {
            text += line.message + "\n";
        }
        return text;
    }
};

}  // namespace sluice::test
