// Differential fuzz target for the sandbox's pattern functions (LuaPattern.cpp,
// LuaPatternFunctions.cpp): every input runs through them and through Lua 5.4's own string
// library, and any difference in results or error messages aborts.
//
// Input: byte 0 picks the call (bits 0-1: find, match, gmatch, gsub; bits 2-3: gsub's
// replacement or find's plain flag), byte 1 is the start position (signed), then the pattern up
// to the first 0xff byte and the subject after it.
//
// A pattern that backtracks for a long time is ended by the checkpoint after a budget of work in
// the sandbox's state, and then not run through the standard library, which would take as long
// with nothing to stop it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <lua.hpp>

#include "LuaPatternFunctions.h"

namespace {

constexpr std::size_t kMaxPattern = 128;
constexpr std::size_t kMaxSubject = 512;
constexpr unsigned kCheckpointBudget = 20000;  // x 256 units of work
constexpr const char* kBudgetError = "fuzz: work budget spent";

unsigned checkpointsLeft = 0;

void countCheckpoint(lua_State* L)
{
    if (checkpointsLeft == 0) {
        luaL_error(L, "%s", kBudgetError);
    }
    --checkpointsLeft;
}

constexpr sluice::plugins::LuaPatternFunctions::Hooks kHooks{&countCheckpoint};

constexpr const char* kPrelude = R"lua(
function fuzz_function(...)
  local out = {select("#", ...)}
  for i = 1, select("#", ...) do out[#out + 1] = math.type((select(i, ...))) or tostring((select(i, ...))) end
  for i = 1, select("#", ...) do out[#out + 1] = tostring((select(i, ...))) end
  if out[2] == "x" then return false end
  return table.concat(out, ",")
end
fuzz_table = {a = "A", b = false, [1] = 1.5, x = "X"}
)lua";

lua_State* newState(bool sandboxed)
{
    lua_State* L = luaL_newstate();
    luaL_openlibs(L);
    if (sandboxed) {
        lua_getglobal(L, "string");
        sluice::plugins::LuaPatternFunctions::install(L, -1, kHooks);
        lua_pop(L, 1);
    }
    if (luaL_dostring(L, kPrelude) != LUA_OK) {
        std::abort();
    }
    return L;
}

void appendValues(lua_State* L, int from, std::string& out)
{
    for (int i = from; i <= lua_gettop(L); ++i) {
        out += lua_typename(L, lua_type(L, i));
        out += ':';
        std::size_t length = 0;
        const char* text = luaL_tolstring(L, i, &length);
        out.append(text, length);
        lua_pop(L, 1);
        out += '|';
    }
}

std::string run(lua_State* L, unsigned mode, lua_Integer init, std::string_view pattern, std::string_view subject)
{
    static const char* const kNames[] = {"find", "match", "gmatch", "gsub"};
    const unsigned call = mode & 3;
    const unsigned variant = (mode >> 2) & 3;
    lua_settop(L, 0);
    lua_getglobal(L, "string");
    lua_getfield(L, 1, kNames[call]);
    lua_pushlstring(L, subject.data(), subject.size());
    lua_pushlstring(L, pattern.data(), pattern.size());
    int arguments = 2;
    if (call == 3) {
        if (variant == 0) {
            lua_pushliteral(L, "<%0|%1>");
        } else if (variant == 1) {
            lua_getglobal(L, "fuzz_function");
        } else if (variant == 2) {
            lua_getglobal(L, "fuzz_table");
        } else {
            lua_pushlstring(L, pattern.data(), pattern.size());  // the pattern as a replacement string
        }
        lua_pushinteger(L, init);  // most replacements
        arguments += 2;
    } else {
        lua_pushinteger(L, init);
        ++arguments;
        if (call == 0) {
            lua_pushboolean(L, variant == 1);
            ++arguments;
        }
    }
    std::string out;
    const int base = lua_gettop(L) - arguments;  // the function's slot is base
    if (lua_pcall(L, arguments, LUA_MULTRET, 0) != LUA_OK) {
        return "error:" + std::string(lua_tostring(L, -1));
    }
    if (call != 2) {
        appendValues(L, base, out);
    } else {  // the iterator
        const int iterator = lua_gettop(L);
        for (int step = 0; step < 16; ++step) {
            lua_settop(L, iterator);
            lua_pushvalue(L, iterator);
            if (lua_pcall(L, 0, LUA_MULTRET, 0) != LUA_OK) {
                out += "error:" + std::string(lua_tostring(L, -1));
                break;
            }
            if (lua_gettop(L) == iterator) {
                break;
            }
            out += ';';
            appendValues(L, iterator + 1, out);
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static lua_State* const sandboxed = newState(true);
    static lua_State* const standard = newState(false);
    if (size < 2) {
        return 0;
    }
    const unsigned mode = data[0];
    const auto init = static_cast<lua_Integer>(static_cast<std::int8_t>(data[1]));
    const std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
    const std::size_t split = rest.find('\xff');
    const std::string_view pattern = rest.substr(0, split);
    const std::string_view subject = split == std::string_view::npos ? std::string_view() : rest.substr(split + 1);
    if (pattern.size() > kMaxPattern || subject.size() > kMaxSubject) {
        return 0;
    }
    checkpointsLeft = kCheckpointBudget;
    const std::string ours = run(sandboxed, mode, init, pattern, subject);
    if (ours.find(kBudgetError) != std::string::npos) {
        return 0;
    }
    const std::string theirs = run(standard, mode, init, pattern, subject);
    // Lua's matcher gives up past 200 nested calls; this one has no such limit.
    if (theirs.find("pattern too complex") != std::string::npos) {
        return 0;
    }
    if (ours != theirs) {
        std::fprintf(stderr, "pattern functions differ\n  sandbox:  %s\n  standard: %s\n", ours.c_str(),
                     theirs.c_str());
        std::abort();
    }
    lua_gc(sandboxed, LUA_GCSTEP, 0);
    lua_gc(standard, LUA_GCSTEP, 0);
    return 0;
}
