#include "LuaContextApi.h"

#include <algorithm>
#include <cstddef>
#include <string_view>

#include <lua.hpp>

#include "LuaState.h"
#include "sluice/sdk/HttpSyntax.hpp"

// Lua raises errors with longjmp: the functions below keep no objects with destructors alive
// across calls into Lua (only pointers, string_views and sluice_str).

namespace sluice::plugins {

namespace {

constexpr const char* kNotBuffered =
    "body not buffered: use the lua_mediation_body (or _request_body / _response_body) component";

const char* statusText(sluice_status status) noexcept
{
    switch (status) {
        case SLUICE_OK: return "ok";
        case SLUICE_E_UNSUPPORTED: return "not supported by this gateway";
        case SLUICE_E_INVALID: return "invalid argument";
        case SLUICE_E_WRONG_PHASE: return "not allowed in this phase";
        case SLUICE_E_NOT_FOUND: return "not found";
        case SLUICE_E_NO_MEMORY: return "out of memory";
        case SLUICE_E_TOO_LARGE: return "too large";
        case SLUICE_E_INTERNAL: return "gateway error";
        case SLUICE_E_PLUGIN: return "plugin error";
    }
    return "unknown error";
}

struct Call {
    const sluice_host_api* host;
    sluice_exchange* ex;
};

Call current(lua_State* L)
{
    const LuaState& state = LuaState::from(L);
    if (state.exchange() == nullptr) {
        luaL_error(L, "ctx can only be used while on_request or on_response runs");
    }
    return Call{state.host(), state.exchange()};
}

sluice_str checkStr(lua_State* L, int arg)
{
    std::size_t len = 0;
    const char* p = luaL_checklstring(L, arg, &len);
    return sluice_str{p, len};
}

// A 1-based index argument, returned 0-based.
std::size_t checkIndex(lua_State* L, int arg)
{
    lua_Integer index = luaL_optinteger(L, arg, 1);
    luaL_argcheck(L, index >= 1, arg, "index must be 1 or more");
    return static_cast<std::size_t>(index - 1);
}

sluice_message_kind messageOf(lua_State* L)
{
    return static_cast<sluice_message_kind>(lua_tointeger(L, lua_upvalueindex(1)));
}

int failure(lua_State* L, const char* reason)
{
    lua_pushnil(L);
    lua_pushstring(L, reason);
    return 2;
}

int done(lua_State* L, sluice_status status)
{
    if (status != SLUICE_OK) {
        return failure(L, statusText(status));
    }
    lua_pushboolean(L, 1);
    return 1;
}

int value(lua_State* L, sluice_status status, sluice_str out)
{
    if (status != SLUICE_OK) {
        return failure(L, statusText(status));
    }
    lua_pushlstring(L, out.data, out.len);
    return 1;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
        char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
        if (x != y) {
            return false;
        }
    }
    return true;
}

// Fields the transport writes itself: framing, connection management (hop-by-hop), and on the
// request Host and Expect. A script's copy would be sent next to the transport's (a
// Transfer-Encoding next to a Content-Length desynchronises the backend or the client: request
// smuggling, response splitting) or silently dropped; either way refuse it. '_' and '.' count as
// '-' ("Transfer_Encoding", sdk::cgiFold): CGI-style backends (PHP, WSGI, Rack) read such
// spellings as one field, which is why the transport drops such names from clients too.
bool gatewayOwned(sluice_message_kind msg, std::string_view name) noexcept
{
    constexpr std::string_view kOwned[] = {
        "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "upgrade"};
    char folded[17];  // the longest owned name, "transfer-encoding"
    if (name.size() > sizeof folded) {
        return false;
    }
    std::transform(name.begin(), name.end(), folded, sdk::cgiFold);
    const std::string_view spelled(folded, name.size());
    for (std::string_view owned : kOwned) {
        if (spelled == owned) {
            return true;
        }
    }
    return msg == SLUICE_MSG_REQUEST && (spelled == "host" || spelled == "expect");
}

constexpr const char* kGatewayOwned = "not allowed: the gateway writes this header itself";

// --- headers (upvalue 1: the sluice_message_kind)
int getHeader(lua_State* L)
{
    Call c = current(L);
    sluice_str name = checkStr(L, 1);
    std::size_t index = checkIndex(L, 2);
    sluice_str out{};
    return value(L, c.host->header_get(c.ex, messageOf(L), name, index, &out), out);
}

void pushLowercase(lua_State* L, sluice_str name)
{
    luaL_Buffer b;
    char* p = luaL_buffinitsize(L, &b, name.len);
    for (std::size_t i = 0; i < name.len; ++i) {
        char ch = name.data[i];
        p[i] = ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
    }
    luaL_pushresultsize(&b, name.len);
}

// {lower-case name = value}, or {name = {value, value, ...}} for a repeated header.
int getHeaders(lua_State* L)
{
    Call c = current(L);
    sluice_message_kind msg = messageOf(L);
    std::size_t count = 0;
    sluice_status st = c.host->header_count(c.ex, msg, &count);
    if (st != SLUICE_OK) {
        return failure(L, statusText(st));
    }
    lua_createtable(L, 0, static_cast<int>(count < 64 ? count : 64));
    const int result = lua_gettop(L);
    for (std::size_t i = 0; i < count; ++i) {
        sluice_header h{};
        st = c.host->header_at(c.ex, msg, i, &h);
        if (st != SLUICE_OK) {
            return failure(L, statusText(st));
        }
        pushLowercase(L, h.name);
        lua_pushvalue(L, -1);
        int existing = lua_rawget(L, result);
        if (existing == LUA_TNIL) {
            lua_pop(L, 1);
            lua_pushlstring(L, h.value.data, h.value.len);
        } else if (existing == LUA_TSTRING) {
            lua_createtable(L, 2, 0);
            lua_insert(L, -2);
            lua_rawseti(L, -2, 1);
            lua_pushlstring(L, h.value.data, h.value.len);
            lua_rawseti(L, -2, 2);
        } else {
            lua_pushlstring(L, h.value.data, h.value.len);
            lua_rawseti(L, -2, static_cast<lua_Integer>(lua_rawlen(L, -2)) + 1);
        }
        lua_rawset(L, result);
    }
    return 1;
}

int changeHeader(lua_State* L, bool add)
{
    Call c = current(L);
    sluice_str name = checkStr(L, 1);
    sluice_str text = checkStr(L, 2);
    sluice_message_kind msg = messageOf(L);
    if (gatewayOwned(msg, std::string_view(name.data, name.len))) {
        return failure(L, kGatewayOwned);
    }
    LuaState::from(L).chargeHostBytes(L, name.len + text.len);
    return done(L, add ? c.host->header_add(c.ex, msg, name, text) : c.host->header_set(c.ex, msg, name, text));
}

int setHeader(lua_State* L) { return changeHeader(L, false); }
int addHeader(lua_State* L) { return changeHeader(L, true); }

int removeHeader(lua_State* L)
{
    Call c = current(L);
    sluice_str name = checkStr(L, 1);
    return done(L, c.host->header_remove(c.ex, messageOf(L), name));
}

// --- bodies (upvalue 1: the sluice_message_kind)
int getBody(lua_State* L)
{
    Call c = current(L);
    sluice_str out{};
    sluice_status st = c.host->body_get(c.ex, messageOf(L), &out);
    if (st == SLUICE_E_UNSUPPORTED) {
        return failure(L, kNotBuffered);
    }
    return value(L, st, out);
}

int setBody(lua_State* L)
{
    Call c = current(L);
    sluice_str bytes = checkStr(L, 1);
    sluice_message_kind msg = messageOf(L);
    // A body that streams through cannot be replaced: refuse rather than let the host half-do it.
    sluice_str current{};
    sluice_status st = c.host->body_get(c.ex, msg, &current);
    if (st == SLUICE_E_UNSUPPORTED) {
        return failure(L, kNotBuffered);
    }
    if (st != SLUICE_OK) {
        return failure(L, statusText(st));
    }
    return done(L, c.host->body_set(c.ex, msg, bytes));
}

// --- request attributes (upvalue 1: the sluice_attribute)
int getAttribute(lua_State* L)
{
    Call c = current(L);
    sluice_str out{};
    auto which = static_cast<sluice_attribute>(lua_tointeger(L, lua_upvalueindex(1)));
    return value(L, c.host->get_attribute(c.ex, which, &out), out);
}

int getQueryArg(lua_State* L)
{
    Call c = current(L);
    sluice_str name = checkStr(L, 1);
    std::size_t index = checkIndex(L, 2);
    sluice_str out{};
    return value(L, c.host->get_query_param(c.ex, name, index, &out), out);
}

int getPathParam(lua_State* L)
{
    Call c = current(L);
    sluice_str name = checkStr(L, 1);
    sluice_str out{};
    return value(L, c.host->get_path_param(c.ex, name, &out), out);
}

int getApi(lua_State* L)
{
    Call c = current(L);
    lua_createtable(L, 0, 3);
    const struct {
        const char* key;
        sluice_attribute which;
    } fields[] = {
        {"name", SLUICE_ATTR_API_NAME}, {"version", SLUICE_ATTR_API_VERSION}, {"resource", SLUICE_ATTR_RESOURCE}};
    for (const auto& f : fields) {
        sluice_str out{};
        if (c.host->get_attribute(c.ex, f.which, &out) == SLUICE_OK) {
            lua_pushlstring(L, out.data, out.len);
            lua_setfield(L, -2, f.key);
        }
    }
    return 1;
}

int getPhase(lua_State* L)
{
    current(L);
    lua_pushstring(L, LuaState::from(L).hook() == LuaHook::Request ? "request" : "response");
    return 1;
}

// --- properties
int getProperty(lua_State* L)
{
    Call c = current(L);
    sluice_str name = checkStr(L, 1);
    sluice_str out{};
    return value(L, c.host->property_get(c.ex, name, &out), out);
}

int setProperty(lua_State* L)
{
    Call c = current(L);
    sluice_str name = checkStr(L, 1);
    sluice_str text = checkStr(L, 2);
    LuaState::from(L).chargeHostBytes(L, name.len + text.len);
    return done(L, c.host->property_set(c.ex, name, text));
}

// --- logging
int logMessage(lua_State* L)
{
    current(L);
    // The level is not echoed in the error: a script might pass request data.
    const char* name = luaL_checkstring(L, 1);
    const std::string_view levels[] = {"trace", "debug", "info", "warn", "error"};
    int found = -1;
    for (int i = 0; i < 5; ++i) {
        if (name == levels[i]) {
            found = i;
        }
    }
    luaL_argcheck(L, found >= 0, 1, "the level must be trace, debug, info, warn or error");
    auto level = static_cast<sluice_log_level>(found);
    const LuaState& state = LuaState::from(L);
    if (!state.logger().enabled(level)) {
        return 0;
    }
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 2; i <= n; ++i) {
        if (i > 2) {
            luaL_addchar(&b, ' ');
        }
        luaL_tolstring(L, i, nullptr);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    std::size_t len = 0;
    const char* text = lua_tolstring(L, -1, &len);
    state.logScriptLine(level, std::string_view(text, len));
    return 0;
}

// --- short-circuit
void setRespondHeader(lua_State* L, Call c, sluice_str name, int valueIndex)
{
    if (gatewayOwned(SLUICE_MSG_RESPONSE, std::string_view(name.data, name.len))) {
        luaL_error(L, "ctx.respond: header '%s' is written by the gateway itself", name.data);
    }
    sluice_status st = SLUICE_OK;
    if (lua_type(L, valueIndex) == LUA_TTABLE) {
        st = c.host->header_remove(c.ex, SLUICE_MSG_RESPONSE, name);
        const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, valueIndex));
        for (lua_Integer i = 1; st == SLUICE_OK && i <= n; ++i) {
            lua_rawgeti(L, valueIndex, i);
            if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
                luaL_error(L, "ctx.respond: header '%s' must be a string or a list of strings", name.data);
            }
            std::size_t len = 0;
            const char* text = lua_tolstring(L, -1, &len);
            LuaState::from(L).chargeHostBytes(L, name.len + len);
            st = c.host->header_add(c.ex, SLUICE_MSG_RESPONSE, name, sluice_str{text, len});
            lua_pop(L, 1);
        }
    } else if (lua_type(L, valueIndex) == LUA_TSTRING || lua_type(L, valueIndex) == LUA_TNUMBER) {
        lua_pushvalue(L, valueIndex);  // converting a number must not touch the table iteration
        std::size_t len = 0;
        const char* text = lua_tolstring(L, -1, &len);
        LuaState::from(L).chargeHostBytes(L, name.len + len);
        st = c.host->header_set(c.ex, SLUICE_MSG_RESPONSE, name, sluice_str{text, len});
        lua_pop(L, 1);
    } else {
        luaL_error(L, "ctx.respond: header '%s' must be a string or a list of strings", name.data);
    }
    if (st != SLUICE_OK) {
        luaL_error(L, "ctx.respond: cannot set header '%s': %s", name.data, statusText(st));
    }
}

// ctx.respond(status [, body [, headers]]): answers the client now; does not return.
int respond(lua_State* L)
{
    Call c = current(L);
    lua_Integer status = luaL_checkinteger(L, 1);
    luaL_argcheck(L, status >= 200 && status <= 599, 1, "status must be from 200 to 599");
    std::size_t bodyLen = 0;
    const char* body = luaL_optlstring(L, 2, "", &bodyLen);
    // The transport would frame the body with a Content-Length, but a client reads no body after
    // 204 or 304: the bytes would be taken for the next response on the connection.
    luaL_argcheck(L, bodyLen == 0 || (status != 204 && status != 304), 2, "a 204 or 304 response has no body");
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
    }
    sluice_str contentType = bodyLen > 0 ? sluice_str{"text/plain; charset=utf-8", 25} : sluice_str{"", 0};
    if (lua_istable(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3) != 0) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                luaL_error(L, "ctx.respond: header names must be strings");
            }
            sluice_str name = checkStr(L, -2);
            if (equalsIgnoreCase(std::string_view(name.data, name.len), "content-type")) {
                if (lua_type(L, -1) != LUA_TSTRING) {
                    luaL_error(L, "ctx.respond: Content-Type must be a string");
                }
                contentType = checkStr(L, -1);  // stays valid: the table keeps the string
            } else {
                setRespondHeader(L, c, name, lua_gettop(L));
            }
            lua_pop(L, 1);
        }
    }
    sluice_status st = c.host->respond(c.ex, static_cast<std::int32_t>(status), contentType, sluice_str{body, bodyLen});
    if (st != SLUICE_OK) {
        return luaL_error(L, "ctx.respond: %s", statusText(st));
    }
    LuaState::from(L).finishWithResponse();
}

int readOnly(lua_State* L) { return luaL_error(L, "ctx is read-only (keep per-exchange data with ctx.set_property)"); }

// Replaces the table on top of the stack with an empty proxy that reads from it and refuses writes.
void freeze(lua_State* L)
{
    lua_createtable(L, 0, 0);
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, &readOnly);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_remove(L, -2);
}

void setClosure(lua_State* L, const char* name, lua_CFunction f, lua_Integer upvalue)
{
    lua_pushinteger(L, upvalue);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, -2, name);
}

void setFunction(lua_State* L, const char* name, lua_CFunction f)
{
    lua_pushcfunction(L, f);
    lua_setfield(L, -2, name);
}

void pushMessage(lua_State* L, sluice_message_kind msg)
{
    lua_createtable(L, 0, 16);
    setClosure(L, "get_header", &getHeader, msg);
    setClosure(L, "get_headers", &getHeaders, msg);
    setClosure(L, "set_header", &setHeader, msg);
    setClosure(L, "add_header", &addHeader, msg);
    setClosure(L, "remove_header", &removeHeader, msg);
    setClosure(L, "get_body", &getBody, msg);
    setClosure(L, "set_body", &setBody, msg);
    if (msg == SLUICE_MSG_REQUEST) {
        setClosure(L, "get_method", &getAttribute, SLUICE_ATTR_METHOD);
        setClosure(L, "get_path", &getAttribute, SLUICE_ATTR_PATH);
        setClosure(L, "get_query", &getAttribute, SLUICE_ATTR_QUERY);
        setClosure(L, "get_scheme", &getAttribute, SLUICE_ATTR_SCHEME);
        setClosure(L, "get_host", &getAttribute, SLUICE_ATTR_HOST);
        setFunction(L, "get_query_arg", &getQueryArg);
        setFunction(L, "get_path_param", &getPathParam);
    }
    freeze(L);
}

}  // namespace

namespace LuaContextApi {

void push(lua_State* L)
{
    lua_createtable(L, 0, 12);
    pushMessage(L, SLUICE_MSG_REQUEST);
    lua_setfield(L, -2, "request");
    pushMessage(L, SLUICE_MSG_RESPONSE);
    lua_setfield(L, -2, "response");
    setClosure(L, "get_client_address", &getAttribute, SLUICE_ATTR_CLIENT_ADDRESS);
    setClosure(L, "get_request_id", &getAttribute, SLUICE_ATTR_REQUEST_ID);
    setFunction(L, "get_api", &getApi);
    setFunction(L, "get_phase", &getPhase);
    setFunction(L, "get_property", &getProperty);
    setFunction(L, "set_property", &setProperty);
    setFunction(L, "log", &logMessage);
    setFunction(L, "respond", &respond);
    freeze(L);
}

}  // namespace LuaContextApi

}  // namespace sluice::plugins
