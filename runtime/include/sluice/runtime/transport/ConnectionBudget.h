#pragma once

#include <atomic>
#include <cstddef>

namespace sluice::runtime::transport {

// The client connections open across all workers, held against http.max_connections. As with
// HAProxy's maxconn, a worker that finds no room leaves new connections in its listen backlog,
// where the kernel keeps them, instead of accepting and dropping them. Thread-safe.
class ConnectionBudget {
public:
    // `automatic`: the limit when the configuration sets none (0); see automaticLimit().
    explicit ConnectionBudget(std::size_t automatic) noexcept : _automatic(automatic) {}

    // The limit in force for a configured value (0: automatic).
    std::size_t limit(std::size_t configured) const noexcept { return configured != 0 ? configured : _automatic; }

    // Takes a place for a connection about to be accepted; false when `limit` are open.
    bool take(std::size_t limit) noexcept
    {
        if (_open.fetch_add(1, std::memory_order_relaxed) >= limit) {
            _open.fetch_sub(1, std::memory_order_relaxed);
            return false;
        }
        return true;
    }
    void give() noexcept { _open.fetch_sub(1, std::memory_order_relaxed); }
    std::size_t open() const noexcept { return _open.load(std::memory_order_relaxed); }

    // What an open-file limit allows: each client connection may need one to its backend, and a
    // few dozen descriptors go to listeners, logs, stores and plugins.
    static std::size_t automaticLimit(std::size_t openFileLimit) noexcept
    {
        constexpr std::size_t kReserved = 64;
        if (openFileLimit <= 2 * kReserved) {
            return openFileLimit / 4 > 0 ? openFileLimit / 4 : 1;
        }
        return (openFileLimit - kReserved) / 2;
    }

private:
    std::atomic<std::size_t> _open{0};
    const std::size_t _automatic;
};

}  // namespace sluice::runtime::transport
