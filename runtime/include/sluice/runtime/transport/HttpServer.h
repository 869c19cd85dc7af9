#pragma once

#include <memory>
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
// configured listener, so the kernel spreads connections and no lock is shared per request.
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
    void setSnapshot(std::shared_ptr<const Snapshot> snapshot);
    // Stops accepting, lets in-flight exchanges finish (up to graceMs), then joins the workers.
    void stop(int graceMs);

    const std::vector<BoundListener>& listeners() const noexcept { return _bound; }
    unsigned workerCount() const noexcept { return static_cast<unsigned>(_workers.size()); }

private:
    // Per bound listener, the context of the same-named listener of `next` (null: keep the
    // current one); logs the listener changes a reload cannot apply.
    std::vector<std::shared_ptr<TlsServerContext>> listenerContexts(const Snapshot& next) const;

    std::shared_ptr<const Snapshot> _snapshot;
    std::vector<std::unique_ptr<Worker>> _workers;
    std::vector<BoundListener> _bound;
    std::vector<ListenerConfig> _boundConfig;  // as configured at start(), parallel to _bound
    bool _started = false;
};

}  // namespace sluice::runtime::transport
