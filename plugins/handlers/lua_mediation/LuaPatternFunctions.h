#pragma once

struct lua_State;

namespace sluice::plugins {

// string.find, string.match, string.gmatch and string.gsub on the interruptible matcher of
// LuaPattern.h: the same arguments, results and error messages as Lua 5.4's, except that
//   - the matcher's work is reported to `checkpoint` (LuaState::checkpoint in the sandbox), which
//     may end the call, so a pattern that backtracks for ever stops at max_time_ms;
//   - a pattern is never "too complex": the standard library gives up after 200 nested C calls,
//     this matcher's backtracking stack holds at most one entry per pattern item;
//   - character classes are those of the C locale whatever the process locale is.
namespace LuaPatternFunctions {

struct Hooks {
    void (*checkpoint)(lua_State* L);  // may raise a Lua error; never null
};

// Replaces the four functions in the table at `stringTable`. `hooks` must outlive the state.
void install(lua_State* L, int stringTable, const Hooks& hooks);

}  // namespace LuaPatternFunctions

}  // namespace sluice::plugins
