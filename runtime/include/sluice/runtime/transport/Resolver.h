#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <vector>

#include "sluice/runtime/transport/Net.h"

namespace sluice::runtime::transport {

// Resolves host names off the event loops: one background thread does the blocking
// getaddrinfo and the answer is delivered through the caller's `deliver` (which posts it to
// the caller's loop). Answers are cached for a minute and failures for a few seconds, so steady
// traffic never waits; the callers that wait for the same name share one lookup, so a slow DNS
// server costs one lookup per name, not one per call. Both the names waited for and the callers
// waiting are bounded: past the bound a lookup fails at once ("too many name lookups waiting").
class Resolver {
public:
    using Callback = std::function<void(std::vector<Address> addresses, std::string error)>;
    using Deliver = std::function<void(std::function<void()>)>;

    using ResolveFunction = std::function<std::vector<Address>(const std::string& host, int port, std::string& error)>;

    static constexpr std::size_t kMaxNamesWaiting = 256;
    static constexpr std::size_t kMaxCallersWaiting = 65536;

    static Resolver& instance();
    // With the lookup to run on the thread (the process's instance uses getaddrinfo; tests their own).
    explicit Resolver(ResolveFunction resolve);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // From the cache when fresh (returns true and fills `out`); otherwise false, and `callback`
    // runs later via `deliver` (never from inside lookup()).
    bool lookup(const std::string& host, int port, std::vector<Address>& out, Callback callback, Deliver deliver);

private:
    struct Waiter {
        Callback callback;
        Deliver deliver;
    };
    struct Entry {
        std::vector<Address> addresses;  // empty: the lookup failed (error says why)
        std::string error;
        std::chrono::steady_clock::time_point expires;
    };
    // Shared with the thread, which may outlive the Resolver: at exit it is left to finish a
    // getaddrinfo that hangs rather than waited for.
    struct State {
        ResolveFunction resolve;
        std::mutex mutex;
        std::condition_variable wake;
        std::map<std::string, Entry> cache;
        std::map<std::string, std::vector<Waiter>> waiting;  // by "host:port", in the order asked
        std::queue<std::pair<std::string, int>> names;       // to look up, one job per name
        std::size_t callersWaiting = 0;
        std::size_t storedSinceSweep = 0;
        bool stopping = false;
    };

    static void run(const std::shared_ptr<State>& state);
    static void deliverTo(Waiter& waiter, std::vector<Address> addresses, std::string error);

    std::shared_ptr<State> _state;
};

// Fixed-window counters shared by all workers of the process (the local counter store).
class LocalCounters {
public:
    static LocalCounters& instance();
    // Adds `delta` to `key` in the current window of `windowMs` (0: no window) and returns the total.
    std::int64_t add(const std::string& key, std::int64_t delta, std::uint64_t windowMs);

private:
    struct Slot {
        std::uint64_t windowMs = 0;
        std::uint64_t window = 0;
        std::int64_t value = 0;
    };
    std::mutex _mutex;
    std::map<std::string, Slot, std::less<>> _slots;
    std::size_t _addsSinceSweep = 0;
};

}  // namespace sluice::runtime::transport
