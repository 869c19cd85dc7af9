#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <sluice/sdk.hpp>

#include "LuaScript.h"

struct lua_State;
struct lua_Debug;

namespace sluice::plugins {

enum class LuaHook { Request, Response };

// The result of one invocation of on_request / on_response.
struct LuaOutcome {
    enum class Kind { Continue, Respond, Failed };
    Kind kind = Kind::Continue;
    // Failed: the state hit its instruction or memory limit and must not be used again.
    bool broken = false;
    std::string error;  // Failed: "<chunk>:<line>: <what>", for the log (never sent to the client)
};

// One sandboxed Lua state running one compiled script: a custom allocator enforces the memory
// limit, a count hook the instruction limit. Used by one thread at a time (the instance keeps one
// per worker thread); never shared concurrently.
class LuaState {
public:
    // Creates the state, opens the allow-listed libraries, compiles the script and runs its main
    // chunk (which defines on_request / on_response). nullptr with `error` set on failure.
    static std::unique_ptr<LuaState> create(const LuaScript& script, const sluice_host_api* host,
                                            const sdk::Logger& logger, std::string& error) noexcept;
    ~LuaState();
    LuaState(const LuaState&) = delete;
    LuaState& operator=(const LuaState&) = delete;

    bool defines(LuaHook hook) const noexcept;

    // Calls on_request(ctx) / on_response(ctx) for `exchange`. Never throws.
    LuaOutcome invoke(LuaHook hook, sluice_exchange* exchange) noexcept;

    // --- for the ctx API (LuaContextApi.cpp), valid only during invoke()
    static LuaState& from(lua_State* L) noexcept;
    sluice_exchange* exchange() const noexcept { return _exchange; }
    const sluice_host_api* host() const noexcept { return _host; }
    const sdk::Logger& logger() const noexcept { return _logger; }
    LuaHook hook() const noexcept { return _hook; }
    // ctx.respond() prepared a response: unwind the script (the error value is a sentinel that
    // the sandbox's pcall does not catch).
    [[noreturn]] void finishWithResponse();
    // The sandbox's pcall/xpcall re-raise errors that must end the invocation.
    bool aborting() const noexcept { return _abort != Abort::None; }
    void abortForMemory() noexcept;

private:
    enum class Abort { None, Respond, Instructions, Memory };

    LuaState(const LuaScript& script, const sluice_host_api* host, const sdk::Logger& logger) noexcept;

    static void* allocate(void* ud, void* ptr, std::size_t osize, std::size_t nsize) noexcept;
    static void countHook(lua_State* L, lua_Debug* ar);
    static int messageHandler(lua_State* L);
    static int setup(lua_State* L);
    void recordPosition(char* out, std::size_t size) noexcept;
    void armLimits() noexcept;

    const LuaScript& _script;
    const sluice_host_api* _host;
    sdk::Logger _logger;
    lua_State* _L = nullptr;
    std::size_t _used = 0;
    bool _running = false;  // inside invoke() or the main chunk: positions are meaningful
    Abort _abort = Abort::None;
    char _limitWhere[128] = {};  // where the last limit was hit
    sluice_exchange* _exchange = nullptr;
    LuaHook _hook = LuaHook::Request;
    int _onRequest = -2;  // registry references (LUA_NOREF when the script does not define it)
    int _onResponse = -2;
    int _ctx = -2;
};

}  // namespace sluice::plugins
