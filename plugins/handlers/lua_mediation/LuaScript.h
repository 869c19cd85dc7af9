#pragma once

#include <cstddef>
#include <string>

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
    int maxInstructions = 1000000;
    std::size_t maxMemoryBytes = 16u << 20;
    // Wall-clock bound of one invocation, including time spent inside library functions, which
    // the instruction count does not see (work on long strings, table shifts, table.sort...);
    // not the matching loop of the pattern functions, which nothing interrupts.
    int maxTimeMs = 1000;

    // Reads `file` (resolved against the working directory when relative) or takes `source`.
    // Throws std::invalid_argument / std::runtime_error with a message for create() to report.
    static LuaScript fromConfig(sdk::ValueView config);
};

}  // namespace sluice::plugins
