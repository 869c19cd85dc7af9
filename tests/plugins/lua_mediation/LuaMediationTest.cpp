// The lua_mediation plugin (its real .so) through the SDK's fake host: the ctx API, the
// short-circuit, bodies, properties, the sandbox, the limits, error handling, threads, and every
// example script in scripts/lua/.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sluice/sdk/testing/FakeHost.hpp>
#include "LuaFixture.h"
#include "support/JsonText.h"

using sluice::sdk::testing::FakeExchange;
using sluice::sdk::testing::FakeHost;
using sluice::sdk::testing::FakeInstance;

namespace {

using sluice::test::jsonString;

constexpr const char* kScriptError = "\"code\":101520";

std::string scriptPath(const char* name) { return std::string(SLUICE_LUA_SCRIPTS_DIR) + "/" + name; }

using Fixture = sluice::test::LuaFixture;

bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

// A script that counts its calls in the property "calls" and runs `spin` (from line 7) when the
// request has X-Spin.
std::string countingSpinner(std::string_view spin)
{
    return "\ncalls = 0\nfunction on_request(ctx)\n  calls = calls + 1\n  ctx.set_property(\"calls\", "
           "tostring(calls))\n"
           "  if ctx.request.get_header(\"X-Spin\") then\n    " +
           std::string(spin) + "\n  end\nend\n";
}

}  // namespace

TEST_CASE_FIXTURE(Fixture, "manifest: four handler components that differ only in body buffering")
{
    const struct {
        const char* name;
        std::uint32_t flags;
    } expected[] = {
        {"lua_mediation", 0},
        {"lua_mediation_request_body", SLUICE_COMPONENT_NEEDS_REQUEST_BODY},
        {"lua_mediation_response_body", SLUICE_COMPONENT_NEEDS_RESPONSE_BODY},
        {"lua_mediation_body", SLUICE_COMPONENT_NEEDS_REQUEST_BODY | SLUICE_COMPONENT_NEEDS_RESPONSE_BODY},
    };
    for (const auto& e : expected) {
        CAPTURE(e.name);
        const sluice_component* c = host.find(e.name);
        REQUIRE(c != nullptr);
        CHECK(c->kind == SLUICE_KIND_HANDLER);
        CHECK(c->flags == e.flags);
        REQUIRE(c->config_schema != nullptr);
        CHECK(contains(c->config_schema, "\"max_instructions\""));
        CHECK(contains(c->config_schema, "\"max_memory_bytes\""));
    }
}

TEST_CASE_FIXTURE(Fixture, "headers: add_header replaces a one-value field and joins a request's Cookie pairs")
{
    auto h = script(R"(
function on_request(ctx)
  ctx.request.add_header("Authorization", "Bearer backend")
  ctx.request.add_header("Cookie", "added=1")
  ctx.request.add_header("X-Tag", "b")
end
function on_response(ctx)
  ctx.response.add_header("Content-Type", "application/problem+json")
  ctx.response.add_header("Set-Cookie", "s=2")
end
)");
    auto ex = host.exchange();
    ex.requestHeaders = {{"Authorization", "Bearer client"}, {"Cookie", "a=1"}, {"X-Tag", "a"}};
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.header(ex.requestHeaders, "Authorization", 0) == "Bearer backend");
    CHECK_FALSE(ex.header(ex.requestHeaders, "Authorization", 1));
    CHECK(ex.header(ex.requestHeaders, "Cookie", 0) == "a=1; added=1");
    CHECK_FALSE(ex.header(ex.requestHeaders, "Cookie", 1));
    CHECK(ex.header(ex.requestHeaders, "X-Tag", 1) == "b");

    ex.responseHeaders = {{"Content-Type", "text/plain"}, {"Set-Cookie", "s=1"}};
    CHECK(host.response(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.header(ex.responseHeaders, "Content-Type", 0) == "application/problem+json");
    CHECK_FALSE(ex.header(ex.responseHeaders, "Content-Type", 1));
    CHECK(ex.header(ex.responseHeaders, "Set-Cookie", 1) == "s=2");
}

TEST_CASE_FIXTURE(Fixture, "headers: get, set, add and remove on the request and the response")
{
    auto h = script(R"(
function on_request(ctx)
  local agent = ctx.request.get_header("user-agent")
  ctx.request.set_header("X-Agent-Seen", agent)
  ctx.request.set_header("X-Second-Accept", ctx.request.get_header("Accept", 2) or "none")
  ctx.request.add_header("X-Tag", "a")
  ctx.request.add_header("X-Tag", "b")
  ctx.request.remove_header("Cookie")
  ctx.request.set_header("X-Missing", tostring(ctx.request.get_header("X-Absent")))
end
function on_response(ctx)
  ctx.response.set_header("X-Backend-Type", ctx.response.get_header("Content-Type"))
  ctx.response.remove_header("Server")
end
)");
    auto ex = host.exchange();
    ex.requestHeaders = {{"User-Agent", "curl/8"},
                         {"Accept", "text/html"},
                         {"Accept", "application/json"},
                         {"Cookie", "session=secret"}};
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.requestHeader("X-Agent-Seen") == "curl/8");
    CHECK(ex.requestHeader("X-Second-Accept") == "application/json");
    CHECK(ex.header(ex.requestHeaders, "X-Tag", 0) == "a");
    CHECK(ex.header(ex.requestHeaders, "X-Tag", 1) == "b");
    CHECK_FALSE(ex.requestHeader("Cookie"));
    CHECK(ex.requestHeader("X-Missing") == "nil");

    ex.responseHeaders = {{"Content-Type", "application/json"}, {"Server", "nginx/1.2"}};
    CHECK(host.response(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.responseHeader("X-Backend-Type") == "application/json");
    CHECK_FALSE(ex.responseHeader("Server"));
}

TEST_CASE_FIXTURE(Fixture, "headers: get_headers gives lower-case names and lists for repeated headers")
{
    auto h = script(R"(
function on_request(ctx)
  local all = ctx.request.get_headers()
  ctx.request.set_header("X-Host", all["host"])
  ctx.request.set_header("X-Via", table.concat(all["via"], "|"))
  ctx.request.set_header("X-Upper", tostring(all["Host"]))
end
)");
    auto ex = host.exchange();
    ex.requestHeaders = {{"Host", "api.example"}, {"Via", "1.1 a"}, {"VIA", "1.1 b"}, {"via", "1.1 c"}};
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.requestHeader("X-Host") == "api.example");
    CHECK(ex.requestHeader("X-Via") == "1.1 a|1.1 b|1.1 c");
    CHECK(ex.requestHeader("X-Upper") == "nil");
}

TEST_CASE_FIXTURE(Fixture, "headers: the host's refusals come back as nil and a reason, never a pretended success")
{
    auto h = script(R"(
function on_request(ctx)
  local ok, err = ctx.request.set_header("Bad Name", "x")
  ctx.set_property("bad_name", tostring(ok) .. "/" .. tostring(err))
  ok, err = ctx.request.set_header("X-Injected", "a\r\nEvil: 1")
  ctx.set_property("bad_value", tostring(ok) .. "/" .. tostring(err))
  ctx.set_property("good", tostring(ctx.request.set_header("X-Fine", "1")))
end
function on_response(ctx)
  local ok, err = ctx.request.set_header("X-Late", "1")
  ctx.set_property("late", tostring(ok) .. "/" .. tostring(err))
  ok, err = ctx.request.set_body("x")
  ctx.set_property("late_body", tostring(ok) .. "/" .. tostring(err))
end
)");
    auto ex = host.exchange();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.properties.at("bad_name") == "nil/invalid argument");
    CHECK(ex.properties.at("bad_value") == "nil/invalid argument");
    CHECK(ex.properties.at("good") == "true");
    CHECK_FALSE(ex.requestHeader("X-Injected"));
    CHECK(host.response(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.properties.at("late") == "nil/not allowed in this phase");
    CHECK(contains(ex.properties.at("late_body"), "nil/"));
    CHECK_FALSE(ex.requestHeader("X-Late"));
}

TEST_CASE_FIXTURE(Fixture, "request attributes: method, path, query, path and query parameters, client, API")
{
    auto h = script(R"(
function on_request(ctx)
  local r = ctx.request
  local api = ctx.get_api()
  ctx.set_property("seen", table.concat({
    r.get_method(), r.get_path(), r.get_query(), r.get_scheme(), r.get_host(),
    r.get_path_param("id"), tostring(r.get_path_param("nope")),
    r.get_query_arg("tag"), r.get_query_arg("tag", 2), tostring(r.get_query_arg("tag", 3)),
    ctx.get_client_address(), ctx.get_request_id(), api.name, api.version, api.resource,
    ctx.get_phase()}, ","))
end
)");
    auto ex = host.exchange();
    ex.attributes[SLUICE_ATTR_METHOD] = "PUT";
    ex.attributes[SLUICE_ATTR_PATH] = "/pets/v1/pets/7";
    ex.attributes[SLUICE_ATTR_QUERY] = "tag=a&tag=b%20c";
    ex.attributes[SLUICE_ATTR_RESOURCE] = "/pets/{id}";
    ex.attributes[SLUICE_ATTR_CLIENT_ADDRESS] = "10.0.0.9:4242";
    ex.pathParams["id"] = "7";
    ex.queryParams = {{"tag", "a"}, {"tag", "b c"}};
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.properties.at("seen") ==
          "PUT,/pets/v1/pets/7,tag=a&tag=b%20c,http,localhost,7,nil,a,b c,nil,"
          "10.0.0.9:4242,test-0001,TestAPI,v1,/pets/{id},request");
}

TEST_CASE_FIXTURE(Fixture, "properties: shared along the chain, read and written as strings")
{
    auto h = script(R"(
function on_request(ctx)
  ctx.set_property("lua.user", "user-" .. ctx.get_property("auth.subject"))
  ctx.set_property("lua.absent", tostring(ctx.get_property("no.such")))
  ctx.set_property("lua.number", 42)
end
function on_response(ctx)
  ctx.response.set_header("X-User", ctx.get_property("lua.user"))
end
)");
    auto ex = host.exchange();
    ex.properties["auth.subject"] = "alice";
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.properties.at("lua.user") == "user-alice");
    CHECK(ex.properties.at("lua.absent") == "nil");
    CHECK(ex.properties.at("lua.number") == "42");
    CHECK(host.response(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.responseHeader("X-User") == "user-alice");
}

TEST_CASE_FIXTURE(Fixture, "respond: short-circuits with status, body, content type and headers, and does not return")
{
    auto h = script(R"(
function on_request(ctx)
  if ctx.request.get_header("X-Api-Key") ~= "let-me-in" then
    ctx.respond(403, '{"error":"forbidden"}', {["Content-Type"] = "application/json",
                                              ["X-Reason"] = "key", ["Vary"] = {"Origin", "Accept"}})
    ctx.request.set_header("X-After-Respond", "ran")
  end
end
)");
    auto denied = host.exchange();
    CHECK(host.request(*h, denied) == SLUICE_ACTION_RESPOND);
    CHECK(denied.respondedStatus == 403);
    CHECK(denied.respondedContentType == "application/json");
    CHECK(denied.respondedBody == R"({"error":"forbidden"})");
    CHECK(denied.responseHeader("X-Reason") == "key");
    CHECK(denied.header(denied.responseHeaders, "Vary", 0) == "Origin");
    CHECK(denied.header(denied.responseHeaders, "Vary", 1) == "Accept");
    CHECK_FALSE(denied.responseHeader("Content-Type"));  // carried by respond(), not as a header
    CHECK_FALSE(denied.requestHeader("X-After-Respond"));

    auto allowed = host.exchange();
    allowed.requestHeaders = {{"X-Api-Key", "let-me-in"}};
    CHECK(host.request(*h, allowed) == SLUICE_ACTION_CONTINUE);
    CHECK_FALSE(allowed.respondedStatus);
}

TEST_CASE_FIXTURE(Fixture, "respond: plain text by default, works in on_response, and pcall cannot swallow it")
{
    auto h = script(R"(
function on_request(ctx)
  pcall(ctx.respond, 418, "short and stout")
  ctx.request.set_header("X-After", "ran")
end
function on_response(ctx)
  ctx.respond(502, "")
end
)");
    auto ex = host.exchange();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_RESPOND);
    CHECK(ex.respondedStatus == 418);
    CHECK(ex.respondedContentType == "text/plain; charset=utf-8");
    CHECK(ex.respondedBody == "short and stout");
    CHECK_FALSE(ex.requestHeader("X-After"));

    auto res = host.exchange();
    CHECK(host.response(*h, res) == SLUICE_ACTION_RESPOND);
    CHECK(res.respondedStatus == 502);
    CHECK(res.respondedContentType.empty());
}

TEST_CASE_FIXTURE(Fixture, "respond: a status outside 200..599 is a script error")
{
    auto h = script("function on_request(ctx) ctx.respond(99, 'x') end");
    auto ex = host.exchange();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_RESPOND);
    CHECK(ex.respondedStatus == 500);
    CHECK(contains(ex.respondedBody, kScriptError));
    CHECK(logged(SLUICE_LOG_ERROR, "status must be from 200 to 599"));
}

TEST_CASE_FIXTURE(Fixture, "bodies: read and replace the request and response bodies as strings")
{
    auto h = script(R"(
function on_request(ctx)
  local body = ctx.request.get_body()
  ctx.request.set_body(body:upper())
end
function on_response(ctx)
  local body = assert(ctx.response.get_body())
  assert(ctx.response.set_body("<" .. body .. ">"))
  ctx.set_property("request_body_in_response", ctx.request.get_body())
end
)",
                    "lua_mediation_body");
    auto ex = host.exchange();
    ex.requestBody = "hello lua";
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.requestBody == "HELLO LUA");
    ex.responseBody = "done";
    CHECK(host.response(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.responseBody == "<done>");
    CHECK(ex.properties.at("request_body_in_response") == "HELLO LUA");
}

TEST_CASE_FIXTURE(Fixture, "bodies: without a body component they are not buffered and cannot be replaced")
{
    auto h = script(R"(
function on_request(ctx)
  local body, err = ctx.request.get_body()
  ctx.set_property("get", tostring(body) .. "/" .. err)
  local ok, err2 = ctx.request.set_body("replaced")
  ctx.set_property("set", tostring(ok) .. "/" .. err2)
end
)");
    auto ex = host.exchange();  // requestBody nullopt: streamed, as the runtime does
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(contains(ex.properties.at("get"), "nil/body not buffered: use the lua_mediation_body"));
    CHECK(contains(ex.properties.at("set"), "nil/body not buffered"));
    CHECK_FALSE(ex.requestBody);
}

TEST_CASE_FIXTURE(Fixture, "logging: ctx.log writes through the host logger at the level asked, print at info")
{
    auto h = script(R"(
function on_request(ctx)
  ctx.log("warn", "quota at", 90, "percent")
  ctx.log("debug", "detail")
  print("from", "print")
end
)");
    host.logLevel = SLUICE_LOG_INFO;
    auto ex = host.exchange();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(logged(SLUICE_LOG_WARN, "quota at 90 percent"));
    CHECK(logged(SLUICE_LOG_INFO, "from\tprint"));
    CHECK_FALSE(logged(SLUICE_LOG_DEBUG, "detail"));
    REQUIRE_FALSE(host.logs().empty());
    CHECK(host.logs().front().logger == "plugin.lua_mediation");
}

TEST_CASE_FIXTURE(Fixture, "logging: an unknown level is a script error, without echoing the level")
{
    auto h = script("function on_request(ctx) ctx.log('loud', 'x') end");
    auto ex = host.exchange();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_RESPOND);
    CHECK(contains(ex.respondedBody, kScriptError));
    CHECK(logged(SLUICE_LOG_ERROR, "the level must be trace, debug, info, warn or error"));
    CHECK_FALSE(contains(allLogs(), "loud"));
}

TEST_CASE_FIXTURE(Fixture, "sandbox: io, os.execute, require, load, dofile, package, debug and friends are absent")
{
    auto h = script(R"(
function on_request(ctx)
  local function lookup(path)
    local value = _G
    for part in path:gmatch("[^.]+") do
      if type(value) ~= "table" then return nil end
      value = value[part]
    end
    return value
  end
  local absent = {}
  for _, name in ipairs({"io", "require", "load", "loadfile", "dofile", "package", "debug", "coroutine",
                         "rawset", "os.execute", "os.getenv", "os.exit", "os.remove", "string.dump"}) do
    if lookup(name) == nil then absent[#absent + 1] = name end
  end
  table.sort(absent)
  ctx.set_property("absent", table.concat(absent, ","))
  ctx.set_property("present", table.concat({type(os.time()), type(os.clock()), type(os.date("!%Y")),
    type(string.format), type(table.concat), type(math.floor), type(utf8.char), type(pcall)}, ","))
  local ok = pcall(collectgarbage, "stop")
  ctx.set_property("gc_stop", tostring(ok))
  ctx.set_property("gc_count", type(collectgarbage("count")))
  ok = pcall(setmetatable, ctx, {})
  ctx.set_property("ctx_metatable", tostring(ok))
  ok = pcall(function() ctx.request = nil end)
  ctx.set_property("ctx_write", tostring(ok))
end
)");
    auto ex = host.exchange();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.properties.at("absent") ==
          "coroutine,debug,dofile,io,load,loadfile,os.execute,os.exit,os.getenv,os.remove,package,rawset,require,"
          "string.dump");
    CHECK(ex.properties.at("present") == "number,number,string,function,function,function,function,function");
    CHECK(ex.properties.at("gc_stop") == "false");
    CHECK(ex.properties.at("gc_count") == "number");
    CHECK(ex.properties.at("ctx_metatable") == "false");
    CHECK(ex.properties.at("ctx_write") == "false");
}

TEST_CASE_FIXTURE(Fixture, "sandbox: calling a removed function is a script error answered with 500 / 101520")
{
    auto h = script("function on_request(ctx)\n  io.open('/etc/passwd')\nend\n");
    auto ex = host.exchange();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_RESPOND);
    CHECK(ex.respondedStatus == 500);
    CHECK(contains(ex.respondedBody, kScriptError));
    CHECK(logged(SLUICE_LOG_ERROR, "(inline source):2:"));
}

TEST_CASE_FIXTURE(Fixture,
                  "instruction limit: an endless loop is aborted, answered 500 / 101520, and the next call works")
{
    auto h = script(countingSpinner("while true do end"), "lua_mediation", R"("max_instructions": 50000)");
    auto spin = host.exchange();
    spin.requestHeaders = {{"X-Spin", "1"}};
    CHECK(host.request(*h, spin) == SLUICE_ACTION_RESPOND);
    CHECK(spin.respondedStatus == 500);
    CHECK(contains(spin.respondedBody, kScriptError));
    CHECK(logged(SLUICE_LOG_ERROR, "instruction limit (max_instructions = 50000) exceeded"));
    CHECK(logged(SLUICE_LOG_ERROR, "(inline source):7:"));

    // The aborted state was replaced by a fresh one: globals start over.
    auto next = host.exchange();
    CHECK(host.request(*h, next) == SLUICE_ACTION_CONTINUE);
    CHECK(next.properties.at("calls") == "1");
}

TEST_CASE_FIXTURE(Fixture, "instruction limit: pcall and xpcall in the script cannot catch it")
{
    auto h = script(R"(
function on_request(ctx)
  for i = 1, 3 do
    pcall(function() while true do end end)
    xpcall(function() while true do end end, function(e) return e end)
  end
  ctx.request.set_header("X-Escaped", "yes")
end
)",
                    "lua_mediation", R"("max_instructions": 20000)");
    auto ex = host.exchange();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_RESPOND);
    CHECK(contains(ex.respondedBody, kScriptError));
    CHECK_FALSE(ex.requestHeader("X-Escaped"));
}

TEST_CASE_FIXTURE(Fixture, "instruction limit: counted per invocation, not per state")
{
    // Each call runs well under the limit; many calls together exceed it many times over.
    auto h = script("function on_request(ctx) local s = 0 for i = 1, 1000 do s = s + i end end", "lua_mediation",
                    R"("max_instructions": 10000)");
    for (int i = 0; i < 50; ++i) {
        auto ex = host.exchange();
        REQUIRE(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    }
}

TEST_CASE_FIXTURE(Fixture, "instruction limit: none unless max_instructions is set")
{
    // About 4 million VM instructions: past the instruction limit this plugin used to have by
    // default, and well within the default max_time_ms.
    const char* source =
        "function on_request(ctx) local s = 0 for i = 1, 1000000 do s = s + i end "
        "ctx.set_property('sum', tostring(s)) end";
    auto unbounded = script(source);
    CHECK(logged(SLUICE_LOG_DEBUG, "max_time_ms is watched, no count hook"));
    auto ex = host.exchange();
    CHECK(host.request(*unbounded, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.properties.at("sum") == "500000500000");

    auto bounded = script(source, "lua_mediation", R"("max_instructions": 1000000)");
    auto limited = host.exchange();
    CHECK(host.request(*bounded, limited) == SLUICE_ACTION_RESPOND);
    CHECK(logged(SLUICE_LOG_ERROR, "instruction limit (max_instructions = 1000000) exceeded"));
}

// Without max_instructions no hook is set, and the watchdog interrupts a state past its deadline.
TEST_CASE_FIXTURE(Fixture,
                  "time limit: an endless loop without max_instructions ends at max_time_ms, "
                  "pcall cannot catch it and the next call works")
{
    auto h = script(
        countingSpinner("pcall(function() while true do end end)\n    ctx.request.set_header('X-Escaped', 'yes')"),
        "lua_mediation", R"("max_time_ms": 100)");
    CHECK(logged(SLUICE_LOG_DEBUG, "max_time_ms is watched, no count hook"));
    auto spin = host.exchange();
    spin.requestHeaders = {{"X-Spin", "1"}};
    const auto start = std::chrono::steady_clock::now();
    CHECK(host.request(*h, spin) == SLUICE_ACTION_RESPOND);
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= std::chrono::milliseconds(100));
    CHECK(took < std::chrono::seconds(5));
    CHECK(spin.respondedStatus == 500);
    CHECK(contains(spin.respondedBody, kScriptError));
    CHECK_FALSE(spin.requestHeader("X-Escaped"));
    CHECK(logged(SLUICE_LOG_ERROR, "(inline source):7: time limit (max_time_ms = 100) exceeded"));

    auto next = host.exchange();
    CHECK(host.request(*h, next) == SLUICE_ACTION_CONTINUE);
    CHECK(next.properties.at("calls") == "1");  // a fresh state
}

namespace {
void otherHandler(int) {}
}  // namespace

TEST_CASE_FIXTURE(Fixture, "time limit: when the watchdog's signal is taken, a count hook bounds the time instead")
{
    struct sigaction current {};
    sigaction(SIGRTMAX - 2, nullptr, &current);
    if ((current.sa_flags & SA_SIGINFO) != 0) {
        MESSAGE("the plugin already holds the signal in this process (ctest runs each case alone)");
        return;
    }
    struct sigaction taken {};
    taken.sa_handler = &otherHandler;
    sigemptyset(&taken.sa_mask);
    REQUIRE(sigaction(SIGRTMAX - 2, &taken, nullptr) == 0);

    auto h = script("function on_request(ctx) while true do end end", "lua_mediation", R"("max_time_ms": 50)");
    CHECK(logged(SLUICE_LOG_WARN, "the Lua watchdog is not available (signal SIGRTMAX-2 is taken)"));
    CHECK_FALSE(logged(SLUICE_LOG_DEBUG, "max_time_ms is watched"));
    auto ex = host.exchange();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_RESPOND);
    CHECK(logged(SLUICE_LOG_ERROR, "time limit (max_time_ms = 50) exceeded"));
    struct sigaction after {};
    sigaction(SIGRTMAX - 2, nullptr, &after);
    CHECK((after.sa_handler == &otherHandler));  // left alone
}

TEST_CASE_FIXTURE(Fixture, "time limit: the watchdog reaches a thread that blocks every signal, as the workers do")
{
    auto h = script("function on_request(ctx) while true do end end", "lua_mediation", R"("max_time_ms": 50)");
    sluice_action action = SLUICE_ACTION_CONTINUE;
    std::thread worker([&] {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);
        auto ex = host.exchange();
        action = host.request(*h, ex);
    });
    worker.join();
    CHECK(action == SLUICE_ACTION_RESPOND);
    CHECK(logged(SLUICE_LOG_ERROR, "time limit (max_time_ms = 50) exceeded"));
}

namespace {

// The kernel id of this process's "lua-watchdog" thread, or "" when there is none.
std::string watchdogThread()
{
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(task.path() / "comm");
        std::string name;
        std::getline(comm, name);
        if (name == "lua-watchdog") {
            return task.path().filename().string();
        }
    }
    return {};
}

// How many times a thread of this process went to sleep so far.
long sleepsOf(const std::string& thread)
{
    std::ifstream status("/proc/self/task/" + thread + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0) {
            return std::stol(line.substr(line.find(':') + 1));
        }
    }
    return -1;
}

}  // namespace

TEST_CASE_FIXTURE(Fixture, "time limit: the watchdog sleeps while no call runs, and a call wakes it")
{
    // max_time_ms 100: the watchdog looks every 10 ms while a call runs.
    auto h = script(countingSpinner("while true do end"), "lua_mediation", R"("max_time_ms": 100)");
    auto first = host.exchange();
    REQUIRE(host.request(*h, first) == SLUICE_ACTION_CONTINUE);  // the state exists and is watched
    std::string thread = watchdogThread();                       // it names itself when it has started
    for (int i = 0; i < 100 && thread.empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        thread = watchdogThread();
    }
    REQUIRE_FALSE(thread.empty());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const long before = sleepsOf(thread);
    REQUIRE(before >= 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const long idle = sleepsOf(thread) - before;
    CHECK(idle <= 2);  // looking every 10 ms would be about 50

    // A call that never ends wakes it: it is interrupted at its deadline.
    auto spin = host.exchange();
    spin.requestHeaders = {{"X-Spin", "1"}};
    const long beforeCall = sleepsOf(thread);
    CHECK(host.request(*h, spin) == SLUICE_ACTION_RESPOND);
    CHECK(logged(SLUICE_LOG_ERROR, "time limit (max_time_ms = 100) exceeded"));
    CHECK(sleepsOf(thread) - beforeCall >= 3);

    // And it sleeps again.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const long after = sleepsOf(thread);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(sleepsOf(thread) - after <= 2);
}

TEST_CASE_FIXTURE(Fixture, "sandbox: __gc finalizers are refused, since Lua runs them outside the instruction limit")
{
    auto h = script(R"(
function on_request(ctx)
  local ok, err = pcall(setmetatable, {}, {__gc = function() while true do end end})
  ctx.set_property("gc", tostring(ok) .. "/" .. tostring(err))
  local object = setmetatable({}, {__index = function(_, key) return "meta-" .. key end})
  ctx.set_property("index", object.name)
end
)");
    auto ex = host.exchange();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(contains(ex.properties.at("gc"), "false/"));
    CHECK(contains(ex.properties.at("gc"), "__gc metamethods are not available"));
    CHECK(ex.properties.at("index") == "meta-name");

    std::string error = createError(
        "lua_mediation", R"({"source": "setmetatable({}, {__gc = function() end})\nfunction on_request() end"})");
    CHECK(contains(error, "(inline source):1: __gc metamethods are not available"));
}

TEST_CASE_FIXTURE(Fixture, "memory limit: a runaway allocation is aborted with 500 / 101520 and logged with its line")
{
    auto h = script(R"(
function on_request(ctx)
  if ctx.request.get_header("X-Grow") then
    local t = {}
    for i = 1, 1e9 do
      t[i] = string.rep("x", 1000) .. i
    end
  end
  ctx.set_property("ok", "yes")
end
)",
                    "lua_mediation", R"("max_memory_bytes": 1048576, "max_instructions": 2000000000)");
    auto grow = host.exchange();
    grow.requestHeaders = {{"X-Grow", "1"}};
    CHECK(host.request(*h, grow) == SLUICE_ACTION_RESPOND);
    CHECK(grow.respondedStatus == 500);
    CHECK(contains(grow.respondedBody, kScriptError));
    CHECK(logged(SLUICE_LOG_ERROR, "memory limit (max_memory_bytes = 1048576) exceeded"));
    CHECK(logged(SLUICE_LOG_ERROR, "(inline source):6"));

    auto next = host.exchange();
    CHECK(host.request(*h, next) == SLUICE_ACTION_CONTINUE);
    CHECK(next.properties.at("ok") == "yes");
}

TEST_CASE_FIXTURE(Fixture, "memory limit: a huge string from one library call fails too, even under pcall")
{
    auto h = script(R"(
function on_request(ctx)
  local ok = pcall(string.rep, "x", 64 * 1024 * 1024)
  ctx.set_property("survived", tostring(ok))
end
)",
                    "lua_mediation", R"("max_memory_bytes": 1048576)");
    auto ex = host.exchange();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_RESPOND);
    CHECK(contains(ex.respondedBody, kScriptError));
    CHECK(ex.properties.count("survived") == 0);
}

TEST_CASE_FIXTURE(Fixture, "runtime error: 500 with code 101520, logged with the line but without secrets")
{
    auto h = script(
        "-- line 1\nfunction on_request(ctx)\n  local token = ctx.request.get_header('Authorization')\n"
        "  local n = nil\n  return n.field .. token\nend\n");
    auto ex = host.exchange();
    ex.requestHeaders = {{"Authorization", "Bearer top-secret-token"}};
    ex.requestBody = "secret body";
    CHECK(host.request(*h, ex) == SLUICE_ACTION_RESPOND);
    CHECK(ex.respondedStatus == 500);
    CHECK(ex.respondedContentType == "application/json");
    CHECK(contains(ex.respondedBody, kScriptError));
    CHECK(contains(ex.respondedBody, "Mediation script failed"));
    CHECK_FALSE(contains(ex.respondedBody, "inline source"));  // details stay in the log
    CHECK(logged(SLUICE_LOG_ERROR, "Lua script inline source: on_request failed: (inline source):5:"));
    CHECK_FALSE(contains(allLogs(), "top-secret"));
    CHECK_FALSE(contains(allLogs(), "secret body"));
}

TEST_CASE_FIXTURE(Fixture, "runtime error: a non-string error value is reported with its position")
{
    auto h = script("function on_response(ctx)\n  error({code = 1})\nend\n");
    auto ex = host.exchange();
    CHECK(host.response(*h, ex) == SLUICE_ACTION_RESPOND);
    CHECK(ex.respondedStatus == 500);
    CHECK(logged(SLUICE_LOG_ERROR, "on_response failed: (inline source):2: (error object is a table value)"));
}

TEST_CASE_FIXTURE(Fixture, "create: a compile error fails with the chunk and the line")
{
    std::string error = createError("lua_mediation", R"({"source": "function on_request(ctx)\n  local x = = 1\nend"})");
    CHECK(contains(error, "cannot load the inline Lua source"));
    CHECK(contains(error, "(inline source):2:"));

    namespace fs = std::filesystem;
    fs::path bad = fs::temp_directory_path() / ("lua-mediation-bad-" + std::to_string(::getpid()) + ".lua");
    std::ofstream(bad) << "-- fine\n-- fine\nfunction on_request(ctx\n  return 1\nend\n";
    error = createError("lua_mediation", "{\"file\": " + jsonString(bad.string()) + "}");
    fs::remove(bad);
    CHECK(contains(error, "cannot load Lua script '" + bad.string() + "'"));
    CHECK(contains(error, bad.filename().string() + ":4:"));
}

TEST_CASE_FIXTURE(Fixture, "create: a missing file, a bad main chunk and a script without hooks fail clearly")
{
    std::string error = createError("lua_mediation", R"({"file": "/nonexistent/dir/x.lua"})");
    CHECK(contains(error, "cannot read Lua script '/nonexistent/dir/x.lua'"));
    CHECK(contains(error, "No such file or directory"));

    error = createError("lua_mediation", R"({"source": "local x = nil\nx.y = 1\nfunction on_request() end"})");
    CHECK(contains(error, "(inline source):2:"));

    error = createError("lua_mediation", R"({"source": "local function helper() end"})");
    CHECK(contains(error, "defines neither on_request(ctx) nor on_response(ctx)"));

    error = createError("lua_mediation", R"({"source": "on_request = 5"})");
    CHECK(contains(error, "on_request must be a function"));

    error = createError("lua_mediation", R"({"source": "while true do end", "max_time_ms": 50})");
    CHECK(contains(error, "(inline source):1: time limit (max_time_ms) exceeded while loading"));

    error = createError("lua_mediation", R"({"source": "while true do end", "max_instructions": 10000})");
    CHECK(contains(error, "(inline source):1: instruction limit (max_instructions) exceeded while loading"));
}

TEST_CASE_FIXTURE(Fixture, "create: exactly one of file and source, and limits in range")
{
    CHECK(contains(createError("lua_mediation", "{}"), "exactly one of \"file\""));
    CHECK(contains(createError("lua_mediation", R"({"file": "/x.lua", "source": "x"})"), "exactly one of"));
    CHECK(contains(createError("lua_mediation", R"({"source": "function on_request() end", "max_instructions": 5})"),
                   "\"max_instructions\" must be an integer"));
    CHECK(contains(createError("lua_mediation", R"({"source": "function on_request() end", "max_memory_bytes": 1.5})"),
                   "\"max_memory_bytes\" must be an integer"));
    CHECK(
        createError("lua_mediation", R"({"source": "function on_request() end", "max_memory_bytes": 262144})").empty());
}

TEST_CASE_FIXTURE(Fixture, "create: a relative file is resolved against the configuration directory")
{
    namespace fs = std::filesystem;
    const fs::path scripts = fs::path(SLUICE_LUA_SCRIPTS_DIR).lexically_normal();
    const fs::path before = fs::current_path();
    fs::current_path(fs::temp_directory_path());  // the working directory plays no part
    host.configDir = scripts.parent_path().string();
    const std::string relative = scripts.filename().string();
    std::string error = createError("lua_mediation", "{\"file\": \"" + relative + "/mock_response.lua\"}");
    std::string missing = createError("lua_mediation", "{\"file\": \"" + relative + "/no_such_script.lua\"}");
    std::string absolute =
        createError("lua_mediation", "{\"file\": \"" + (scripts / "mock_response.lua").string() + "\"}");
    fs::current_path(before);
    CHECK(error.empty());
    CHECK(contains(missing, "cannot read Lua script '" + (scripts / "no_such_script.lua").string() + "'"));
    CHECK(absolute.empty());
}

TEST_CASE_FIXTURE(Fixture,
                  "create: without a configuration directory a relative file is resolved against the working directory")
{
    namespace fs = std::filesystem;
    const fs::path before = fs::current_path();
    fs::current_path(SLUICE_LUA_SCRIPTS_DIR);
    host.configDir.clear();
    std::string error = createError("lua_mediation", R"({"file": "mock_response.lua"})");
    std::string missing = createError("lua_mediation", R"({"file": "no_such_script.lua"})");
    fs::current_path(before);
    CHECK(error.empty());
    CHECK(contains(missing, (fs::path(SLUICE_LUA_SCRIPTS_DIR) / "no_such_script.lua").lexically_normal().string()));
}

TEST_CASE_FIXTURE(Fixture, "threads: each worker thread has its own Lua state, never shared")
{
    auto h = script(R"(
count = 0
function on_request(ctx)
  count = count + 1
  ctx.set_property("count", tostring(count))
end
)");
    constexpr int kThreads = 4;
    constexpr int kCalls = 200;
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int i = 1; i <= kCalls; ++i) {
                FakeExchange ex = host.exchange();
                if (host.request(*h, ex) != SLUICE_ACTION_CONTINUE || ex.properties["count"] != std::to_string(i)) {
                    ++wrong;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    // A state shared by two threads would show counts that skip or repeat.
    CHECK(wrong.load() == 0);
}

TEST_CASE_FIXTURE(Fixture, "threads: two instances on one thread keep separate states")
{
    auto a = script("n = 0 function on_request(ctx) n = n + 1 ctx.set_property('a', tostring(n)) end");
    auto b = script("n = 100 function on_request(ctx) n = n + 1 ctx.set_property('b', tostring(n)) end");
    auto ex = host.exchange();
    host.request(*a, ex);
    host.request(*b, ex);
    host.request(*a, ex);
    CHECK(ex.properties.at("a") == "2");
    CHECK(ex.properties.at("b") == "101");
}

// --- the example scripts in scripts/lua/

TEST_CASE_FIXTURE(Fixture, "example security_headers.lua: strips internal headers in, adds security headers out")
{
    auto h = file(scriptPath("security_headers.lua"));
    auto ex = host.exchange();
    ex.requestHeaders = {{"X-Internal-Role", "admin"},   {"x-internal-user", "root"}, {"X_Internal_Token", "t"},
                         {"x.internal.key", "k"},        {"X-Internalized", "kept"},  {"Accept", "*/*"},
                         {"X_Client_Address", "6.6.6.6"}};
    ex.properties["correlation_id"] = "corr-1";
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK_FALSE(ex.requestHeader("X-Internal-Role"));
    CHECK_FALSE(ex.requestHeader("X-Internal-User"));
    CHECK_FALSE(ex.requestHeader("X_Internal_Token"));  // PHP, WSGI, Rack: X-Internal-Token
    CHECK_FALSE(ex.requestHeader("x.internal.key"));    // PHP: X-Internal-Key
    CHECK(ex.requestHeader("X-Internalized") == "kept");
    CHECK(ex.requestHeader("Accept") == "*/*");
    CHECK_FALSE(ex.requestHeader("X_Client_Address"));  // set_header leaves no stand-in
    CHECK(ex.requestHeader("X-Client-Address") == "127.0.0.1:50000");
    CHECK(ex.requestHeader("X-Request-ID") == "test-0001");
    CHECK(ex.requestHeader("X-Trace-ID") == "corr-1");

    ex.responseHeaders = {{"Server", "Apache"}, {"X-Powered-By", "PHP"}, {"X-Frame-Options", "SAMEORIGIN"}};
    CHECK(host.response(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK_FALSE(ex.responseHeader("Server"));
    CHECK_FALSE(ex.responseHeader("X-Powered-By"));
    CHECK(ex.responseHeader("X-Frame-Options") == "SAMEORIGIN");  // the backend's choice stays
    CHECK(ex.responseHeader("X-Content-Type-Options") == "nosniff");
    CHECK(ex.responseHeader("Strict-Transport-Security") == "max-age=31536000; includeSubDomains");
}

TEST_CASE_FIXTURE(Fixture, "example rewrite_request.lua: path parameter and query become headers, bad input is 400")
{
    auto h = file(scriptPath("rewrite_request.lua"));
    auto ex = host.exchange();
    ex.pathParams["id"] = "42";
    ex.queryParams = {{"page", "3"}, {"size", "500"}};
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.requestHeader("X-Customer-ID") == "42");
    CHECK(ex.requestHeader("X-Page") == "3");
    CHECK(ex.requestHeader("X-Page-Size") == "100");
    CHECK(ex.properties.at("customer.id") == "42");

    auto defaults = host.exchange();
    defaults.pathParams["id"] = "7";
    CHECK(host.request(*h, defaults) == SLUICE_ACTION_CONTINUE);
    CHECK(defaults.requestHeader("X-Page") == "1");
    CHECK(defaults.requestHeader("X-Page-Size") == "20");

    auto badId = host.exchange();
    badId.pathParams["id"] = "42;drop";
    CHECK(host.request(*h, badId) == SLUICE_ACTION_RESPOND);
    CHECK(badId.respondedStatus == 400);
    CHECK(badId.respondedContentType == "application/json");
    CHECK(contains(badId.respondedBody, "customer id must be a number"));
    CHECK_FALSE(badId.requestHeader("X-Customer-ID"));

    auto badPage = host.exchange();
    badPage.pathParams["id"] = "1";
    badPage.queryParams = {{"page", "-2"}};
    CHECK(host.request(*h, badPage) == SLUICE_ACTION_RESPOND);
    CHECK(badPage.respondedStatus == 400);
    CHECK(contains(badPage.respondedBody, "page must be a positive integer"));
}

TEST_CASE_FIXTURE(Fixture, "example mock_response.lua: GET answered by the gateway, other methods pass")
{
    auto h = file(scriptPath("mock_response.lua"));
    auto ex = host.exchange();
    ex.pathParams["id"] = "2";
    CHECK(host.request(*h, ex) == SLUICE_ACTION_RESPOND);
    CHECK(ex.respondedStatus == 200);
    CHECK(ex.respondedContentType == "application/json");
    CHECK(ex.respondedBody == R"({"id":2,"name":"Tom","status":"available"})");
    CHECK(ex.responseHeader("X-Mock") == "true");

    auto missing = host.exchange();
    missing.pathParams["id"] = "0";
    CHECK(host.request(*h, missing) == SLUICE_ACTION_RESPOND);
    CHECK(missing.respondedStatus == 404);
    CHECK(contains(missing.respondedBody, "No pet with id 0"));

    auto post = host.exchange();
    post.attributes[SLUICE_ATTR_METHOD] = "POST";
    post.pathParams["id"] = "2";
    CHECK(host.request(*h, post) == SLUICE_ACTION_CONTINUE);
    CHECK_FALSE(post.respondedStatus);
}

TEST_CASE_FIXTURE(Fixture, "example redact_body.lua: masks card numbers and e-mail addresses in the response body")
{
    auto h = file(scriptPath("redact_body.lua"), "lua_mediation_response_body");
    auto ex = host.exchange();
    ex.responseHeaders = {{"Content-Type", "application/json; charset=utf-8"}};
    ex.responseBody = R"({"id":7,"card":"4111 1111 1111 1234","email":"jane.doe@example.com","date":"2024-01-15"})";
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(host.response(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.responseBody == R"({"id":7,"card":"************1234","email":"j***@example.com","date":"2024-01-15"})");
    CHECK(ex.responseHeader("X-Redacted") == "2");
    CHECK(ex.properties.at("redacted") == "2");

    // Addresses anywhere, next to each other or to other '@'s; an '@' without a user or a dotted
    // domain is left alone.
    auto mails = host.exchange();
    mails.responseHeaders = {{"Content-Type", "text/plain"}};
    mails.responseBody = "ann@a.org,bo.b+x@b-c.example @x.org me@host @@ z@ q@.com end@e.co";
    CHECK(host.response(*h, mails) == SLUICE_ACTION_CONTINUE);
    CHECK(mails.responseBody == "a***@a.org,b***@b-c.example @x.org me@host @@ z@ q@.com e***@e.co");
    CHECK(mails.responseHeader("X-Redacted") == "3");

    auto binary = host.exchange();
    binary.responseHeaders = {{"Content-Type", "image/png"}};
    binary.responseBody = "4111111111111234";
    CHECK(host.response(*h, binary) == SLUICE_ACTION_CONTINUE);
    CHECK(binary.responseBody == "4111111111111234");
    CHECK_FALSE(binary.responseHeader("X-Redacted"));
}
