#include "LuaState.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include <lua.hpp>

#include "LuaContextApi.h"
#include "LuaSandbox.h"
#include "LuaWatchdog.h"

// Lua reports errors with longjmp: no function below that calls into Lua while it may raise holds
// an object with a destructor, and every call that may raise runs under lua_pcall.

namespace sluice::plugins {

namespace {

// The error value ctx.respond() unwinds with; compared by address.
char gRespondSentinel;

// Without the watchdog, the count hook fires every kHookPeriod instructions to look at the clock
// (and counts them).
constexpr int kHookPeriod = 1000;
// The watchdog looks at a state every tenth of its max_time_ms, within these bounds.
constexpr int kMinWatchPeriodMs = 1;
constexpr int kMaxWatchPeriodMs = 100;
constexpr std::size_t kLargeAllocation = 64 * 1024;
constexpr unsigned kAllocationsPerClockCheck = 256;
constexpr unsigned kCheckpointsPerClockCheck = 64;

const char* hookName(LuaHook hook) noexcept { return hook == LuaHook::Request ? "on_request" : "on_response"; }

std::string errorText(lua_State* L, int index)
{
    std::size_t len = 0;
    const char* text = lua_tolstring(L, index, &len);  // the message handler made it a string
    return text != nullptr ? std::string(text, len) : std::string("(error object is not a string)");
}

}  // namespace

LuaState::LuaState(const LuaScript& script, const sluice_host_api* host, const sdk::Logger& logger) noexcept
    : _script(script), _host(host), _logger(logger), _onRequest(LUA_NOREF), _onResponse(LUA_NOREF), _ctx(LUA_NOREF)
{
}

LuaState::~LuaState()
{
    if (_watched) {
        LuaWatchdog::unwatch(*this);
    }
    if (_lua != nullptr) {
        lua_close(_lua);  // no script finalizers: the sandbox refuses __gc
    }
}

LuaState& LuaState::from(lua_State* L) noexcept
{
    LuaState* self = nullptr;
    std::memcpy(&self, lua_getextraspace(L), sizeof self);  // NOLINT(bugprone-sizeof-expression): the pointer
    return *self;
}

// The memory limit: every allocation of the state goes through here. Lua runs an emergency
// collection and retries before it raises "not enough memory" (or, for a few internal tables,
// carries on without the memory: then it may collect again at the next allocation, so the
// deadline is looked at on every refusal).
void* LuaState::allocate(void* ud, void* ptr, std::size_t osize, std::size_t nsize) noexcept
{
    auto* self = static_cast<LuaState*>(ud);
    const std::size_t old = ptr != nullptr ? osize : 0;  // with ptr NULL, osize is a type tag
    if (nsize == 0) {
        std::free(ptr);
        self->_used -= old;
        return nullptr;
    }
    if (nsize > old && nsize - old > self->_script.maxMemoryBytes - self->_used) {
        if (self->_running) {
            self->recordPosition(self->_limitWhere, sizeof self->_limitWhere);
            self->noteDeadline();
        }
        return nullptr;
    }
    void* block = std::realloc(ptr, nsize);
    if (block != nullptr) {
        self->_used = self->_used - old + nsize;
    }
    // A single instruction may copy or compare a long string: large allocations and every so
    // many small ones look at the clock.
    if (self->_running && (nsize >= kLargeAllocation || ++self->_allocations % kAllocationsPerClockCheck == 0)) {
        self->noteDeadline();
    }
    return block;
}

// "<chunk>:<line>" of the innermost running Lua function (C functions have no line).
void LuaState::recordPosition(char* out, std::size_t size) noexcept
{
    lua_Debug ar;
    for (int level = 0; lua_getstack(_lua, level, &ar) != 0; ++level) {
        if (lua_getinfo(_lua, "Sl", &ar) != 0 && ar.currentline > 0) {
            std::snprintf(out, size, "%s:%d", ar.short_src, ar.currentline);
            return;
        }
    }
    std::snprintf(out, size, "%s", "?");
}

// The instruction and time limits: the hook fires every kHookPeriod instructions (fewer when the
// limit is nearer) and once something set _abort. A watched state has no hook until the watchdog
// or the allocator sets one at its deadline.
void LuaState::countHook(lua_State* L, lua_Debug* ar)
{
    LuaState& self = from(L);
    if (self._abort == Abort::None) {
        bool outOfInstructions = false;
        if (!self._watched) {
            self._instructionsLeft -= self._hookCount;
            outOfInstructions = self._instructionsLeft <= 0;
        }
        if (!outOfInstructions && !self.pastDeadline()) {
            self.armHook();
            return;
        }
        self._abort = outOfInstructions ? Abort::Instructions : Abort::Time;
        if (lua_getinfo(L, "Sl", ar) != 0 && ar->currentline > 0) {
            std::snprintf(self._limitWhere, sizeof self._limitWhere, "%s:%d", ar->short_src, ar->currentline);
        } else {
            self.recordPosition(self._limitWhere, sizeof self._limitWhere);
        }
    }
    self.raiseAbort(L, self._abort);
}

// From now on every instruction fails, so no error handler in the script can carry on.
void LuaState::raiseAbort(lua_State* L, Abort why)
{
    _hookCount = 1;
    lua_sethook(L, &countHook, LUA_MASKCOUNT, 1);
    if (why == Abort::Memory) {
        lua_pushliteral(L, "not enough memory");
    } else if (why == Abort::Time) {
        lua_pushliteral(L, "time limit exceeded");
    } else {
        lua_pushliteral(L, "instruction limit exceeded");
    }
    lua_error(L);
    std::abort();  // not reached: lua_error does not return
}

// lua_sethook walks every active call frame, so a hook that fires at depth would cost as much
// each time: the count is only set again when it changes (Lua restarts an unchanged count itself).
void LuaState::armHook() noexcept
{
    if (_watched) {
        if (lua_gethook(_lua) != nullptr) {
            lua_sethook(_lua, nullptr, 0, 0);
        }
        return;
    }
    const int count = static_cast<int>(_instructionsLeft < kHookPeriod ? _instructionsLeft : kHookPeriod);
    if (count != _hookCount || lua_gethook(_lua) == nullptr) {
        _hookCount = count;
        lua_sethook(_lua, &countHook, LUA_MASKCOUNT, count);
    }
}

void LuaState::armLimits() noexcept
{
    _abort = Abort::None;
    _limitWhere[0] = '\0';
    _instructionsLeft = _script.maxInstructions > 0 ? _script.maxInstructions : LLONG_MAX;
    _hostBytes = 0;
    _deadline = Clock::now() + std::chrono::milliseconds(_script.maxTimeMs);
    _hookCount = 0;  // restart the count
    armHook();
}

void LuaState::beginRun() noexcept
{
    armLimits();
    _running = true;
    if (_watched) {
        _watchThread.store(LuaWatchdog::enter(*this), std::memory_order_relaxed);
        _watchDeadlineNs.store(
            std::chrono::duration_cast<std::chrono::nanoseconds>(_deadline.time_since_epoch()).count(),
            std::memory_order_seq_cst);
        LuaWatchdog::published();
    }
}

void LuaState::endRun() noexcept
{
    if (_watched) {
        _watchDeadlineNs.store(0, std::memory_order_relaxed);
        LuaWatchdog::leave();
    }
    _running = false;
}

int LuaState::watchPeriodMs() const noexcept
{
    return std::clamp(_script.maxTimeMs / 10, kMinWatchPeriodMs, kMaxWatchPeriodMs);
}

void LuaState::interruptIfLate() noexcept
{
    if (_running && _abort == Abort::None && pastDeadline()) {
        lua_sethook(_lua, &countHook, LUA_MASKCOUNT, 1);
    }
}

void LuaState::noteDeadline() noexcept
{
    if (_abort != Abort::None || _lua == nullptr || !pastDeadline()) {
        return;
    }
    _abort = Abort::Time;
    recordPosition(_limitWhere, sizeof _limitWhere);
    _hookCount = 1;
    lua_sethook(_lua, &countHook, LUA_MASKCOUNT, 1);
}

void LuaState::checkpoint(lua_State* L)
{
    if (_abort == Abort::None) {
        if (++_checkpoints % kCheckpointsPerClockCheck != 0 || !pastDeadline()) {
            return;
        }
        _abort = Abort::Time;
        recordPosition(_limitWhere, sizeof _limitWhere);
    } else if (_abort == Abort::Respond) {
        return;  // a __close handler after ctx.respond: that unwinding is already under way
    }
    raiseAbort(L, _abort);
}

void LuaState::chargeHostBytes(lua_State* L, std::size_t bytes)
{
    if (bytes <= _script.maxMemoryBytes - _used && _hostBytes + bytes <= _script.maxMemoryBytes - _used) {
        _hostBytes += bytes;
        return;
    }
    if (_abort == Abort::None) {
        _abort = Abort::Memory;
        recordPosition(_limitWhere, sizeof _limitWhere);
    }
    raiseAbort(L, _abort);
}

void LuaState::logScriptLine(sluice_log_level level, std::string_view text) const noexcept
{
    try {
        std::string line(text.substr(0, kMaxScriptLogLine));
        for (char& c : line) {
            if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
                c = ' ';
            }
        }
        if (text.size() > kMaxScriptLogLine) {
            line += "...";
        }
        _logger.log(level, line);
    } catch (const std::exception&) {
        _logger.error("a script log line was dropped: out of memory");
    }
}

void LuaState::finishWithResponse()
{
    _abort = Abort::Respond;
    lua_pushlightuserdata(_lua, &gRespondSentinel);
    lua_error(_lua);
    std::abort();  // not reached: lua_error does not return
}

void LuaState::abortForMemory() noexcept
{
    if (_abort == Abort::None) {
        _abort = Abort::Memory;
    }
}

// Turns any error value into "<chunk>:<line>: message" (strings from error() and the VM already
// carry their position); the respond sentinel passes unchanged.
int LuaState::messageHandler(lua_State* L)
{
    if (lua_type(L, 1) == LUA_TLIGHTUSERDATA || lua_type(L, 1) == LUA_TSTRING) {
        return 1;
    }
    char where[128];
    from(L).recordPosition(where, sizeof where);
    lua_pushfstring(L, "%s: (error object is a %s value)", where, luaL_typename(L, 1));
    return 1;
}

// Runs under lua_pcall: libraries, compilation, the main chunk, the hooks and ctx.
int LuaState::setup(lua_State* L)
{
    LuaState& self = from(L);
    LuaSandbox::open(L);
    const std::string& source = self._script.source;
    if (luaL_loadbufferx(L, source.data(), source.size(), self._script.chunkName.c_str(), "t") != LUA_OK) {
        return lua_error(L);
    }
    lua_call(L, 0, 0);
    for (LuaHook hook : {LuaHook::Request, LuaHook::Response}) {
        int type = lua_getglobal(L, hookName(hook));
        if (type != LUA_TFUNCTION && type != LUA_TNIL) {
            return luaL_error(L, "%s must be a function, not a %s", hookName(hook), lua_typename(L, type));
        }
        (hook == LuaHook::Request ? self._onRequest : self._onResponse) =
            type == LUA_TFUNCTION ? luaL_ref(L, LUA_REGISTRYINDEX) : (lua_pop(L, 1), LUA_NOREF);
    }
    if (self._onRequest == LUA_NOREF && self._onResponse == LUA_NOREF) {
        return luaL_error(L, "the script defines neither on_request(ctx) nor on_response(ctx)");
    }
    LuaContextApi::push(L);
    self._ctx = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

std::unique_ptr<LuaState> LuaState::create(const LuaScript& script, const sluice_host_api* host,
                                           const sdk::Logger& logger, std::string& error) noexcept
{
    std::unique_ptr<LuaState> state(new (std::nothrow) LuaState(script, host, logger));
    if (state == nullptr) {
        error = "out of memory";
        return nullptr;
    }
    state->_lua = lua_newstate(&LuaState::allocate, state.get());
    if (state->_lua == nullptr) {
        error = "cannot create a Lua state within max_memory_bytes";
        return nullptr;
    }
    LuaState* self = state.get();
    std::memcpy(lua_getextraspace(state->_lua), &self, sizeof self);  // NOLINT(bugprone-sizeof-expression): the pointer
    lua_State* L = state->_lua;
    state->_watched = script.maxInstructions == 0 && LuaWatchdog::available() && LuaWatchdog::watch(*state);
    state->beginRun();
    lua_pushcfunction(L, &LuaState::messageHandler);
    lua_pushcfunction(L, &LuaState::setup);
    int status = lua_pcall(L, 0, 0, 1);
    state->endRun();
    if (status != LUA_OK) {
        const std::string where = state->_limitWhere[0] != '\0' ? std::string(state->_limitWhere) + ": " : "";
        if (state->_abort == Abort::Instructions) {
            error = where + "instruction limit (max_instructions) exceeded while loading";
        } else if (state->_abort == Abort::Time) {
            error = where + "time limit (max_time_ms) exceeded while loading";
        } else if (status == LUA_ERRMEM || state->_abort == Abort::Memory) {
            error = where + "memory limit (max_memory_bytes) exceeded while loading";
        } else {
            error = errorText(L, -1);
        }
        return nullptr;
    }
    lua_settop(L, 0);
    return state;
}

bool LuaState::defines(LuaHook hook) const noexcept
{
    return (hook == LuaHook::Request ? _onRequest : _onResponse) != LUA_NOREF;
}

LuaOutcome LuaState::invoke(LuaHook hook, sluice_exchange* exchange) noexcept
{
    LuaOutcome outcome;
    const int function = hook == LuaHook::Request ? _onRequest : _onResponse;
    if (function == LUA_NOREF) {
        return outcome;
    }
    lua_State* L = _lua;
    lua_settop(L, 0);
    _exchange = exchange;
    _hook = hook;
    beginRun();
    // Pushing onto the empty stack cannot fail: LUA_MINSTACK slots are always available.
    lua_pushcfunction(L, &LuaState::messageHandler);
    lua_rawgeti(L, LUA_REGISTRYINDEX, function);
    lua_rawgeti(L, LUA_REGISTRYINDEX, _ctx);
    int status = lua_pcall(L, 1, 0, 1);
    endRun();
    _exchange = nullptr;
    if (status == LUA_OK) {
        lua_settop(L, 0);
        return outcome;
    }
    if (status == LUA_ERRMEM) {
        abortForMemory();
    }
    switch (_abort) {
        case Abort::Respond: outcome.kind = LuaOutcome::Kind::Respond; break;
        case Abort::Instructions:
            outcome.kind = LuaOutcome::Kind::Failed;
            outcome.broken = true;
            outcome.error = std::string(_limitWhere) +
                            ": instruction limit (max_instructions = " + std::to_string(_script.maxInstructions) +
                            ") exceeded";
            break;
        case Abort::Time:
            outcome.kind = LuaOutcome::Kind::Failed;
            outcome.broken = true;
            outcome.error = std::string(_limitWhere[0] != '\0' ? _limitWhere : "(no Lua line)") +
                            ": time limit (max_time_ms = " + std::to_string(_script.maxTimeMs) + ") exceeded";
            break;
        case Abort::Memory:
            outcome.kind = LuaOutcome::Kind::Failed;
            outcome.broken = true;
            outcome.error = std::string(_limitWhere[0] != '\0' ? _limitWhere : "(no Lua line)") +
                            ": memory limit (max_memory_bytes = " + std::to_string(_script.maxMemoryBytes) +
                            ") exceeded";
            break;
        case Abort::None:
            outcome.kind = LuaOutcome::Kind::Failed;
            outcome.error = errorText(L, -1);
            break;
    }
    lua_settop(L, 0);
    return outcome;
}

}  // namespace sluice::plugins
