// The lua_mediation sandbox under attack, through the real .so and the SDK's fake host: library
// functions that loop in C out of reach of max_instructions, memory handed to the host, headers
// the transport owns, bodies on 204/304, and log lines built from request data. The basic
// sandbox cases (allow-list, __gc, pcall, instruction and memory limits) are in
// LuaMediationTest.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <lua.hpp>

#include <sluice/sdk/testing/FakeHost.hpp>
#include "LuaFixture.h"
#include "StandardLua.h"
#include "support/JsonText.h"

using sluice::sdk::testing::FakeHost;
using sluice::sdk::testing::FakeInstance;

namespace {

using sluice::test::jsonString;
using Clock = std::chrono::steady_clock;

constexpr const char* kScriptError = "\"code\":101520";

bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

using SandboxFixture = sluice::test::LuaFixture;

}  // namespace

// --- time spent in C, out of reach of max_instructions

TEST_CASE_FIXTURE(SandboxFixture, "time limit: string.rep of an empty string any number of times is empty at once")
{
    auto h = withLimits(R"(
function on_request(ctx)
  ctx.set_property("rep", #string.rep("", math.maxinteger) .. "/" .. #("").rep("", 2^62, "") .. "/" ..
                   string.rep("ab", 3, ",") .. "/" .. string.rep("x", 0) .. "/" .. string.rep("x", -5))
end
)",
                        R"("max_time_ms": 5000)");
    auto ex = host.exchange();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.properties.at("rep") == "0/0/ab,ab,ab//");
}

TEST_CASE_FIXTURE(SandboxFixture, "time limit: table.insert, remove, move and sort over huge ranges end at max_time_ms")
{
    const struct {
        const char* name;
        const char* call;
    } cases[] = {
        {"move", "table.move({}, 1, math.maxinteger // 2, 2)"},
        {"insert", "table.insert(setmetatable({}, {__len = function() return math.maxinteger - 1 end}), 1, 'x')"},
        {"remove", "table.remove(setmetatable({}, {__len = function() return math.maxinteger // 2 end}), 1)"},
        // A C comparator and C metamethods: no VM instruction and no allocation per step.
        {"sort",
         "table.sort(setmetatable({}, {__len = function() return 2^31 - 2 end, __index = rawlen,"
         " __newindex = rawequal}), math.type)"},
    };
    for (const auto& c : cases) {
        const std::string name = c.name;
        CAPTURE(name);
        checkEndsAtTimeLimit(c.call, 50);
    }
}

TEST_CASE_FIXTURE(SandboxFixture, "time limit: instructions that each scan a long string end at max_time_ms")
{
    // Each iteration is a few instructions, but utf8.len and == read megabytes: with the default
    // max_instructions the call would take minutes.
    auto h = withLimits(R"(
function on_request(ctx)
  local a = ("x"):rep(4 * 1024 * 1024)
  local b = ("x"):rep(4 * 1024 * 1024 - 1) .. "y"
  local n = 0
  while true do
    n = n + utf8.len(a)
    if a == b then n = 0 end
  end
end
)",
                        R"("max_time_ms": 200, "max_memory_bytes": 33554432)");
    auto ex = host.exchange();
    const auto started = Clock::now();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_RESPOND);
    CHECK(Clock::now() - started < std::chrono::seconds(10));
    CHECK(contains(ex.respondedBody, kScriptError));
    CHECK(logged(SLUICE_LOG_ERROR, "time limit (max_time_ms = 200) exceeded"));
}

TEST_CASE_FIXTURE(SandboxFixture, "time limit: checked in create() as well, and the option is validated")
{
    std::string error;
    try {
        withLimits("table.move({}, 1, math.maxinteger // 2, 2)\nfunction on_request() end", R"("max_time_ms": 50)");
    } catch (const std::exception& e) {
        error = e.what();
    }
    CHECK(contains(error, "(inline source):1: time limit (max_time_ms) exceeded while loading"));

    error.clear();
    try {
        withLimits("function on_request() end", R"("max_time_ms": 0)");
    } catch (const std::exception& e) {
        error = e.what();
    }
    CHECK(contains(error, "\"max_time_ms\" must be an integer from 1 to 60000"));
}

// --- the bounded functions keep Lua 5.4's results: the same cases run through the sandbox
// and through the standard library (liblua5.4 in this process) must give the same text.

namespace {

constexpr const char* kLibraryCases = R"lua(
function run_cases()
  local r = {}
  local function add(...) r[#r + 1] = show(...) end
  add(pcall(string.rep))
  add(pcall(string.rep, "x", 1.5))
  add(string.rep("ab", 3, ","), string.rep("x", 0), string.rep("x", -1), string.rep("", 5), string.rep("", 2, "-"))
  local t = {1, 2, 3}
  table.insert(t, 4)
  table.insert(t, 1, 0)
  add(table.concat(t, ","), table.remove(t), table.remove(t, 1), table.concat(t, ","))
  add(table.remove({}), table.remove({}, 0), #table.move({1, 2, 3}, 1, 3, 2), table.concat(table.move({1, 2, 3}, 1, 3, 3, {}), ",", 3, 5))
  add(table.concat(table.move({1, 2, 3, 4, 5}, 2, 5, 1), ","), table.concat(table.move({1, 2, 3, 4, 5}, 1, 4, 2), ","))
  add(pcall(table.insert, {}, 5, 1))
  add(pcall(table.insert, {}, 1, 2, 3))
  add(pcall(table.remove, {1}, 5))
  add(pcall(table.move, {}, -1, math.maxinteger, 1))
  add(pcall(table.move, {}, 1, 2, math.maxinteger))
  add(pcall(table.insert, 5, 1))
  local s = {5, 2, 8, 1, 9, 3}
  table.sort(s)
  add(table.concat(s, ","))
  table.sort(s, function(a, b) return a > b end)
  add(table.concat(s, ","))
  local names = {"b", "C", "a"}
  table.sort(names, function(a, b) return a:lower() < b:lower() end)
  add(table.concat(names, ","))
  add(pcall(table.sort, {1, "x"}))
  add(pcall(table.sort, {1, 2}, 3))
  return table.concat(r, "\n")
end
)lua";

}  // namespace

TEST_CASE_FIXTURE(SandboxFixture,
                  "the bounded string.rep and table functions give the standard library's results and errors")
{
    auto h = script(std::string(sluice::test::kLuaShowHelpers) + kLibraryCases +
                    "\nfunction on_request(ctx) ctx.set_property('results', run_cases()) end");
    auto ex = host.exchange();
    REQUIRE(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    const std::string expected = sluice::test::standardLuaResult(std::string(sluice::test::kLuaShowHelpers) +
                                                                 kLibraryCases + "\nreturn run_cases()");
    REQUIRE_FALSE(contains(expected, "error: "));
    sluice::test::checkSameLines(ex.properties.at("results"), expected);
}

// --- memory handed to the host

TEST_CASE_FIXTURE(SandboxFixture, "memory limit: header values and properties handed to the host count against it")
{
    auto h = withLimits(R"(
function on_request(ctx)
  local value = ("v"):rep(64 * 1024)
  for i = 1, 1000 do
    ctx.request.add_header("X-Big", value)
    ctx.set_property("p" .. i, value)
  end
  ctx.set_property("done", "yes")
end
)",
                        R"("max_memory_bytes": 1048576)");
    auto ex = host.exchange();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_RESPOND);
    CHECK(contains(ex.respondedBody, kScriptError));
    CHECK(ex.properties.count("done") == 0);
    CHECK(ex.properties.count("p20") == 0);  // stopped within about 1 MiB of copies
    CHECK(logged(SLUICE_LOG_ERROR, "memory limit (max_memory_bytes = 1048576) exceeded"));

    // Well under the limit, the same calls work.
    auto small = withLimits(R"(
function on_request(ctx)
  for i = 1, 10 do ctx.request.add_header("X-Small", "v" .. i) end
  ctx.set_property("done", "yes")
end
)",
                            R"("max_memory_bytes": 1048576)");
    auto ok = host.exchange();
    CHECK(host.request(*small, ok) == SLUICE_ACTION_CONTINUE);
    CHECK(ok.properties.at("done") == "yes");
}

// --- headers the transport owns

TEST_CASE_FIXTURE(SandboxFixture, "headers: framing, hop-by-hop, Host and Expect are refused with a reason")
{
    auto h = script(R"(
function on_request(ctx)
  local out = {}
  for _, name in ipairs({"Transfer-Encoding", "content-length", "Connection", "Keep-Alive", "Upgrade", "TE",
                         "Trailer", "Proxy-Connection", "Host", "Expect", "Transfer_Encoding", "content_length",
                         "Proxy_Connection", "Keep_Alive"}) do
    local ok, err = ctx.request.set_header(name, "chunked")
    local ok2 = ctx.request.add_header(name, "1")
    out[#out + 1] = name .. "=" .. tostring(ok) .. "/" .. tostring(ok2) .. "/" .. tostring(err)
  end
  ctx.set_property("request", table.concat(out, ";"))
  ctx.set_property("fine", tostring(ctx.request.set_header("X-Fine", "1")))
end
function on_response(ctx)
  local ok, err = ctx.response.set_header("Content-Length", "0")
  local ok2 = ctx.response.add_header("Transfer-Encoding", "chunked")
  local ok3 = ctx.response.set_header("Host", "allowed-on-a-response")
  ctx.set_property("response", tostring(ok) .. "/" .. tostring(ok2) .. "/" .. tostring(ok3) .. "/" .. tostring(err))
end
)");
    auto ex = host.exchange();
    ex.requestHeaders = {{"Host", "api.example"}};
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    const std::string reason = "not allowed: the gateway writes this header itself";
    // '_' spellings too: CGI-style backends (PHP, WSGI, Rack) read them as the real fields.
    for (const char* name : {"Transfer-Encoding", "content-length", "Connection", "Keep-Alive", "Upgrade", "TE",
                             "Trailer", "Proxy-Connection", "Host", "Expect", "Transfer_Encoding", "content_length",
                             "Proxy_Connection", "Keep_Alive"}) {
        const std::string header = name;
        CAPTURE(header);
        CHECK(contains(ex.properties.at("request"), header + "=nil/nil/" + reason));
    }
    CHECK(ex.properties.at("fine") == "true");
    CHECK(ex.requestHeader("Host") == "api.example");
    CHECK_FALSE(ex.requestHeader("Transfer-Encoding"));
    CHECK_FALSE(ex.requestHeader("Content-Length"));
    CHECK_FALSE(ex.requestHeader("Transfer_Encoding"));

    CHECK(host.response(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.properties.at("response") == "nil/nil/true/" + reason);
    CHECK_FALSE(ex.responseHeader("Content-Length"));
    CHECK_FALSE(ex.responseHeader("Transfer-Encoding"));
}

TEST_CASE_FIXTURE(SandboxFixture, "respond: framing headers, a body on 204 or 304, and bad statuses are script errors")
{
    const struct {
        const char* call;
        const char* logged;
    } cases[] = {
        {"ctx.respond(200, 'x', {['Transfer-Encoding'] = 'chunked'})",
         "header 'Transfer-Encoding' is written by the gateway"},
        {"ctx.respond(200, 'x', {['Connection'] = {'close', 'upgrade'}})",
         "header 'Connection' is written by the gateway"},
        {"ctx.respond(204, 'HTTP/1.1 200 OK\\r\\n\\r\\n')", "a 204 or 304 response has no body"},
        {"ctx.respond(304, 'x')", "a 204 or 304 response has no body"},
        {"ctx.respond(0)", "status must be from 200 to 599"},
        {"ctx.respond(101)", "status must be from 200 to 599"},
        {"ctx.respond(1000, 'x')", "status must be from 200 to 599"},
        {"ctx.respond(0/0)", "number has no integer representation"},
    };
    for (const auto& c : cases) {
        const std::string call = c.call;
        CAPTURE(call);
        auto h = script(std::string("function on_request(ctx) ") + c.call + " end");
        auto ex = host.exchange();
        CHECK(host.request(*h, ex) == SLUICE_ACTION_RESPOND);
        CHECK(ex.respondedStatus == 500);
        CHECK(contains(ex.respondedBody, kScriptError));
        CHECK_FALSE(ex.responseHeader("Transfer-Encoding"));
        CHECK(logged(SLUICE_LOG_ERROR, c.logged));
    }

    auto empty = script("function on_request(ctx) ctx.respond(204) end");
    auto ex = host.exchange();
    CHECK(host.request(*empty, ex) == SLUICE_ACTION_RESPOND);
    CHECK(ex.respondedStatus == 204);
    CHECK(ex.respondedBody.empty());
}

// --- logs

TEST_CASE_FIXTURE(SandboxFixture, "logging: request data cannot forge log lines or leak through a bad level")
{
    auto h = script(R"(
function on_request(ctx)
  print("query:", ctx.request.get_query_arg("q"))
  ctx.log("warn", "body", ctx.request.get_header("X-Note"))
  ctx.log(ctx.request.get_header("Authorization"), "never logged")
end
)");
    host.logLevel = SLUICE_LOG_INFO;
    auto ex = host.exchange();
    ex.queryParams = {{"q", "x\n2026-01-01T00:00:00.000Z error [admin] forged\r\n"}};
    ex.requestHeaders = {{"X-Note", "a\tb"}, {"Authorization", "Bearer top-secret-token"}};
    CHECK(host.request(*h, ex) == SLUICE_ACTION_RESPOND);
    CHECK(contains(ex.respondedBody, kScriptError));
    for (const auto& line : host.logs()) {
        CHECK(line.message.find('\n') == std::string::npos);
        CHECK(line.message.find('\r') == std::string::npos);
    }
    CHECK(logged(SLUICE_LOG_INFO, "query:\tx 2026-01-01T00:00:00.000Z error [admin] forged"));
    CHECK(logged(SLUICE_LOG_WARN, "body a\tb"));
    CHECK(logged(SLUICE_LOG_ERROR, "the level must be trace, debug, info, warn or error"));
    CHECK_FALSE(contains(allLogs(), "top-secret"));
}
