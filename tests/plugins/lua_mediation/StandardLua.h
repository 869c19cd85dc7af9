#pragma once

// For comparing the sandbox's library functions with Lua 5.4's own: runs a chunk in a plain
// state of the liblua5.4 linked into the test, and compares two multi-line results line by line.

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include <lua.hpp>

namespace sluice::test {

// Lua helpers for such comparisons: visible(v) is tostring(v) with control bytes and backslashes
// written as a backslash and the byte's decimal value (one case per line); show(...) joins
// visible() of each value with ",".
// They use no pattern function, so they cannot hide a difference in one.
constexpr const char* kLuaShowHelpers = R"lua(
local function visible(v)
  local text = tostring(v)
  local out = {}
  for i = 1, #text do
    local b = text:byte(i)
    out[i] = (b < 32 or b == 92) and ("\\" .. b) or string.char(b)
  end
  return table.concat(out)
end
local function show(...)
  local out = {}
  for i = 1, select("#", ...) do out[#out + 1] = visible((select(i, ...))) end
  return table.concat(out, ",")
end
)lua";

// What the chunk returns (as text), or "error: <message>".
inline std::string standardLuaResult(const std::string& chunk)
{
    lua_State* L = luaL_newstate();
    REQUIRE(L != nullptr);
    luaL_openlibs(L);
    std::string result;
    if (luaL_dostring(L, chunk.c_str()) == LUA_OK) {
        result = lua_tostring(L, -1);
    } else {
        result = std::string("error: ") + lua_tostring(L, -1);
    }
    lua_close(L);
    return result;
}

// One CHECK per line, so that a difference names its case; returns the number of lines compared.
inline int checkSameLines(const std::string& got, const std::string& expected)
{
    std::size_t e = 0;
    std::size_t g = 0;
    int line = 0;
    while (e < expected.size() || g < got.size()) {
        ++line;
        const std::size_t eEnd = std::min(expected.find('\n', e), expected.size());
        const std::size_t gEnd = std::min(got.find('\n', g), got.size());
        CAPTURE(line);
        CHECK(got.substr(g, gEnd - g) == expected.substr(e, eEnd - e));
        e = eEnd + 1;
        g = gEnd + 1;
    }
    return line;
}

}  // namespace sluice::test
