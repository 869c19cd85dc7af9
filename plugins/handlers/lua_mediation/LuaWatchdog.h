#pragma once

#include <csignal>

#include <sys/types.h>

namespace sluice::plugins {

class LuaState;

// Bounds the wall-clock time of invocations without a per-instruction hook. Lua 5.4 traps every
// VM instruction while any count hook is set (about a tenth of a mediated request's user-space
// instructions here), so a state without max_instructions runs with no hook at all, and this
// watchdog interrupts it once it is past its deadline, the way lua.c answers Ctrl-C:
//
// - one thread for the whole plugin ("lua-watchdog") looks at every watched state every tenth of
//   the smallest max_time_ms (at least every 1 ms, at most every 100 ms) while any call runs,
//   and sleeps while none does: a call that starts then wakes it (published());
// - for a state past its deadline it queues kSignal to the thread running that state
//   (rt_tgsigqueueinfo to its kernel thread id, carrying the state's address), again at every
//   look until the call has ended;
// - the handler, on that thread, checks that this state is the one running there and then only
//   calls lua_sethook, which Lua allows in a signal handler. The count hook then raises the
//   time-limit error at the next VM instruction.
//
// The host's worker threads block every signal; a thread that runs a state unblocks kSignal for
// itself the first time (enter). Signals of that number that did not come from this process are
// ignored.
class LuaWatchdog {
public:
    // Whether the signal handler could be installed (once per process). When not, states bound
    // their time with the count hook instead.
    static bool available() noexcept;

    // Watch `state` until unwatch(); both take a lock (states are made and closed when a worker
    // first runs a step, or after a limit broke one). false when the state cannot be watched
    // (out of memory, no thread): it must bound its time itself.
    static bool watch(LuaState& state) noexcept;
    static void unwatch(LuaState& state) noexcept;

    // The calling thread starts / stops running `state`'s Lua code. enter() returns the thread's
    // kernel id for the state to publish; on a thread's first call it unblocks kSignal there.
    // After that: two initial-exec thread-local accesses.
    static pid_t enter(LuaState& state) noexcept;
    static void leave() noexcept;

    // After a state published its deadline (a sequentially consistent store): wakes the
    // watchdog if it sleeps. One sequentially consistent load when it does not.
    static void published() noexcept;

    static int signalNumber() noexcept { return SIGRTMAX - 2; }
};

}  // namespace sluice::plugins
