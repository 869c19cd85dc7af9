#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <sluice/sdk.hpp>

#include "LuaScript.h"
#include "LuaState.h"

namespace sluice::plugins {

// Runs a user Lua 5.4 script as a mediation step: its global functions on_request(ctx) and
// on_response(ctx) see and change the exchange through `ctx` (LuaContextApi.h, README "Add a Lua
// step"), in a sandbox (LuaSandbox.h) with a time and a memory limit (and an instruction limit
// when configured).
//
// Configuration (schema.json): {"file": "<path>"} or {"source": "<lua>"}, optional
// "max_time_ms" (wall-clock, watched by LuaWatchdog), "max_memory_bytes" and "max_instructions"
// (no default: counting costs a hook on every VM instruction). Missing files and compile errors
// fail create() with the file and line.
//
// Bodies: buffering is declared per component, as for json_xml, so there are four components that
// differ only in their flags: lua_mediation (bodies stream through; ctx.*.get_body() answers
// nil, "body not buffered ..."), lua_mediation_request_body, lua_mediation_response_body and
// lua_mediation_body (both).
//
// Threads: the instance is shared by every worker; each worker thread gets its own lua_State
// (created on first use and compiled once; the one made in create() to check the script serves
// the first thread), so a state is never used by two threads. States go away with the instance;
// a state that hit a limit is closed at once and a fresh one replaces it.
//
// Headers: the transport writes framing (Content-Length, Transfer-Encoding), hop-by-hop fields
// and the request's Host and Expect itself; a script's set/add of those answers nil and a reason.
//
// Errors: a runtime error, or an exceeded limit, in on_request/on_response answers the client
// 500 {"code": 101520, "message": "Mediation script failed", ...} and logs the script, the hook
// and "<chunk>:<line>: <error>" (never header values or bodies, unless the script's own error
// message contains them).
class LuaMediation : public sdk::Handler {
public:
    static constexpr std::int64_t kScriptError = 101520;
    static constexpr std::int64_t kCodedRequest = 101415;   // the gateway's code for such a 415
    static constexpr std::int64_t kCodedResponse = 101502;  // an unusable backend answer

    ~LuaMediation() override;

    // A component that reads a body gets it whole and identity-coded, or the exchange ends:
    // its request body must not be content-coded (415, 101415), and the backend is asked for
    // an identity answer without ranges (one that is coded all the same: 502, 101502). A script
    // that masks data must not be handed bytes it cannot read, nor a part of the document.
    sdk::Action onRequest(sdk::MessageContext& ctx) override;
    sdk::Action onResponse(sdk::MessageContext& ctx) override;

protected:
    // `bodies`: the component's SLUICE_COMPONENT_NEEDS_* flags.
    LuaMediation(const sdk::ComponentInit& init, std::uint32_t bodies);

private:
    sdk::Action run(LuaHook hook, sdk::MessageContext& ctx) noexcept;
    sdk::Action refuseCoded(sdk::MessageContext& ctx, sdk::Message m) const noexcept;
    sdk::Action fail(sdk::MessageContext& ctx) const noexcept;
    LuaState* stateForThisThread() noexcept;
    void discard(LuaState* state) noexcept;

    const std::uint32_t _bodies;
    const LuaScript _script;
    const std::uint64_t _id;  // unique per instance, never reused: keys the per-thread cache
    bool _hasOnRequest = false;
    bool _hasOnResponse = false;
    std::mutex _mutex;  // guards _states and _spare
    std::unordered_map<std::thread::id, std::unique_ptr<LuaState>> _states;
    std::unique_ptr<LuaState> _spare;  // the state create() checked the script with
};

class LuaMediationPlain final : public LuaMediation {
public:
    static const sdk::ComponentInfo kInfo;
    explicit LuaMediationPlain(const sdk::ComponentInit& init) : LuaMediation(init, kInfo.flags) {}
};

class LuaMediationRequestBody final : public LuaMediation {
public:
    static const sdk::ComponentInfo kInfo;
    explicit LuaMediationRequestBody(const sdk::ComponentInit& init) : LuaMediation(init, kInfo.flags) {}
};

class LuaMediationResponseBody final : public LuaMediation {
public:
    static const sdk::ComponentInfo kInfo;
    explicit LuaMediationResponseBody(const sdk::ComponentInit& init) : LuaMediation(init, kInfo.flags) {}
};

class LuaMediationBody final : public LuaMediation {
public:
    static const sdk::ComponentInfo kInfo;
    explicit LuaMediationBody(const sdk::ComponentInit& init) : LuaMediation(init, kInfo.flags) {}
};

}  // namespace sluice::plugins
