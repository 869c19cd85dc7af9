#include "LuaMediation.h"

#include <array>
#include <atomic>
#include <stdexcept>
#include <string>

#include "LuaWatchdog.h"
#include "lua_mediation_schema.h"

namespace sluice::plugins {

namespace {

constexpr int kPriority = 100;  // mediation: after authentication, throttling and validation
constexpr const char* kDescription = "Runs a Lua script on the request and response";
constexpr const char* kDescriptionRequestBody = "Runs a Lua script on the request and response (request body buffered)";
constexpr const char* kDescriptionResponseBody =
    "Runs a Lua script on the request and response (response body buffered)";
constexpr const char* kDescriptionBody = "Runs a Lua script on the request and response (both bodies buffered)";
constexpr std::uint32_t kBothBodies = SLUICE_COMPONENT_NEEDS_REQUEST_BODY | SLUICE_COMPONENT_NEEDS_RESPONSE_BODY;
constexpr std::size_t kMaxLoggedError = 300;

std::atomic<std::uint64_t> gNextInstanceId{1};

// A lock-free way back to this thread's state on the hot path: a few (instance id, state) pairs
// per thread. Ids are never reused, so an entry of a destroyed instance can never match again.
struct CachedState {
    std::uint64_t id = 0;
    LuaState* state = nullptr;
};
thread_local std::array<CachedState, 8> tCache{};
thread_local std::size_t tCacheNext = 0;

const char* hookName(LuaHook hook) noexcept { return hook == LuaHook::Request ? "on_request" : "on_response"; }

// One log line: no control characters, bounded length.
std::string loggable(std::string_view text)
{
    std::string out;
    out.reserve(text.size() < kMaxLoggedError ? text.size() : kMaxLoggedError + 3);
    for (char c : text.substr(0, kMaxLoggedError)) {
        out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
    }
    if (text.size() > kMaxLoggedError) {
        out += "...";
    }
    return out;
}

}  // namespace

const sdk::ComponentInfo LuaMediationPlain::kInfo{
    "lua_mediation",                      // name
    "1.3.0",                              // version
    kPriority,                            // priority
    0,                                    // flags: bodies stream through
    lua_mediation_schema::kConfigSchema,  // config schema
    kDescription,                         // description
};

const sdk::ComponentInfo LuaMediationRequestBody::kInfo{
    "lua_mediation_request_body",         // name
    "1.3.0",                              // version
    kPriority,                            // priority
    SLUICE_COMPONENT_NEEDS_REQUEST_BODY,  // flags
    lua_mediation_schema::kConfigSchema,  // config schema
    kDescriptionRequestBody,              // description
};

const sdk::ComponentInfo LuaMediationResponseBody::kInfo{
    "lua_mediation_response_body",         // name
    "1.3.0",                               // version
    kPriority,                             // priority
    SLUICE_COMPONENT_NEEDS_RESPONSE_BODY,  // flags
    lua_mediation_schema::kConfigSchema,   // config schema
    kDescriptionResponseBody,              // description
};

const sdk::ComponentInfo LuaMediationBody::kInfo{
    "lua_mediation_body",                 // name
    "1.3.0",                              // version
    kPriority,                            // priority
    kBothBodies,                          // flags
    lua_mediation_schema::kConfigSchema,  // config schema
    kDescriptionBody,                     // description
};

LuaMediation::LuaMediation(const sdk::ComponentInit& init, std::uint32_t bodies)
    : Handler(init),
      _bodies(bodies),
      _script(LuaScript::fromConfig(init.config(), init.configDir())),
      _id(gNextInstanceId.fetch_add(1))
{
    std::string error;
    _spare = LuaState::create(_script, host(), logger(), error);
    if (_spare == nullptr) {
        const std::string what =
            _script.inlineSource ? std::string("the inline Lua source") : "Lua script '" + _script.displayName + "'";
        throw std::runtime_error("cannot load " + what + ": " + error);
    }
    _hasOnRequest = _spare->defines(LuaHook::Request);
    _hasOnResponse = _spare->defines(LuaHook::Response);
    if (_spare->watched()) {
        logger().debug(_script.displayName + ": max_time_ms is watched, no count hook");
    } else if (_script.maxInstructions == 0) {
        const char* why = LuaWatchdog::available() ? "its thread could not start" : "signal SIGRTMAX-2 is taken";
        logger().warn(_script.displayName + ": the Lua watchdog is not available (" + why +
                      "); max_time_ms is looked at by a count hook every 1000 instructions, which slows the script");
    }
}

// Every exchange has ended (abi.h: destroy), so no worker is inside a state.
LuaMediation::~LuaMediation() = default;

LuaState* LuaMediation::stateForThisThread() noexcept
{
    for (const CachedState& entry : tCache) {
        if (entry.id == _id) {
            return entry.state;
        }
    }
    LuaState* state = nullptr;
    try {
        std::lock_guard<std::mutex> lock(_mutex);
        auto& slot = _states[std::this_thread::get_id()];
        if (slot == nullptr) {
            if (_spare != nullptr) {
                slot = std::move(_spare);
            } else {
                std::string error;
                slot = LuaState::create(_script, host(), logger(), error);
                if (slot == nullptr) {
                    logger().error("cannot create a Lua state for " + _script.displayName + ": " + loggable(error));
                    _states.erase(std::this_thread::get_id());
                    return nullptr;
                }
            }
        }
        state = slot.get();
    } catch (const std::exception&) {
        logger().error("cannot create a Lua state: out of memory");
        return nullptr;
    }
    tCache[tCacheNext] = CachedState{_id, state};
    tCacheNext = (tCacheNext + 1) % tCache.size();
    return state;
}

void LuaMediation::discard(LuaState* state) noexcept
{
    for (CachedState& entry : tCache) {
        if (entry.id == _id) {
            entry = CachedState{};
        }
    }
    std::unique_ptr<LuaState> closing;
    {
        std::lock_guard<std::mutex> lock(_mutex);
        auto it = _states.find(std::this_thread::get_id());
        if (it != _states.end() && it->second.get() == state) {
            closing = std::move(it->second);
            _states.erase(it);
        }
    }
    // lua_close runs outside the lock.
}

sdk::Action LuaMediation::fail(sdk::MessageContext& ctx) const noexcept
{
    if (ctx.respondError(500, kScriptError, "Mediation script failed",
                         "The gateway's mediation script could not process the message.") != SLUICE_OK) {
        logger().error("cannot prepare the script error response");
        return sdk::Action::Error;
    }
    return sdk::Action::Respond;
}

sdk::Action LuaMediation::onRequest(sdk::MessageContext& ctx)
{
    // Only where the script reads that body: a hook it does not define reads nothing.
    if (_hasOnRequest && (_bodies & SLUICE_COMPONENT_NEEDS_REQUEST_BODY) != 0 &&
        ctx.contentCoded(sdk::Message::Request) && !ctx.body(sdk::Message::Request).value_or("").empty()) {
        return refuseCoded(ctx, sdk::Message::Request);
    }
    if (_hasOnResponse && (_bodies & SLUICE_COMPONENT_NEEDS_RESPONSE_BODY) != 0 && !ctx.askWholeIdentityResponse()) {
        logger().error("cannot ask the backend for a whole identity response");
        return sdk::Action::Error;
    }
    return run(LuaHook::Request, ctx);
}

sdk::Action LuaMediation::onResponse(sdk::MessageContext& ctx)
{
    // A body-less answer (HEAD, 204, 304) may name the coding its resource has.
    if (_hasOnResponse && (_bodies & SLUICE_COMPONENT_NEEDS_RESPONSE_BODY) != 0 &&
        ctx.contentCoded(sdk::Message::Response) && !ctx.body(sdk::Message::Response).value_or("").empty()) {
        return refuseCoded(ctx, sdk::Message::Response);
    }
    return run(LuaHook::Response, ctx);
}

sdk::Action LuaMediation::refuseCoded(sdk::MessageContext& ctx, sdk::Message m) const noexcept
{
    const bool request = m == sdk::Message::Request;
    if (!request) {  // a client's coded body is its own mistake, answered and not logged
        logger().warn("the backend answered with a content-coded body for Lua script " + _script.displayName +
                      ", which reads the body: 502");
    }
    // The answer replaces the backend's body: its coding must not label the gateway's JSON error.
    if (!request && ctx.removeHeader(sdk::Message::Response, "Content-Encoding") != SLUICE_OK) {
        logger().error("cannot drop the backend's Content-Encoding");
        return sdk::Action::Error;
    }
    const sluice_status st =
        request ? ctx.respondError(415, kCodedRequest, "Unsupported request content coding",
                                   "The request body is content-coded; this API's mediation step reads the body and "
                                   "takes an identity body only.")
                : ctx.respondError(502, kCodedResponse, "Bad Gateway",
                                   "The backend answered with a content-coded body although an identity one was asked "
                                   "for; this API's mediation step reads the body.");
    if (st != SLUICE_OK) {
        logger().error("cannot prepare the error response");
        return sdk::Action::Error;
    }
    return sdk::Action::Respond;
}

sdk::Action LuaMediation::run(LuaHook hook, sdk::MessageContext& ctx) noexcept
{
    if (!(hook == LuaHook::Request ? _hasOnRequest : _hasOnResponse)) {
        return sdk::Action::Continue;
    }
    LuaState* state = stateForThisThread();
    if (state == nullptr) {
        return fail(ctx);
    }
    LuaOutcome outcome = state->invoke(hook, ctx.exchange());
    switch (outcome.kind) {
        case LuaOutcome::Kind::Continue: return sdk::Action::Continue;
        case LuaOutcome::Kind::Respond: return sdk::Action::Respond;
        case LuaOutcome::Kind::Failed: break;
    }
    try {
        logger().error("Lua script " + _script.displayName + ": " + hookName(hook) +
                       " failed: " + loggable(outcome.error));
    } catch (const std::exception&) {
        logger().error("Lua script failed");
    }
    if (outcome.broken) {
        discard(state);
    }
    return fail(ctx);
}

}  // namespace sluice::plugins
