// The sandbox's string.find, match, gmatch and gsub (plugins/handlers/lua_mediation/LuaPattern*):
// the same results and errors as Lua 5.4's own over hand-written and generated cases, and an end
// at max_time_ms for patterns that backtrack for ever, through the real .so and the fake host.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <string_view>

#include <sluice/sdk/testing/FakeHost.hpp>
#include "LuaFixture.h"
#include "StandardLua.h"

namespace {

using Clock = std::chrono::steady_clock;
using PatternFixture = sluice::test::LuaFixture;

bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

// run_cases(n) tries every pattern function on hand-written cases and on n generated ones, one
// line per call: pattern | subject, the call, then what pcall returned; and every escape against
// every byte.
constexpr const char* kPatternCases = R"lua(
local seed = 20261127
local function random(n)  -- 1 .. n, the same sequence in every state
  seed = (seed * 1103515245 + 12345) % 2147483648
  return (seed >> 8) % n + 1
end

local pieces = {
  "a", "b", "c", "x", " ", "1", ".", "_", "\0", "\200",
  "%a", "%d", "%s", "%w", "%l", "%u", "%p", "%x", "%c", "%g", "%A", "%S", "%W", "%D",
  "%.", "%%", "%(", "%]", "%z", "%-",
  "[ab]", "[^a]", "[a-c]", "[%a_]", "[]]", "[^]]", "[a-]", "[-a]", "[%]a]", "[a%-z]", "[^%s]", "[b-a]",
  "%b()", "%bab", "%baa", "%f[%w]", "%f[%s]", "%f[^%a]", "%f[a]",
  "(", ")", "()", "(", ")", "%1", "%2", "%0",
  "*", "+", "-", "?", "*", "+", "-", "?",
  "$", "^", "%", "[", "]", "%b", "%f", "%fa", "[%",
}
local letters = {"a", "b", "c", "(", ")", " ", "1", "_", ".", "x", "\0", "\200", "A"}

local function generated(count, length)
  local out = {}
  for i = 1, count do out[i] = (length == "pieces" and pieces or letters)[random(length == "pieces" and #pieces or #letters)] end
  return table.concat(out)
end

local fixed = {
  {"  hello world  ", "^%s*(.-)%s*$"}, {"key=value; other = 2", "(%w+)%s*=%s*(%w+)"},
  {"/api/v2/pets/17", "^/api/v(%d+)/(.*)$"}, {"GET /x HTTP/1.1", "^(%u+) (%S+) HTTP/(%d)%.(%d)$"},
  {"f(a(b)c) g(d)", "%b()"}, {"THE (quick) fox", "%f[%a]%a+"}, {"a,b,,c", "([^,]*)"},
  {"user@example.com", "^[%w%.%-_]+@[%w%.%-]+%.%a+$"}, {"hello", ""}, {"", ""}, {"", "a*"},
  {"abc", "^"}, {"abc", "$"}, {"abc", "^$"}, {"a$b", "a$b"}, {"a*b", "a*b"}, {"a)", "a)"},
  {"aaa", "a-"}, {"aaa", "a-$"}, {"aaab", "a-b"}, {"xyz", "()y()"}, {"abab", "(ab)%1"},
  {"abcabc", "(a)(b)(c)%3?%2?%1"}, {"[x]", "[[]x[]]"}, {"\0a\0", "%z"}, {"\0a\0", "[%z]"},
  {"one two  three", "%s+"}, {"CamelCaseWord", "%u%l+"}, {"0x1F zz", "0x(%x+)"},
  {"a.b.c", "."}, {"a.b.c", "%."}, {"a+b", "a+b"}, {"tab\there", "%c"}, {"x^y", "x^y"},
  {"((a))", "%b(("}, {"aaa", "%baa"}, {"THE END", "%f[%z]"}, {"abc", "%f[%l]"},
  {("x"):rep(50), ("x?"):rep(45) .. ("x"):rep(5)}, {("ab"):rep(30), ("(a)(b)"):rep(8) .. "%16"},
}

local function record(r, label, ...) r[#r + 1] = label .. " => " .. show(...) end

local function iterate(s, p, init)
  local ok, it = pcall(string.gmatch, s, p, init)
  if not ok then return show(false, it) end
  local out = {}
  for _ = 1, 12 do
    local res = table.pack(pcall(it))
    if not res[1] then out[#out + 1] = "error " .. visible(res[2]); break end
    if res.n == 1 then break end
    out[#out + 1] = show(table.unpack(res, 2, res.n))
  end
  return table.concat(out, ";")
end

local function try(r, s, p)
  local label = visible(p) .. " | " .. visible(s)
  local init = random(#s + 4) - 2  -- -1 .. #s + 2
  record(r, label .. " find", pcall(string.find, s, p))
  record(r, label .. " find " .. init, pcall(string.find, s, p, init))
  record(r, label .. " find plain", pcall(string.find, s, p, init, true))
  record(r, label .. " match", pcall(string.match, s, p))
  record(r, label .. " match " .. init, pcall(string.match, s, p, init))
  record(r, label .. " gmatch", iterate(s, p))
  record(r, label .. " gmatch " .. init, iterate(s, p, init))
  record(r, label .. " gsub %0", pcall(string.gsub, s, p, "<%0>"))
  record(r, label .. " gsub %1 2", pcall(string.gsub, s, p, "[%1%%]", 2))
  record(r, label .. " gsub function", pcall(string.gsub, s, p, function(...) return select("#", ...) .. ":" .. show(...) end))
  record(r, label .. " gsub table", pcall(string.gsub, s, p, {a = "A", [1] = "one", b = false, c = {}}))
  record(r, label .. " method", pcall(function() return (s):match(p) end) and "ok" or "error")
end

function run_cases(n)
  local r = {}
  for _, case in ipairs(fixed) do try(r, case[1], case[2]) end
  for _, s in ipairs({"abc", "a1 b2"}) do
    for _, replacement in ipairs({"%", "%x", "%2", "%9", "x%", 5, 2.5}) do
      record(r, "gsub " .. s .. " " .. tostring(replacement), pcall(string.gsub, s, "(%w)", replacement))
    end
  end
  record(r, "gsub n", pcall(string.gsub, "aaa", "a", "b", -1), pcall(string.gsub, "aaa", "a", "b", 0), pcall(string.gsub, "aaa", "a", "b", 1.0))
  record(r, "gsub bad n", pcall(string.gsub, "aaa", "a", "b", 1.5))
  record(r, "gsub bad repl", pcall(string.gsub, "aaa", "a"))
  record(r, "gsub bad repl 2", pcall(string.gsub, "aaa", "a", true))
  record(r, "find bad", pcall(string.find, "aaa"))
  record(r, "find number", pcall(string.find, 12345, 3), pcall(string.match, 12.5, "%d+"))
  record(r, "match bad init", pcall(string.match, "aaa", "a", "x"))
  record(r, "gmatch bad", pcall(string.gmatch, nil, "a"))
  record(r, "captures", pcall(string.find, "a", ("()"):rep(32)))
  record(r, "too many", pcall(string.find, "a", ("()"):rep(33)))
  record(r, "too many late", pcall(string.find, "b", "a" .. ("()"):rep(33)))
  record(r, "function returns", pcall(string.gsub, "abc", "%w", function(c) if c == "a" then return 1 elseif c == "b" then return nil end return {} end))
  -- Every escape against every byte: alone, in a short set and in a long (bitmap) negated set.
  for e = 0, 255 do
    local escape = "%" .. string.char(e)
    for _, form in ipairs({escape, "[" .. escape .. "]", "[^" .. escape .. "xyz0123]"}) do
      local hits = {}
      for c = 0, 255 do
        local ok, at = pcall(string.find, string.char(c), form)
        hits[#hits + 1] = ok and (at and "1" or "0") or "e"
      end
      r[#r + 1] = "escape " .. e .. " " .. visible(form) .. " => " .. table.concat(hits)
    end
  end
  for _ = 1, n do
    local p = generated(random(10) == 1 and random(40) + 10 or random(7) - 1, "pieces")
    try(r, generated(random(11) - 1, "letters"), p)
  end
  return table.concat(r, "\n")
end
)lua";

}  // namespace

TEST_CASE_FIXTURE(PatternFixture,
                  "find, match, gmatch and gsub give Lua 5.4's results and errors on 3000 generated patterns")
{
    const std::string cases = std::string(sluice::test::kLuaShowHelpers) + kPatternCases;
    auto h = withLimits(cases + "\nfunction on_request(ctx) ctx.set_property('results', run_cases(3000)) end",
                        R"("max_instructions": 2147483647, "max_time_ms": 60000, "max_memory_bytes": 268435456)");
    auto ex = host.exchange();
    REQUIRE(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    const std::string expected = sluice::test::standardLuaResult(cases + "\nreturn run_cases(3000)");
    REQUIRE_FALSE(contains(expected, "error: "));
    // The cases reach every error the standard library raises while matching.
    for (const char* error :
         {"malformed pattern (ends with '%')", "malformed pattern (missing ']')",
          "malformed pattern (missing arguments to '%b')", "missing '[' after '%f' in pattern",
          "invalid capture index %1", "invalid pattern capture", "too many captures", "unfinished capture",
          "invalid use of '%' in replacement string", "invalid replacement value (a table)"}) {
        CAPTURE(error);
        CHECK(contains(expected, error));
    }
    CHECK(sluice::test::checkSameLines(ex.properties.at("results"), expected) > 36000 + 768);
}

TEST_CASE_FIXTURE(PatternFixture, "time limit: patterns that backtrack for ever end at max_time_ms")
{
    const struct {
        const char* name;
        const char* call;
    } cases[] = {
        // 2^30 ways to split 30 a's among the a*'s, none followed by a c.
        {"find", R"lua(string.find(("a"):rep(30), ("a*"):rep(30) .. "c"))lua"},
        // The trim from the README: quadratic in the spaces before the last x.
        {"match", R"lua(string.match("x" .. (" "):rep(200000) .. "x", "^%s*(.-)%s*$"))lua"},
        {"gmatch", R"lua(for w in ("a"):rep(200000):gmatch("(a-)b") do end)lua"},
        {"gsub", R"lua(string.gsub(("a"):rep(40), ("a?"):rep(40) .. ("a"):rep(40), ""))lua"},
        {"gsub function",
         R"lua(string.gsub(("ab"):rep(10000), "%w", function(c) return ("x"):rep(40):find(("x*"):rep(40) .. "y") end))lua"},
        {"plain find", R"lua(string.find(("a"):rep(1000000), ("a"):rep(100000) .. "b", 1, true))lua"},
        // One attempt per start position, each scanning to the end: the scan itself reports.
        {"balance", R"lua(string.find(("("):rep(32 * 1024 * 1024), "%b()"))lua"},
    };
    for (const auto& c : cases) {
        const std::string name = c.name;
        CAPTURE(name);
        checkEndsAtTimeLimit(c.call, 100, R"("max_memory_bytes": 134217728)");
    }
}

TEST_CASE_FIXTURE(PatternFixture,
                  "long sets and patterns: time follows the subject, memory the items, not the pattern's bytes")
{
    // A set of 100,001 bytes is looked up, not scanned, for each of 20,000 subject bytes; a run
    // of 500,000 plain bytes is one item (the standard library needs no memory for it either).
    auto h = withLimits(R"lua(
function on_request(ctx)
  local first, last = ("a"):rep(20000):find("[" .. ("b"):rep(100000) .. "a]*")
  ctx.set_property("set", first .. "-" .. last)
  first, last = ("a"):rep(500001):find(("a"):rep(500000) .. ".")
  ctx.set_property("text", first .. "-" .. last)
  local n = 0
  for _ in (" aa"):rep(1000):gmatch("%f[" .. ("%a"):rep(1000) .. "]aa") do n = n + 1 end
  ctx.set_property("frontier", tostring(n))
end
)lua",
                        R"("max_time_ms": 2000)");
    auto ex = host.exchange();
    const auto started = Clock::now();
    REQUIRE(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(Clock::now() - started < std::chrono::seconds(2));
    CHECK(ex.properties.at("set") == "1-20000");
    CHECK(ex.properties.at("text") == "1-500001");
    CHECK(ex.properties.at("frontier") == "1000");
}

TEST_CASE_FIXTURE(PatternFixture,
                  "a pattern is never too complex: its backtracking stack is sized from it, not from the C stack")
{
    // Lua 5.4 gives up with "pattern too complex" past 200 nested calls; here 300 repetitions match.
    auto h = script(R"lua(
function on_request(ctx)
  local s = ("a"):rep(300)
  local first, last = s:find(("a?"):rep(300))
  ctx.set_property("found", first .. "-" .. last)
  ctx.set_property("captures", select("#", s:match(("(a)"):rep(32))))
end
)lua");
    auto ex = host.exchange();
    REQUIRE(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.properties.at("found") == "1-300");
    CHECK(ex.properties.at("captures") == "32");
}
