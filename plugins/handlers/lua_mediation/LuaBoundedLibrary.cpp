#include "LuaBoundedLibrary.h"

#include <cstddef>

#include <lua.hpp>

#include "LuaPatternFunctions.h"
#include "LuaState.h"

// Errors are raised with longjmp: the functions below hold only plain data.

namespace sluice::plugins {

namespace {

// --- string.rep (upvalue 1: the standard one)
int stringRep(lua_State* L)
{
    std::size_t l = 0;
    std::size_t lsep = 0;
    luaL_checklstring(L, 1, &l);
    const lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    // Otherwise the result is allocated first (max_memory_bytes bounds it), then filled.
    const int args = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, args, 1);
    return 1;
}

// --- table.insert, table.remove, table.move: the shifting and copying loops are done here, with a
// checkpoint per element, because the length they run to is only what the table says: a border
// far beyond what it holds (t[1], t[2], t[4] ... t[2^40] set), or whatever its __len returns.
// Arguments are checked as the standard functions check them, with the same messages.

// target[to] = source[from] (stack indices of the two tables), then a checkpoint.
void copyElement(lua_State* L, LuaState& state, int source, lua_Integer from, int target, lua_Integer to)
{
    lua_geti(L, source, from);
    lua_seti(L, target, to);
    state.checkpoint(L);
}

int tableInsert(lua_State* L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const lua_Integer length = luaL_len(L, 1);
    const int args = lua_gettop(L);
    if (args != 2 && args != 3) {
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    const lua_Integer end = static_cast<lua_Integer>(static_cast<lua_Unsigned>(length) + 1u);  // first free slot
    if (args == 2) {
        lua_seti(L, 1, end);
        return 0;
    }
    const lua_Integer at = luaL_checkinteger(L, 2);
    // In unsigned arithmetic 0 and negative positions are out of range too.
    luaL_argcheck(L, static_cast<lua_Unsigned>(at) - 1u < static_cast<lua_Unsigned>(end), 2, "position out of bounds");
    LuaState& state = LuaState::from(L);
    for (lua_Integer slot = end; slot > at; --slot) {
        copyElement(L, state, 1, slot - 1, 1, slot);
    }
    lua_seti(L, 1, at);  // the value, still on top
    return 0;
}

int tableRemove(lua_State* L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const lua_Integer length = luaL_len(L, 1);
    lua_Integer at = luaL_optinteger(L, 2, length);
    if (at != length) {
        // Argument 1 in the message, as the standard table.remove of Lua 5.4.4 reports it.
        luaL_argcheck(L, static_cast<lua_Unsigned>(at) - 1u <= static_cast<lua_Unsigned>(length), 1,
                      "position out of bounds");
    }
    lua_geti(L, 1, at);  // the result
    LuaState& state = LuaState::from(L);
    while (at < length) {
        copyElement(L, state, 1, at + 1, 1, at);
        ++at;
    }
    lua_pushnil(L);
    lua_seti(L, 1, at);
    return 1;
}

int tableMove(lua_State* L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const lua_Integer first = luaL_checkinteger(L, 2);
    const lua_Integer last = luaL_checkinteger(L, 3);
    const lua_Integer to = luaL_checkinteger(L, 4);
    const int target = lua_isnoneornil(L, 5) ? 1 : 5;
    luaL_checktype(L, target, LUA_TTABLE);
    if (last >= first) {
        luaL_argcheck(L, first > 0 || last < LUA_MAXINTEGER + first, 3, "too many elements to move");
        const lua_Integer span = last - first;  // elements moved, less one
        luaL_argcheck(L, to <= LUA_MAXINTEGER - span, 4, "destination wrap around");
        LuaState& state = LuaState::from(L);
        // Into the same table and onto the source's own later part: back to front, so that no
        // element is overwritten before it has been copied.
        const bool overlapping = to > first && to <= last && (target == 1 || lua_rawequal(L, 1, target) != 0);
        if (overlapping) {
            for (lua_Integer i = span; i >= 0; --i) {
                copyElement(L, state, 1, first + i, target, to + i);
            }
        } else {
            for (lua_Integer i = 0; i <= span; ++i) {
                copyElement(L, state, 1, first + i, target, to + i);
            }
        }
    }
    lua_pushvalue(L, target);
    return 1;
}

// --- table.sort (upvalue 1: the standard one): every comparison goes through compareForSort.
int compareForSort(lua_State* L)  // upvalue 1: the script's comparator, or nil for '<'
{
    LuaState::from(L).checkpoint(L);
    if (lua_isnil(L, lua_upvalueindex(1))) {
        lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLT));
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

int tableSort(lua_State* L)
{
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TFUNCTION);
    }
    lua_settop(L, 2);
    lua_pushcclosure(L, &compareForSort, 1);  // takes the comparator (or nil) as its upvalue
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 0);
    return 0;
}

void checkpoint(lua_State* L) { LuaState::from(L).checkpoint(L); }

constexpr LuaPatternFunctions::Hooks kPatternHooks{&checkpoint};

void replaceWithClosure(lua_State* L, int table, const char* name, lua_CFunction f)
{
    lua_getfield(L, table, name);  // the standard function becomes the upvalue
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, table, name);
}

void replace(lua_State* L, int table, const char* name, lua_CFunction f)
{
    lua_pushcfunction(L, f);
    lua_setfield(L, table, name);
}

}  // namespace

namespace LuaBoundedLibrary {

void install(lua_State* L, int globals)
{
    lua_getfield(L, globals, LUA_STRLIBNAME);
    replaceWithClosure(L, lua_gettop(L), "rep", &stringRep);
    LuaPatternFunctions::install(L, lua_gettop(L), kPatternHooks);
    lua_pop(L, 1);

    lua_getfield(L, globals, LUA_TABLIBNAME);
    const int table = lua_gettop(L);
    replace(L, table, "insert", &tableInsert);
    replace(L, table, "remove", &tableRemove);
    replace(L, table, "move", &tableMove);
    replaceWithClosure(L, table, "sort", &tableSort);
    lua_pop(L, 1);
}

}  // namespace LuaBoundedLibrary

}  // namespace sluice::plugins
