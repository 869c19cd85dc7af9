// The lua_mediation handler through the real sluiced: headers both ways, a short-circuit that
// the backend never sees, bodies rewritten with correct framing, the 101520 error, a compile error
// that stops start-up with the file and JSON pointer, an example script loaded from its file, and
// two workers running one instance at once.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "LuaGateway.h"
#include "TransportTest.h"
#include "support/JsonText.h"

using namespace sluice::transport_test;

namespace {

using sluice::test::jsonString;

constexpr const char* kHeaderScript = R"(
function on_request(ctx)
  if ctx.request.get_header("X-Block") then
    ctx.respond(403, '{"blocked":true}', {["Content-Type"] = "application/json", ["X-Blocked-By"] = "lua"})
  end
  ctx.request.set_header("X-From-Lua", ctx.request.get_method() .. " " .. ctx.request.get_path())
  ctx.request.remove_header("X-Secret")
  ctx.set_property("lua.seen", "yes")
end
function on_response(ctx)
  ctx.response.set_header("X-Lua-Response", ctx.get_property("lua.seen") or "no")
  ctx.response.remove_header("X-Backend")
end
)";

}  // namespace

TEST_CASE("lua: a script changes request headers for the backend and response headers for the client")
{
    ScriptedBackend backend(echo("b"));
    SluicedProcess gw(luaGateway(backend, "lua_mediation", kHeaderScript));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/lua/v1/things?x=1", {"X-Secret: hunter2"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "b GET /things?x=1");
    CHECK(r->header("X-Lua-Response") == "yes");
    CHECK_FALSE(r->header("X-Backend"));

    REQUIRE(backend.waitForRequests(1, 2s));
    const ReceivedRequest sent = backend.request(0);
    CHECK(sent.header("X-From-Lua") == "GET /lua/v1/things");
    CHECK_FALSE(sent.header("X-Secret"));
}

TEST_CASE("lua: a request field a script removes or sets reaches the backend in no other spelling")
{
    // PHP, WSGI and Rack read X_Internal_User (PHP also X.Internal.User) as X-Internal-User:
    // stripped in one spelling only, the client's value would reach such a backend all the same.
    constexpr std::string_view kScript = R"(
function on_request(ctx)
  ctx.request.remove_header("X-Internal-User")
  ctx.request.set_header("X-Client-Address", "gateway-set")
end
)";
    ScriptedBackend backend(echo("b"));
    SluicedProcess gw(luaGateway(backend, "lua_mediation", kScript));
    RawClient client(gw.port());
    auto r = client.exchange(
        getRequest("/lua/v1/x", {"X_Internal_User: evil-1", "X.Internal.User: evil-2", "x-internal-user: evil-3",
                                 "X_Client_Address: evil-4", "X-Internal-Users: kept"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    const ReceivedRequest sent = backend.request(0);
    INFO("upstream head:\n" << sent.head);
    CHECK(sent.raw.find("evil") == std::string::npos);
    CHECK(sent.header("X-Client-Address") == "gateway-set");
    CHECK(sent.header("X-Internal-Users") == "kept");
}

TEST_CASE("lua: get_header on a request also finds the '_' and '.' spellings a CGI-style backend reads as the field")
{
    // A deny-if-present policy: X_Internal_User is HTTP_X_INTERNAL_USER to PHP, WSGI and Rack.
    constexpr std::string_view kScript = R"(
function on_request(ctx)
  if ctx.request.get_header("X-Internal-User") ~= nil then
    ctx.respond(403, "internal")
  end
end
)";
    ScriptedBackend backend(echo("b"));
    SluicedProcess gw(luaGateway(backend, "lua_mediation", kScript));
    for (const char* field : {"X-Internal-User: admin", "X_Internal_User: admin", "x.internal.user: admin"}) {
        CAPTURE(field);
        RawClient client(gw.port());
        auto r = client.exchange(getRequest("/lua/v1/x", {field}));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 403);
    }
    CHECK(backend.requestCount() == 0);
}

TEST_CASE("lua: ctx.respond short-circuits with its status, body and headers, the backend sees nothing")
{
    ScriptedBackend backend(echo("b"));
    SluicedProcess gw(luaGateway(backend, "lua_mediation", kHeaderScript));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/lua/v1/things", {"X-Block: 1"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 403);
    CHECK(r->header("Content-Type") == "application/json");
    CHECK(r->header("X-Blocked-By") == "lua");
    CHECK(r->body == R"({"blocked":true})");
    // Response hooks run for a local answer only in the steps before the one that answered.
    CHECK_FALSE(r->header("X-Lua-Response"));
    // The connection stays usable and the next request goes through.
    auto next = client.exchange(getRequest("/lua/v1/things"));
    REQUIRE_MESSAGE(next, client.error());
    CHECK(next->status == 200);
    CHECK(backend.requestCount() == 1);
}

TEST_CASE("lua: lua_mediation_body rewrites both bodies and the framing follows")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "got:" + r.body, {}, "text/plain");
        return reply;
    });
    SluicedProcess gw(luaGateway(backend, "lua_mediation_body", R"(
function on_request(ctx)
  ctx.request.set_body(string.rep(ctx.request.get_body():upper(), 3, "-"))
end
function on_response(ctx)
  ctx.response.set_body("[" .. ctx.response.get_body() .. "]")
end
)"));
    RawClient client(gw.port());
    auto r = client.exchange(bodyRequest("POST", "/lua/v1/echo", "abc", {"Content-Type: text/plain"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "[got:ABC-ABC-ABC]");
    CHECK(r->header("Content-Length") == std::to_string(r->body.size()));

    REQUIRE(backend.waitForRequests(1, 2s));
    const ReceivedRequest sent = backend.request(0);
    CHECK(sent.body == "ABC-ABC-ABC");
    CHECK(sent.header("Content-Length") == "11");
}

// A script that masks data (scripts/lua/redact_body.lua) must not be handed bytes it cannot read
// or a part of the document: a client asking for gzip or a range would get the unmasked data.
TEST_CASE("lua: a step that reads bodies gets them whole and identity-coded, or the exchange is refused")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.header("X-Coded")) {
            reply.bytes = httpResponse(200, "\x1f\x8b-not-text", {{"Content-Encoding", "gzip"}});
        } else {
            reply.bytes = httpResponse(200, "ae=" + r.header("Accept-Encoding").value_or("-") +
                                                " range=" + r.header("Range").value_or("-") +
                                                " if-range=" + r.header("If-Range").value_or("-"));
        }
        return reply;
    });
    const char* script = R"(
function on_request(ctx)
  ctx.set_property("length", tostring(#(ctx.request.get_body() or "")))
end
function on_response(ctx)
  ctx.response.set_body("[" .. ctx.response.get_body() .. "]")
end
)";
    SluicedProcess gw(luaGateway(backend, "lua_mediation_body", script));
    RawClient client(gw.port());
    const std::vector<std::string> asks = {"Accept-Encoding: gzip, br", "Range: bytes=0-3", "If-Range: \"v1\""};
    auto r = client.exchange(getRequest("/lua/v1/x", asks));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "[ae=identity range=- if-range=-]");

    auto coded = client.exchange(getRequest("/lua/v1/x", {"X-Coded: 1"}));
    REQUIRE_MESSAGE(coded, client.error());
    CHECK(coded->status == 502);
    CHECK(contains(coded->body, "101502"));
    CHECK_FALSE(coded->header("Content-Encoding"));  // the JSON error is not labelled gzip
    CHECK(gw.waitForLog("the backend answered with a content-coded body for Lua script", 0, 2s));

    RawClient gzipClient(gw.port());
    auto refused = gzipClient.exchange(
        bodyRequest("POST", "/lua/v1/x", "\x1f\x8b\x08", {"Content-Type: text/plain", "Content-Encoding: gzip"}));
    REQUIRE_MESSAGE(refused, gzipClient.error());
    CHECK(refused->status == 415);
    CHECK(contains(refused->body, "101415"));
    CHECK(backend.requestCount() == 2);

    // A step whose script reads no response body (no on_response) leaves the client's wishes alone.
    SluicedProcess streaming(luaGateway(backend, "lua_mediation_body", "function on_request(ctx) end"));
    RawClient other(streaming.port());
    auto passed = other.exchange(getRequest("/lua/v1/x", asks));
    REQUIRE_MESSAGE(passed, other.error());
    CHECK(passed->body == "ae=gzip, br range=bytes=0-3 if-range=\"v1\"");
}

// Response fields a script sets before the backend answers go on that answer, in place of the
// backend's fields of the same names, and on a local error answer too.
TEST_CASE("lua: response fields set in the request phase reach the client with the backend's answer")
{
    ScriptedBackend backend([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "b", {{"Cache-Control", "max-age=60"}, {"X-Backend", "kept"}});
        return reply;
    });
    const char* script = R"(
function on_request(ctx)
  ctx.response.set_header("Cache-Control", "no-store")
  ctx.response.add_header("X-Step", "one")
  ctx.response.add_header("X-Step", "two")
end
)";
    SluicedProcess gw(luaGateway(backend, "lua_mediation", script));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/lua/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "b");
    CHECK(r->header("Cache-Control") == "no-store");
    CHECK(r->headerCount("Cache-Control") == 1);
    CHECK(r->headerCount("X-Step") == 2);
    CHECK(r->header("X-Backend") == "kept");

    // No backend: the 502 carries them too.
    GatewaySpec down;
    down.apis.emplace_back(
        "lua", apiJson("/lua", endpointList({"http://127.0.0.1:1"}),
                       R"("retries": 0, "handlers": [{"component": "lua_mediation", "config": {"source": )" +
                           jsonString(script) + "}}]"));
    SluicedProcess failing(down);
    RawClient other(failing.port());
    auto e = other.exchange(getRequest("/lua/v1/x"));
    REQUIRE_MESSAGE(e, other.error());
    CHECK(e->status == 502);
    CHECK(e->header("Cache-Control") == "no-store");
    CHECK(e->headerCount("X-Step") == 2);
}

// A body a script sets is bounded as a client's is (http.max_body_bytes).
TEST_CASE("lua: set_body beyond http.max_body_bytes is refused and changes nothing")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "got " + std::to_string(r.body.size()));
        return reply;
    });
    GatewaySpec spec = luaGateway(backend, "lua_mediation_body", R"(
function on_request(ctx)
  local ok, err = ctx.request.set_body(string.rep("x", 2000))
  ctx.request.set_header("X-Set", tostring(ok) .. " " .. tostring(err))
  assert(ctx.request.set_body(string.rep("y", 1000)))
end
function on_response(ctx)
  local ok, err = ctx.response.set_body(string.rep("z", 1001))
  ctx.response.set_header("X-Set", tostring(ok) .. " " .. tostring(err))
end
)");
    spec.http = R"({"max_body_bytes": 1000})";
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(bodyRequest("POST", "/lua/v1/x", "abc"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "got 1000");
    CHECK(r->header("X-Set") == "nil too large");
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK(backend.request(0).header("X-Set") == "nil too large");
}

// A field a script removes before the backend answers is taken off that answer (Kong's
// kong.response.clear_header in access); one removed and then set again carries the script's value.
TEST_CASE("lua: response fields removed in the request phase are taken off the backend's answer")
{
    ScriptedBackend backend([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "b",
                                   {{"Server", "backend/1.0"},
                                    {"X-Powered-By", "php"},
                                    {"x-powered-by", "again"},
                                    {"X-Debug", "secret"},
                                    {"X-Backend", "kept"}});
        return reply;
    });
    const char* script = R"(
function on_request(ctx)
  if ctx.request.get_path() ~= "/lua/v1/strip" then
    return
  end
  ctx.response.remove_header("x-powered-by")
  ctx.response.remove_header("Server")
  ctx.response.remove_header("X-Debug")
  ctx.response.set_header("X-Debug", "mine")
  ctx.response.set_header("X-Temporary", "gone")
  ctx.response.remove_header("X-Temporary")
  ctx.response.remove_header("X-Powered-By")
end
)";
    SluicedProcess gw(luaGateway(backend, "lua_mediation", script));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/lua/v1/strip"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "b");
    CHECK(r->headerCount("X-Powered-By") == 0);
    CHECK(r->headerCount("Server") == 0);
    CHECK(r->headerCount("X-Temporary") == 0);
    CHECK(r->header("X-Debug") == "mine");
    CHECK(r->headerCount("X-Debug") == 1);
    CHECK(r->header("X-Backend") == "kept");

    // The next exchange on the connection starts with nothing removed.
    auto next = client.exchange(getRequest("/lua/v1/keep"));
    REQUIRE_MESSAGE(next, client.error());
    CHECK(next->headerCount("X-Powered-By") == 2);
    CHECK(next->header("Server") == "backend/1.0");
    CHECK(next->header("X-Debug") == "secret");
}

// httpoxy: a Proxy field is dropped from everyone, a handler's included.
TEST_CASE("lua: a Proxy field a script adds does not reach the backend")
{
    ScriptedBackend backend(echo("b"));
    SluicedProcess gw(luaGateway(backend, "lua_mediation", R"(
function on_request(ctx)
  ctx.request.add_header("Proxy", "http://evil.example:1")
  ctx.request.add_header("X-Kept", "yes")
end
)"));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/lua/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK(backend.request(0).header("X-Kept") == "yes");
    CHECK_FALSE(backend.request(0).header("Proxy"));
}

TEST_CASE("lua: a response body over max_body_bytes that a step needs whole is a 502 101502, whose body the step reads")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        const std::size_t n = r.target == "/big" ? 2000 : 10;
        reply.bytes = r.target == "/chunked" ? chunkedResponse(200, {std::string(600, 'c'), std::string(600, 'c')})
                                             : httpResponse(200, std::string(n, 'b'), {}, "text/plain");
        return reply;
    });
    // The step reads every body, the gateway's own answers' too (they were nothing to it, and a
    // script indexing one failed: 500 101520 instead of the 502).
    GatewaySpec spec = luaGateway(backend, "lua_mediation_response_body",
                                  "function on_response(ctx) ctx.response.set_header('X-Len', "
                                  "tostring(#ctx.response.get_body())) end");
    spec.http = R"({"max_body_bytes": 1000})";
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto small = client.exchange(getRequest("/lua/v1/small"));
    REQUIRE_MESSAGE(small, client.error());
    CHECK(small->status == 200);
    CHECK(small->header("X-Len") == "10");
    for (const char* path : {"/lua/v1/big", "/lua/v1/chunked"}) {
        CAPTURE(path);
        RawClient other(gw.port());
        auto big = other.exchange(getRequest(path));
        REQUIRE_MESSAGE(big, other.error());
        CHECK(big->status == 502);
        CHECK(big->errorCode() == 101502);
        CHECK(big->header("X-Len") == std::to_string(big->body.size()));
    }
    CHECK(gw.log().find("attempt to") == std::string::npos);

    // The same for a backend that cannot be reached; and a step may rewrite such an answer.
    ClosedPort down;
    GatewaySpec unreachable;
    unreachable.apis.emplace_back(
        "lua",
        apiJson("/lua", endpointList({down.url()}),
                R"("handlers": [{"component": "lua_mediation_response_body", "config": {"source": )"
                R"("function on_response(ctx) ctx.response.set_body('[' .. ctx.response.get_body() .. ']') end"}}])"));
    SluicedProcess gw2(unreachable);
    RawClient third(gw2.port());
    auto refused = third.exchange(getRequest("/lua/v1/x"));
    REQUIRE_MESSAGE(refused, third.error());
    CHECK(refused->status == 502);
    CHECK(refused->body.rfind("[{", 0) == 0);
    CHECK(refused->body.find("101503") != std::string::npos);
    CHECK(refused->header("Content-Length") == std::to_string(refused->body.size()));
}

TEST_CASE("lua: a failing script answers 500 with code 101520 and logs the line, not the request")
{
    ScriptedBackend backend(echo("b"));
    SluicedProcess gw(luaGateway(backend, "lua_mediation",
                                 "function on_request(ctx)\n"
                                 "  local key = ctx.request.get_header('X-Api-Key')\n"
                                 "  return key.missing.field\n"
                                 "end\n"));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/lua/v1/x", {"X-Api-Key: sk-very-secret"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 500);
    CHECK(r->errorCode() == 101520);
    CHECK(backend.requestCount() == 0);
    CHECK(gw.waitForLog("on_request failed: (inline source):3:", 0, 5000ms));
    CHECK(gw.log().find("sk-very-secret") == std::string::npos);
}

TEST_CASE("lua: a script that does not compile stops start-up with the file, the pointer and the line")
{
    ScriptedBackend backend(echo("b"));
    std::string output;
    try {
        SluicedProcess gw(luaGateway(backend, "lua_mediation", "function on_request(ctx)\n  local = 1\nend\n"));
    } catch (const std::runtime_error& e) {
        output = e.what();
    }
    REQUIRE_FALSE(output.empty());
    CHECK(output.find("lua.json") != std::string::npos);
    CHECK(output.find("/handlers/0") != std::string::npos);
    CHECK(output.find("create failed for component 'lua_mediation'") != std::string::npos);
    CHECK(output.find("(inline source):2:") != std::string::npos);
}

TEST_CASE("lua: the mock_response.lua example answers from its file without the backend")
{
    ScriptedBackend backend(echo("b"));
    GatewaySpec spec;
    const std::string script = std::string(SLUICE_TRANSPORT_LUA_SCRIPTS_DIR) + "/mock_response.lua";
    spec.apis.emplace_back("pets", apiJson("/pets", endpointList({backend.url()}),
                                           R"("handlers": [{"component": "lua_mediation", "config": {"file": )" +
                                               jsonString(script) + "}}]",
                                           R"([{"uri_template": "/pets/{id}", "methods": ["GET", "DELETE"]}])"));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/pets/v1/pets/3"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->header("X-Mock") == "true");
    CHECK(r->body == R"({"id":3,"name":"Kitty","status":"available"})");

    auto removed = client.exchange(getRequest("/pets/v1/pets/3", {}, "DELETE"));
    REQUIRE_MESSAGE(removed, client.error());
    CHECK(removed->body == "b DELETE /pets/3");
    CHECK(backend.requestCount() == 1);
}

// The shipped redact_body.lua in front of a backend: its patterns must take time in proportion to
// the body (a 64 KB word without '@' used to run into max_time_ms), and a HEAD has no body to
// read (it used to log "cannot read the response body").
TEST_CASE("lua: redact_body.lua masks a long body within its time limit and passes a HEAD quietly")
{
    const std::string longWord(64 * 1024, 'a');
    ScriptedBackend backend([&longWord](const ReceivedRequest& r) {
        BackendReply reply;
        const std::string body = "{\"w\":\"" + longWord + "\",\"mail\":\"jane.doe@example.com\",\"at\":\"" +
                                 std::string(4096, '@') + "\",\"card\":\"4111 1111 1111 1234\"}";
        reply.bytes = r.method == "HEAD" ? "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                               std::to_string(body.size()) + "\r\n\r\n"
                                         : httpResponse(200, body, {}, "application/json");
        return reply;
    });
    GatewaySpec spec;
    const std::string script = std::string(SLUICE_TRANSPORT_LUA_SCRIPTS_DIR) + "/redact_body.lua";
    spec.apis.emplace_back("lua",
                           apiJson("/lua", endpointList({backend.url()}),
                                   R"("handlers": [{"component": "lua_mediation_response_body", "config": {"file": )" +
                                       jsonString(script) + R"(, "max_time_ms": 500}}])"));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/lua/v1/doc"), 10s);
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->header("X-Redacted") == "2");
    CHECK(contains(r->body, "\"mail\":\"j***@example.com\""));
    CHECK(contains(r->body, "\"card\":\"************1234\""));
    CHECK(contains(r->body, longWord));

    const std::size_t mark = gw.logSize();
    auto head = client.exchange(getRequest("/lua/v1/doc", {}, "HEAD"), 10s);
    REQUIRE_MESSAGE(head, client.error());
    CHECK(head->status == 200);
    CHECK(head->body.empty());
    CHECK_FALSE(head->header("X-Redacted"));
    auto after = client.exchange(getRequest("/lua/v1/doc"), 10s);  // the connection is still in step
    REQUIRE_MESSAGE(after, client.error());
    CHECK(after->header("X-Redacted") == "2");
    CHECK_FALSE(contains(gw.log().substr(mark), "cannot read the response body"));
}

TEST_CASE("lua: a relative script path is resolved against the configuration's directory, not the working directory")
{
    ScriptedBackend backend(echo("b"));
    GatewaySpec spec;
    spec.apis.emplace_back("plain", apiJson("/plain", endpointList({backend.url()})));
    SluicedProcess gw(spec);
    const std::filesystem::path scripts = std::filesystem::path(gw.directory()) / "lua";
    std::filesystem::create_directories(scripts);
    std::ofstream(scripts / "tag.lua") << "function on_request(ctx) ctx.respond(200, 'from lua/tag.lua') end\n";
    REQUIRE(std::filesystem::current_path() != std::filesystem::path(gw.directory()));
    gw.writeApi("tagged",
                apiJson("/tagged", endpointList({backend.url()}),
                        R"("handlers": [{"component": "lua_mediation", "config": {"file": "lua/tag.lua"}}])"));
    REQUIRE_MESSAGE(gw.reload(), gw.log());
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/tagged/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "from lua/tag.lua");
    CHECK(backend.requestCount() == 0);
}

TEST_CASE("lua: a script that never returns is ended at max_time_ms on the worker, which goes on serving")
{
    ScriptedBackend backend(echo("b"));
    SluicedProcess gw(luaGateway(backend, "lua_mediation",
                                 "function on_request(ctx)\n"
                                 "  if ctx.request.get_header('X-Spin') then while true do end end\n"
                                 "end\n",
                                 1, R"("max_time_ms": 200)"));
    RawClient client(gw.port());
    const auto start = std::chrono::steady_clock::now();
    auto r = client.exchange(getRequest("/lua/v1/spin", {"X-Spin: 1"}));
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 500);
    CHECK(r->errorCode() == 101520);
    CHECK(took >= 200ms);
    CHECK(took < 5s);
    CHECK(gw.waitForLog("on_request failed: (inline source):2: time limit (max_time_ms = 200) exceeded", 0, 5000ms));

    auto next = client.exchange(getRequest("/lua/v1/after"));
    REQUIRE_MESSAGE(next, client.error());
    CHECK(next->status == 200);
    CHECK(backend.requestCount() == 1);
}

TEST_CASE("lua: two workers run one instance concurrently, each with its own Lua state")
{
    ScriptedBackend backend(echo("b"));
    SluicedProcess gw(luaGateway(backend, "lua_mediation", R"(
served = 0
function on_request(ctx)
  served = served + 1
  ctx.request.set_header("X-Served-By-State", tostring(served))
end
function on_response(ctx)
  ctx.response.set_header("X-Lua", "1")
end
)",
                                 2));
    constexpr int kClients = 4;
    constexpr int kRequests = 25;
    std::atomic<int> ok{0};
    {
        ClientThreads clients;
        for (int c = 0; c < kClients; ++c) {
            clients.run([&] {
                RawClient client(gw.port());
                for (int i = 0; i < kRequests; ++i) {
                    auto r = client.exchange(getRequest("/lua/v1/n"));
                    if (r && r->status == 200 && r->header("X-Lua") == "1") {
                        ++ok;
                    }
                }
            });
        }
        clients.join();
        CHECK(clients.exceptions() == 0);
    }
    CHECK(ok.load() == kClients * kRequests);
    REQUIRE(backend.waitForRequests(kClients * kRequests, 5s));
    // Each request was counted by the state of the worker thread that ran it: the highest count is
    // at least one client's share and never more than all requests.
    int highest = 0;
    for (const auto& sent : backend.requests()) {
        highest = std::max(highest, std::stoi(sent.header("X-Served-By-State").value_or("0")));
    }
    CHECK(highest >= kRequests);
    CHECK(highest <= kClients * kRequests);
}

TEST_CASE("lua: an answer or error from on_response replaces the backend's fields, keeping the ones handlers set")
{
    // The backend's fields describe its own body: sent with the handler's, Content-Encoding would
    // make the client gunzip a JSON error, and Set-Cookie would leak a session the handler refused.
    ScriptedBackend backend([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = httpResponse(
            200, "compressed?",
            {{"Content-Encoding", "gzip"}, {"Set-Cookie", "session=abc"}, {"ETag", "\"v1\""}, {"X-Backend", "b"}});
        return reply;
    });
    SluicedProcess gw(luaGateway(backend, "lua_mediation", R"(
function on_response(ctx)
  local mode = ctx.request.get_header("X-Mode")
  ctx.response.set_header("X-Handler", "set before")
  -- A backend field rewritten by a handler is still the backend's.
  ctx.response.set_header("Set-Cookie", ctx.response.get_header("Set-Cookie") .. "; Secure")
  if mode == "respond" then
    ctx.respond(403, '{"refused":true}', {["Content-Type"] = "application/json", ["X-Refused-By"] = "lua"})
  elseif mode == "fail" then
    error("refusing")
  end
end
)"));
    RawClient client(gw.port());
    auto refused = client.exchange(getRequest("/lua/v1/x", {"X-Mode: respond"}));
    REQUIRE_MESSAGE(refused, client.error());
    CHECK(refused->status == 403);
    CHECK(refused->body == R"({"refused":true})");
    CHECK(refused->header("X-Refused-By") == "lua");
    CHECK(refused->header("X-Handler") == "set before");
    for (const char* name : {"Content-Encoding", "Set-Cookie", "ETag", "X-Backend"}) {
        CAPTURE(name);
        CHECK_FALSE(refused->header(name));
    }

    auto failed = client.exchange(getRequest("/lua/v1/x", {"X-Mode: fail"}));
    REQUIRE_MESSAGE(failed, client.error());
    CHECK(failed->status == 500);
    CHECK(failed->errorCode() == 101520);
    CHECK(failed->header("Content-Type") == "application/json");
    for (const char* name : {"Content-Encoding", "Set-Cookie", "ETag", "X-Backend"}) {
        CAPTURE(name);
        CHECK_FALSE(failed->header(name));
    }

    // Passed through, the backend's fields are all there.
    auto passed = client.exchange(getRequest("/lua/v1/x"));
    REQUIRE_MESSAGE(passed, client.error());
    CHECK(passed->status == 200);
    CHECK(passed->header("Content-Encoding") == "gzip");
    CHECK(passed->header("Set-Cookie") == "session=abc; Secure");
    CHECK(passed->header("X-Handler") == "set before");
}

TEST_CASE("lua: a response hook that fails on a request-phase answer replaces it, fields and status")
{
    ScriptedBackend backend(echo("b"));
    GatewaySpec spec;
    const std::string chain = R"("handlers": [{"component": "lua_mediation", "config": {"source": )" +
                              jsonString("function on_response(ctx)\n  error('refusing the answer')\nend\n") +
                              R"(}}, {"component": "lua_mediation", "config": {"source": )" +
                              jsonString(
                                  "function on_request(ctx)\n  ctx.respond(302, '', {Location = '/elsewhere', "
                                  "['Set-Cookie'] = 'grant=1'})\nend\n") +
                              "}}]";
    spec.apis.emplace_back("lua", apiJson("/lua", endpointList({backend.url()}), chain));
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/lua/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 500);
    CHECK(r->errorCode() == 101520);
    CHECK_FALSE(r->header("Location"));
    CHECK_FALSE(r->header("Set-Cookie"));
    CHECK(backend.requestCount() == 0);
}
