#pragma once

// The fake host with the lua_mediation plugin loaded, and the helpers the plugin's suites share.

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

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
    // Runs `call` as line 2 of on_request under `limits` (max_time_ms = `maxTimeMs` plus `extra`
    // members) and checks that the call ends at the time limit, soon: a 500 with code 101520, the
    // line after it never reached, the limit and line logged.
    void checkEndsAtTimeLimit(std::string_view call, int maxTimeMs, std::string_view extra = "")
    {
        std::string limits = "\"max_time_ms\": " + std::to_string(maxTimeMs);
        if (!extra.empty()) {
            limits += ", ";
            limits += extra;
        }
        auto h = withLimits(
            "function on_request(ctx)\n  " + std::string(call) + "\n  ctx.set_property('done', 'yes')\nend\n", limits);
        auto ex = host.exchange();
        const auto started = std::chrono::steady_clock::now();
        CHECK(host.request(*h, ex) == SLUICE_ACTION_RESPOND);
        CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(maxTimeMs + 1500));
        CHECK(ex.respondedBody.find("\"code\":101520") != std::string::npos);
        CHECK(ex.properties.count("done") == 0);
        CHECK(logged(SLUICE_LOG_ERROR,
                     "(inline source):2: time limit (max_time_ms = " + std::to_string(maxTimeMs) + ") exceeded"));
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
