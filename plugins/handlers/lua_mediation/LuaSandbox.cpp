#include "LuaSandbox.h"

#include <initializer_list>
#include <string_view>

#include <lua.hpp>

#include "LuaBoundedLibrary.h"
#include "LuaState.h"

namespace sluice::plugins {

namespace {

// pcall/xpcall for scripts: an error that ends the invocation (instruction or memory limit,
// ctx.respond) is raised again instead of being returned to the script.
int finishProtectedCall(lua_State* L, int status, int base)
{
    if (status == LUA_ERRMEM) {
        LuaState::from(L).abortForMemory();
    }
    if (status != LUA_OK && LuaState::from(L).aborting()) {
        return lua_error(L);
    }
    // The stack holds [status slot, results...] or [status slot, error value].
    lua_pushboolean(L, status == LUA_OK);
    lua_replace(L, base - 1);
    return lua_gettop(L) - (base - 2);
}

int sandboxPcall(lua_State* L)
{
    luaL_checkany(L, 1);
    lua_pushnil(L);  // becomes the status slot
    lua_insert(L, 1);
    int status = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
    return finishProtectedCall(L, status, 2);
}

int sandboxXpcall(lua_State* L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    // [f, handler, args...] -> [status slot, handler, f, args...]
    lua_pushvalue(L, 1);
    lua_copy(L, 2, 1);
    lua_copy(L, -1, 2);
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_insert(L, 1);
    int status = lua_pcall(L, n - 2, LUA_MULTRET, 2);
    // Drop the handler so that the results follow the status slot.
    lua_remove(L, 2);
    return finishProtectedCall(L, status, 2);
}

int sandboxPrint(lua_State* L)
{
    const LuaState& state = LuaState::from(L);
    if (!state.logger().enabled(SLUICE_LOG_INFO)) {
        return 0;
    }
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; ++i) {
        if (i > 1) {
            luaL_addchar(&b, '\t');
        }
        luaL_tolstring(L, i, nullptr);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    std::size_t len = 0;
    const char* text = lua_tolstring(L, -1, &len);
    state.logScriptLine(SLUICE_LOG_INFO, std::string_view(text, len));
    return 0;
}

// The option is not echoed in the error: a script might pass request data.
int checkGcOption(lua_State* L)
{
    const char* option = luaL_optstring(L, 1, "collect");
    const std::string_view options[] = {"collect", "count", "step"};
    for (int i = 0; i < 3; ++i) {
        if (option == options[i]) {
            return i;
        }
    }
    return luaL_argerror(L, 1, "collectgarbage takes \"collect\", \"count\" or \"step\"");
}

int sandboxCollectgarbage(lua_State* L)
{
    switch (checkGcOption(L)) {
        case 0:
            lua_gc(L, LUA_GCCOLLECT);
            lua_pushinteger(L, 0);
            return 1;
        case 1: {
            int kb = lua_gc(L, LUA_GCCOUNT);
            int bytes = lua_gc(L, LUA_GCCOUNTB);
            lua_pushnumber(L, static_cast<lua_Number>(kb) + static_cast<lua_Number>(bytes) / 1024.0);
            return 1;
        }
        default: lua_pushboolean(L, lua_gc(L, LUA_GCSTEP, 0)); return 1;
    }
}

// setmetatable without __gc: Lua runs finalizers with debug hooks off, so a finalizer would
// escape the instruction limit (and run at unknown times, even while the state is closed).
// An object is only ever finalized when its metatable had __gc when it was set.
int sandboxSetmetatable(lua_State* L)
{
    const int type = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, type == LUA_TNIL || type == LUA_TTABLE, 2, "nil or table");
    if (type == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL) {
            return luaL_error(L, "__gc metamethods are not available to mediation scripts");
        }
        lua_pop(L, 1);
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) {
        return luaL_error(L, "cannot change a protected metatable");
    }
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

void openLibrary(lua_State* L, const char* name, lua_CFunction open)
{
    luaL_requiref(L, name, open, 1);
    lua_pop(L, 1);
}

void removeFields(lua_State* L, int table, std::initializer_list<const char*> names)
{
    for (const char* name : names) {
        lua_pushnil(L);
        lua_setfield(L, table, name);
    }
}

}  // namespace

namespace LuaSandbox {

void open(lua_State* L)
{
    openLibrary(L, LUA_GNAME, luaopen_base);
    openLibrary(L, LUA_STRLIBNAME, luaopen_string);
    openLibrary(L, LUA_TABLIBNAME, luaopen_table);
    openLibrary(L, LUA_MATHLIBNAME, luaopen_math);
    openLibrary(L, LUA_UTF8LIBNAME, luaopen_utf8);

    lua_pushglobaltable(L);
    const int globals = lua_gettop(L);
    removeFields(L, globals, {"dofile", "loadfile", "load", "require", "rawset"});
    lua_pushcfunction(L, &sandboxPcall);
    lua_setfield(L, globals, "pcall");
    lua_pushcfunction(L, &sandboxXpcall);
    lua_setfield(L, globals, "xpcall");
    lua_pushcfunction(L, &sandboxPrint);
    lua_setfield(L, globals, "print");
    lua_pushcfunction(L, &sandboxCollectgarbage);
    lua_setfield(L, globals, "collectgarbage");
    lua_pushcfunction(L, &sandboxSetmetatable);
    lua_setfield(L, globals, "setmetatable");

    lua_getfield(L, globals, LUA_STRLIBNAME);
    removeFields(L, lua_gettop(L), {"dump"});
    lua_pop(L, 1);
    LuaBoundedLibrary::install(L, globals);

    // os: only the clock and calendar functions, copied into a fresh table (the library itself
    // is never made reachable).
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    const int os = lua_gettop(L);
    lua_createtable(L, 0, 4);
    for (const char* name : {"time", "clock", "date", "difftime"}) {
        lua_getfield(L, os, name);
        lua_setfield(L, -2, name);
    }
    lua_setfield(L, globals, LUA_OSLIBNAME);
    lua_pop(L, 1);

    // luaL_requiref registered every library in package.loaded; no package table is reachable
    // from the script, but drop the registry's copy of os anyway.
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    removeFields(L, lua_gettop(L), {LUA_OSLIBNAME});
    lua_pop(L, 2);  // LOADED, globals
}

}  // namespace LuaSandbox

}  // namespace sluice::plugins
