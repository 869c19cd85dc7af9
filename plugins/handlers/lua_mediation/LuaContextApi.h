#pragma once

struct lua_State;

namespace sluice::plugins {

// The `ctx` table handed to on_request(ctx) / on_response(ctx): a read-only view of the current
// exchange over the host table. Every function works on the exchange being processed; the
// documentation of each function is in README.md ("Add a Lua step").
//
// Conventions: getters return the value, or nil plus a reason ("not found", "not buffered ...",
// "not allowed in this phase"); changers return true, or nil plus the reason (the host's answer,
// never a pretended success). A wrong argument type raises a Lua error (the script fails, 101520).
namespace LuaContextApi {
// Pushes a new ctx table. Runs under lua_pcall.
void push(lua_State* L);
}  // namespace LuaContextApi

}  // namespace sluice::plugins
