#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <sluice/sdk.hpp>

namespace sluice::plugins {

// What one lua_mediation instance runs: the script text and its limits, read once from the
// configuration and then shared read-only by every Lua state of the instance.
struct LuaScript {
    static constexpr std::size_t kMaxScriptBytes = 4u << 20;

    std::string source;       // the Lua text
    std::string chunkName;    // "@/abs/path.lua" or "=(inline source)": how Lua names it in errors
    std::string displayName;  // for log lines and create() errors: the path, or "inline source"
    bool inlineSource = false;
    // 0: no instruction limit, and no count hook (max_time_ms bounds the invocation). Counting
    // costs a hook call on every VM instruction.
    int maxInstructions = 0;
    std::size_t maxMemoryBytes = 16u << 20;
    // Wall-clock bound of one invocation, including time spent inside library functions (work on
    // long strings, table shifts, table.sort, the pattern functions' matching...).
    int maxTimeMs = 1000;

    // Reads `file` or takes `source`. A relative `file` is resolved against `configDir` (the main
    // configuration file's directory), or against the working directory when that is empty.
    // Throws std::invalid_argument / std::runtime_error with a message for create() to report.
    static LuaScript fromConfig(sdk::ValueView config, std::string_view configDir);
};

}  // namespace sluice::plugins
