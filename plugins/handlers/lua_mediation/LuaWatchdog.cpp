#include "LuaWatchdog.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "LuaState.h"

namespace sluice::plugins {

namespace {

constexpr int kMaxPeriodMs = 100;

// The watchdog sleeps until a call starts. It sets this, then looks at every deadline once more;
// a call publishes its deadline, then reads this. Both sequentially consistent: either the
// watchdog sees the deadline, or the call sees it asleep and wakes it.
std::atomic<bool> gAsleep{false};

// Initial-exec: the signal handler reads tRunning, and the general-dynamic model of a dlopen'd
// object may allocate on such a read (__tls_get_addr), which a handler must not do.
[[gnu::tls_model("initial-exec")]] thread_local LuaState* tRunning = nullptr;
[[gnu::tls_model("initial-exec")]] thread_local pid_t tThreadId = 0;  // also: kSignal unblocked here

// Never destroyed: its thread runs until the process exits, and states may still unwatch from
// static destructors.
struct Registry {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<LuaState*> watched;
    bool running = false;
};

Registry& registry()
{
    static Registry* r = new Registry;
    return *r;
}

std::int64_t steadyNs() noexcept
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void onSignal(int, siginfo_t* info, void*)
{
    // Only what this process's watchdog queued: a stray kill of this number changes nothing.
    if (info->si_code != SI_QUEUE || info->si_pid != ::getpid()) {
        return;
    }
    const int savedErrno = errno;
    LuaState* running = tRunning;
    if (running != nullptr && running == info->si_value.sival_ptr) {
        running->interruptIfLate();
    }
    errno = savedErrno;
}

bool installHandler() noexcept
{
    const int sig = LuaWatchdog::signalNumber();
    struct sigaction old;
    std::memset(&old, 0, sizeof old);
    if (::sigaction(sig, nullptr, &old) != 0) {
        return false;
    }
    const bool taken = (old.sa_flags & SA_SIGINFO) != 0 ? old.sa_sigaction != nullptr
                                                        : old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN;
    if (taken) {
        return false;  // someone else in the process uses this signal
    }
    struct sigaction action;
    std::memset(&action, 0, sizeof action);
    action.sa_sigaction = &onSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    return ::sigaction(sig, &action, nullptr) == 0;
}

// Queues the signal to one thread of this process by its kernel id, as pthread_sigqueue does.
// A thread that has exited is not there any more (ESRCH); one that took its id would ignore the
// signal, since it does not run this state.
void interrupt(const LuaState& state, pid_t thread)
{
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    info.si_signo = LuaWatchdog::signalNumber();
    info.si_code = SI_QUEUE;
    info.si_pid = ::getpid();
    info.si_uid = ::getuid();
    info.si_value.sival_ptr = const_cast<LuaState*>(&state);
    (void)::syscall(SYS_rt_tgsigqueueinfo, ::getpid(), thread, info.si_signo, &info);
}

bool anyCallRunning(const Registry& r) noexcept
{
    return std::any_of(r.watched.begin(), r.watched.end(),
                       [](const LuaState* state) { return state->watchDeadlineNs() != 0; });
}

void watchLoop(Registry& r)
{
    pthread_setname_np(pthread_self(), "lua-watchdog");
    std::unique_lock<std::mutex> lock(r.mutex);
    while (true) {
        if (!anyCallRunning(r)) {
            gAsleep.store(true);
            if (!anyCallRunning(r)) {
                r.changed.wait(lock);  // published() and watch() wake it
            }
            gAsleep.store(false);
            continue;
        }
        int periodMs = kMaxPeriodMs;
        for (const LuaState* state : r.watched) {
            periodMs = std::min(periodMs, state->watchPeriodMs());
        }
        r.changed.wait_for(lock, std::chrono::milliseconds(periodMs));
        const std::int64_t now = steadyNs();
        // Again at every look while the call is late: a signal may not be queued (the user's
        // limit of pending signals is reached for a while), and one that lands while Lua turns
        // its trap off is lost. A limit used up for good keeps a loop without allocations going.
        for (const LuaState* state : r.watched) {
            const std::int64_t deadline = state->watchDeadlineNs();
            if (deadline != 0 && now >= deadline) {
                interrupt(*state, state->watchThread());
            }
        }
    }
}

}  // namespace

bool LuaWatchdog::available() noexcept
{
    static const bool installed = installHandler();
    return installed;
}

bool LuaWatchdog::watch(LuaState& state) noexcept
{
    Registry& r = registry();
    try {
        std::lock_guard<std::mutex> lock(r.mutex);
        if (!r.running) {
            // The thread starts with every signal blocked: process signals are not its business.
            sigset_t all;
            sigset_t before;
            sigfillset(&all);
            pthread_sigmask(SIG_SETMASK, &all, &before);
            try {
                std::thread(watchLoop, std::ref(r)).detach();
            } catch (...) {
                pthread_sigmask(SIG_SETMASK, &before, nullptr);
                throw;
            }
            pthread_sigmask(SIG_SETMASK, &before, nullptr);
            r.running = true;
        }
        r.watched.push_back(&state);
    } catch (const std::exception&) {
        return false;  // out of memory, or no thread
    }
    r.changed.notify_one();
    return true;
}

void LuaWatchdog::unwatch(LuaState& state) noexcept
{
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.watched.erase(
        std::remove_if(r.watched.begin(), r.watched.end(), [&state](const LuaState* w) { return w == &state; }),
        r.watched.end());
}

pid_t LuaWatchdog::enter(LuaState& state) noexcept
{
    if (tThreadId == 0) {
        sigset_t mine;
        sigemptyset(&mine);
        sigaddset(&mine, signalNumber());
        pthread_sigmask(SIG_UNBLOCK, &mine, nullptr);
        tThreadId = ::gettid();
    }
    tRunning = &state;
    return tThreadId;
}

void LuaWatchdog::leave() noexcept { tRunning = nullptr; }

void LuaWatchdog::published() noexcept
{
    if (gAsleep.load()) {
        Registry& r = registry();
        std::lock_guard<std::mutex> lock(r.mutex);
        r.changed.notify_one();
    }
}

}  // namespace sluice::plugins
