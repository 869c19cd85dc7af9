#pragma once

struct lua_State;

namespace sluice::plugins {

// The allow-listed global environment of a script (see README "Add a Lua step"):
//   base functions: assert error getmetatable ipairs next pairs rawequal rawget rawlen select
//                   tonumber tostring type _G _VERSION, and
//                   setmetatable that refuses __gc (finalizers run with hooks off, unlimited),
//                   pcall / xpcall that cannot catch the end of an invocation (limit, respond),
//                   print (to the host log at info), collectgarbage ("count", "step", "collect")
//   libraries:      string (without string.dump), table, math, utf8,
//                   os.time os.clock os.date os.difftime
//                   where string.rep and table.insert/remove/move/sort (LuaBoundedLibrary.h)
//                   stop at max_time_ms. The pattern functions (find, match, gmatch, gsub) are
//                   the standard ones: their matcher backtracks in C and is not interrupted.
// Absent: load, loadfile, dofile, require, rawset, io, os (everything else), package, debug,
// coroutine. Runs under lua_pcall (it may raise a memory error).
namespace LuaSandbox {
void open(lua_State* L);
}

}  // namespace sluice::plugins
