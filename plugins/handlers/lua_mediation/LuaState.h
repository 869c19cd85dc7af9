#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <sys/types.h>

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
    // Failed: the state hit its instruction, time or memory limit and must not be used again.
    bool broken = false;
    std::string error;  // Failed: "<chunk>:<line>: <what>", for the log (never sent to the client)
};

// One sandboxed Lua state running one compiled script: a custom allocator enforces the memory
// limit, a count hook the instruction limit (when max_instructions is set), and the time limit is
// watched by LuaWatchdog (or, without it or with max_instructions, by the count hook), by the
// allocator and by the sandbox's library functions (see checkpoint()). Used by one thread at a
// time (the instance keeps one per worker thread); never shared concurrently.
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
    // Its time is bounded by LuaWatchdog, and no hook is set between limits.
    bool watched() const noexcept { return _watched; }

    // Calls on_request(ctx) / on_response(ctx) for `exchange`. Never throws.
    LuaOutcome invoke(LuaHook hook, sluice_exchange* exchange) noexcept;

    // --- for the ctx API (LuaContextApi.cpp), valid only during invoke()
    static LuaState& from(lua_State* L) noexcept;
    sluice_exchange* exchange() const noexcept { return _exchange; }
    const sluice_host_api* host() const noexcept { return _host; }
    const sdk::Logger& logger() const noexcept { return _logger; }
    // print() and ctx.log(): one line (control characters become spaces), at most
    // kMaxScriptLogLine bytes, so that request data a script logs cannot forge log lines.
    static constexpr std::size_t kMaxScriptLogLine = 16 * 1024;
    void logScriptLine(sluice_log_level level, std::string_view text) const noexcept;
    LuaHook hook() const noexcept { return _hook; }
    // ctx.respond() prepared a response: unwind the script (the error value is a sentinel that
    // the sandbox's pcall does not catch).
    [[noreturn]] void finishWithResponse();
    // The sandbox's pcall/xpcall re-raise errors that must end the invocation.
    bool aborting() const noexcept { return _abort != Abort::None; }
    void abortForMemory() noexcept;
    // For library functions that loop in C without running VM instructions (table shifts and
    // moves, sort comparisons): call it every so often; raises the abort error once the invocation is past
    // its deadline (max_time_ms).
    void checkpoint(lua_State* L);
    // Bytes a call hands over to the host (header values, properties) live outside the state's
    // allocator: they count against max_memory_bytes for the rest of the invocation. Raises the
    // memory-limit abort when they exceed it.
    void chargeHostBytes(lua_State* L, std::size_t bytes);

    // --- for LuaWatchdog
    // The running invocation's deadline on the steady clock in nanoseconds, 0 between invocations.
    std::int64_t watchDeadlineNs() const noexcept { return _watchDeadlineNs.load(std::memory_order_seq_cst); }
    pid_t watchThread() const noexcept { return _watchThread.load(std::memory_order_relaxed); }
    int watchPeriodMs() const noexcept;
    // From the watchdog's signal handler, on the thread running this state: when the invocation
    // is past its deadline, sets the count hook that raises the time-limit error. Only
    // async-signal-safe calls (the clock, lua_sethook).
    void interruptIfLate() noexcept;

private:
    enum class Abort { None, Respond, Instructions, Time, Memory };
    using Clock = std::chrono::steady_clock;

    LuaState(const LuaScript& script, const sluice_host_api* host, const sdk::Logger& logger) noexcept;

    static void* allocate(void* ud, void* ptr, std::size_t osize, std::size_t nsize) noexcept;
    static void countHook(lua_State* L, lua_Debug* ar);
    static int messageHandler(lua_State* L);
    static int setup(lua_State* L);
    void recordPosition(char* out, std::size_t size) noexcept;
    void armLimits() noexcept;
    void armHook() noexcept;
    // Around every run of Lua code (the main chunk, each invocation).
    void beginRun() noexcept;
    void endRun() noexcept;
    bool pastDeadline() const noexcept { return Clock::now() >= _deadline; }
    // From inside the allocator (which cannot raise): when past the deadline, make the next VM
    // instruction raise the time-limit abort.
    void noteDeadline() noexcept;
    [[noreturn]] void raiseAbort(lua_State* L, Abort why);

    const LuaScript& _script;
    const sluice_host_api* _host;
    sdk::Logger _logger;
    lua_State* _lua = nullptr;
    std::size_t _used = 0;
    bool _running = false;  // inside invoke() or the main chunk: positions are meaningful
    // LuaWatchdog bounds the time, and no hook is set unless something asks for one.
    bool _watched = false;
    std::atomic<std::int64_t> _watchDeadlineNs{0};
    std::atomic<pid_t> _watchThread{0};
    Abort _abort = Abort::None;
    char _limitWhere[128] = {};       // where the last limit was hit
    long long _instructionsLeft = 0;  // in this invocation (without max_instructions: no bound)
    int _hookCount = 0;               // instructions until the count hook fires next (not watched)
    Clock::time_point _deadline{};    // of this invocation
    unsigned _allocations = 0;        // to look at the clock every so many allocations
    unsigned _checkpoints = 0;        // to look at the clock every so many checkpoints
    std::size_t _hostBytes = 0;       // handed to the host in this invocation
    sluice_exchange* _exchange = nullptr;
    LuaHook _hook = LuaHook::Request;
    int _onRequest = -2;  // registry references (LUA_NOREF when the script does not define it)
    int _onResponse = -2;
    int _ctx = -2;
};

}  // namespace sluice::plugins
