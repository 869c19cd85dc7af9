// The lua_mediation sandbox through the real sluiced: what a script's mistakes (or request data
// driving them) must not do to the backend connection, the client connection or the worker
// thread. The ctx API itself is covered in LuaMediationTest.cpp.
#include <string>
#include <string_view>

#include "LuaGateway.h"
#include "TransportTest.h"

using namespace sluice::transport_test;

TEST_CASE("lua sandbox: a script cannot add Transfer-Encoding to the request the backend reads")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "got:" + r.body, {}, "text/plain");
        return reply;
    });
    SluicedProcess gw(luaGateway(backend, "lua_mediation", R"(
function on_request(ctx)
  local ok, err = ctx.request.set_header("Transfer-Encoding", "chunked")
  ctx.request.set_header("X-Lua-Result", tostring(ok) .. "/" .. tostring(err))
end
)"));
    RawClient client(gw.port());
    auto r = client.exchange(bodyRequest("POST", "/lua/v1/x", "abc", {"Content-Type: text/plain"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "got:abc");
    REQUIRE(backend.waitForRequests(1, 2s));
    const ReceivedRequest sent = backend.request(0);
    CHECK(sent.headerCount("Transfer-Encoding") == 0);
    CHECK_FALSE(sent.chunked);
    CHECK(sent.header("Content-Length") == "3");
    CHECK(sent.header("X-Lua-Result") == "nil/not allowed: the gateway writes this header itself");
}

TEST_CASE("lua sandbox: a script cannot give the client a second Content-Length or a Transfer-Encoding")
{
    ScriptedBackend backend(echo("b"));
    SluicedProcess gw(luaGateway(backend, "lua_mediation", R"(
function on_response(ctx)
  ctx.response.set_header("Content-Length", "0")
  ctx.response.add_header("Transfer-Encoding", "chunked")
  ctx.response.set_header("X-Lua", "ran")
end
)"));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/lua/v1/things"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->header("X-Lua") == "ran");
    CHECK(r->headerCount("Content-Length") == 1);
    CHECK(r->headerCount("Transfer-Encoding") == 0);
    CHECK(r->body == "b GET /things");
    // The connection is still in step: the next answer is the next request's.
    auto next = client.exchange(getRequest("/lua/v1/again"));
    REQUIRE_MESSAGE(next, client.error());
    CHECK(next->body == "b GET /again");
}

TEST_CASE("lua sandbox: ctx.respond(204, body) cannot put a response of its own on the connection")
{
    ScriptedBackend backend(echo("b"));
    SluicedProcess gw(luaGateway(backend, "lua_mediation", R"(
function on_request(ctx)
  if ctx.request.get_header("X-Empty") then
    ctx.respond(204, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled")
  end
end
)"));
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/lua/v1/things", {"X-Empty: 1"}));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 500);
    CHECK(r->errorCode() == 101520);
    CHECK(gw.waitForLog("a 204 or 304 response has no body", 0, 5000ms));
    auto next = client.exchange(getRequest("/lua/v1/real"));
    REQUIRE_MESSAGE(next, client.error());
    CHECK(next->body == "b GET /real");
    CHECK(client.received().find("smuggled") == std::string::npos);
}
