#pragma once

struct lua_State;

namespace sluice::plugins {

// Library functions that, as shipped, can loop in C without running a VM instruction or
// allocating, for as long as an argument says (so neither max_instructions nor max_memory_bytes
// stops them), replaced by versions that end at max_time_ms (LuaState::checkpoint):
//   string.rep("", n)                      n empty copies: 2^63 iterations of nothing
//   table.insert / table.remove / table.move on ranges of nils or on a table whose __len lies
//   table.sort with a C comparator (math.type, rawequal ...) over a __len that lies
//   string.find, match, gmatch, gsub: patterns that backtrack (LuaPatternFunctions.h)
// Results and error messages are those of the standard library.
namespace LuaBoundedLibrary {
// Replaces the functions in the string and table libraries of the global table at `globals`.
void install(lua_State* L, int globals);
}  // namespace LuaBoundedLibrary

}  // namespace sluice::plugins
