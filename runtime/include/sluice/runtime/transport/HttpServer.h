#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sluice/runtime/Snapshot.h"
#include "sluice/runtime/transport/Worker.h"

namespace sluice::runtime::transport {

struct BoundListener {
    std::string name;
    std::string host;
    int port = 0;  // the actual port (useful with port 0)
    bool tls = false;
};

// The data plane: N workers, each with its own event loop and its own SO_REUSEPORT socket per
// configured listener; the kernel spreads connections (and under exact connection balance, a
// worker ahead of another hands new ones over), and no lock is shared per request.
class HttpServer {
public:
    explicit HttpServer(std::shared_ptr<const Snapshot> snapshot);
    ~HttpServer();

    // Binds every listener (a port 0 is chosen once and shared by all workers) and starts the
    // workers. Returns false with `error` set when a listener cannot be bound.
    bool start(std::string& error);
    // New exchanges use `snapshot` and new connections its listeners' TLS contexts (certificates,
    // keys, CA bundle, versions, ciphers, client_auth); exchanges and connections in flight finish
    // on what they started with. Returns once every worker has switched. Listener addresses and
    // TLS being turned on or off are bound at start(): such changes are logged and wait for a
    // restart.
    void setSnapshot(const std::shared_ptr<const Snapshot>& snapshot);
    // Stops accepting, lets in-flight exchanges finish (up to graceMs), then joins the workers.
    void stop(int graceMs);

    const std::vector<BoundListener>& listeners() const noexcept { return _bound; }
    unsigned workerCount() const
    {
        std::lock_guard<std::mutex> lock(_workersMutex);
        return static_cast<unsigned>(_workers.size());
    }
    // Client connections open now, and the limit in force (http.max_connections, or what the
    // open-file limit allows when it is 0). Thread-safe once started.
    std::size_t openConnections() const noexcept { return _budget ? _budget->open() : 0; }
    std::size_t connectionLimit() const noexcept
    {
        return _budget ? _budget->limit(_configuredLimit.load(std::memory_order_relaxed)) : 0;
    }
    // Client connections per worker (with those being handed to it); none once stop() is done.
    // Thread-safe once started (the admin endpoint asks while the server stops).
    std::vector<std::size_t> connectionsPerWorker() const
    {
        std::lock_guard<std::mutex> lock(_workersMutex);
        std::vector<std::size_t> loads;
        for (const auto& worker : _workers) {
            loads.push_back(worker->load());
        }
        return loads;
    }
    // The open-file limit start() found (after raising the soft limit to the hard one).
    std::size_t openFileLimit() const noexcept { return _openFileLimit; }

private:
    // Per bound listener, the context of the same-named listener of `next` (null: keep the
    // current one); logs the listener changes a reload cannot apply.
    std::vector<std::shared_ptr<TlsServerContext>> listenerContexts(const Snapshot& next) const;

    // Logs a configured http.max_connections the open-file limit cannot serve.
    void checkConnectionLimit(const Snapshot& snapshot) const;

    std::shared_ptr<const Snapshot> _snapshot;
    std::size_t _openFileLimit = 0;
    std::unique_ptr<ConnectionBudget> _budget;     // before _workers: they hold a reference
    std::atomic<std::size_t> _configuredLimit{0};  // http.max_connections of _snapshot
    // Changed only by start() and stop() (on the main thread); the mutex keeps other threads'
    // readers (workerCount, connectionsPerWorker) off it while stop() empties it.
    mutable std::mutex _workersMutex;
    std::vector<std::unique_ptr<Worker>> _workers;
    std::vector<BoundListener> _bound;
    std::vector<ListenerConfig> _boundConfig;  // as configured at start(), parallel to _bound
    bool _started = false;
};

}  // namespace sluice::runtime::transport
