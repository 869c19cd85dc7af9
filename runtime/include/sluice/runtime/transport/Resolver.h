#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "sluice/runtime/transport/Net.h"

namespace sluice::runtime::transport {

// Resolves host names off the event loops: one background thread does the blocking
// getaddrinfo and the answer is delivered through the caller's `deliver` (which posts it to
// the caller's loop). Answers are cached for a minute, so steady traffic never waits.
class Resolver {
public:
    using Callback = std::function<void(std::vector<Address> addresses, std::string error)>;
    using Deliver = std::function<void(std::function<void()>)>;

    static Resolver& instance();
    ~Resolver();

    // From the cache when fresh (returns true and fills `out`); otherwise false, and `callback`
    // runs later via `deliver`.
    bool lookup(const std::string& host, int port, std::vector<Address>& out, Callback callback, Deliver deliver);

private:
    Resolver();
    void run();

    struct Entry {
        std::vector<Address> addresses;
        std::chrono::steady_clock::time_point expires;
    };
    struct Job {
        std::string host;
        int port;
        Callback callback;
        Deliver deliver;
    };
    std::mutex _mutex;
    std::condition_variable _wake;
    std::map<std::string, Entry> _cache;
    std::queue<Job> _jobs;
    bool _stopping = false;
    std::thread _thread;
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
