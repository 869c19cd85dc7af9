#include "sluice/runtime/transport/HttpServer.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>

#include "sluice/runtime/Logging.h"
#include "sluice/runtime/transport/Tls.h"

namespace sluice::runtime::transport {

namespace {

// The workers' listening sockets share the port through SO_REUSEPORT, which would also let a
// second sluiced (or anything else of the same user with SO_REUSEPORT) take a share of the
// connections unnoticed. A plain bind first finds a port that is taken.
bool portFree(const Address& address, std::string& error)
{
    int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return true;  // nothing to learn here; the listening sockets will report the error
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // Bound, never listening: no connection can reach it.
    const bool free = ::bind(fd, address.sockaddrPtr(), address.length) == 0;
    if (!free) {
        const int err = errno;
        error = "bind " + address.str() + ": " + std::strerror(err) +
                (err == EADDRINUSE ? " (another process listens there)" : "");
    }
    ::close(fd);
    return free;
}

}  // namespace

HttpServer::HttpServer(std::shared_ptr<const Snapshot> snapshot) : _snapshot(std::move(snapshot)) {}

HttpServer::~HttpServer() { stop(0); }

bool HttpServer::start(std::string& error)
{
    unsigned count = _snapshot->config.workers;
    if (count == 0) {
        count = std::max(1u, std::thread::hardware_concurrency());
    }
    _openFileLimit = raiseOpenFileLimit();
    _budget = std::make_unique<ConnectionBudget>(ConnectionBudget::automaticLimit(_openFileLimit));
    checkConnectionLimit(*_snapshot);
    _configuredLimit = _snapshot->config.http.maxConnections;
    for (unsigned i = 0; i < count; ++i) {
        auto worker = std::make_unique<Worker>(i, _snapshot, *_budget);
        std::lock_guard<std::mutex> lock(_workersMutex);
        _workers.push_back(std::move(worker));
    }
    const auto& listeners = _snapshot->config.listeners;
    for (std::size_t l = 0; l < listeners.size(); ++l) {
        const ListenerConfig& listener = listeners[l];
        auto addresses = resolve(listener.host, listener.port, error);
        if (addresses.empty()) {
            error = "listener '" + listener.name + "': " + error;
            return false;
        }
        Address address = addresses.front();
        bool tls = !listener.tls.isEmpty();
        std::shared_ptr<TlsServerContext> tlsContext;
        if (tls && l < _snapshot->listenerTls.size()) {
            tlsContext = _snapshot->listenerTls[l];
        }
        if (tls && tlsContext == nullptr) {
            error = "listener '" + listener.name + "': TLS: the configuration snapshot has no context for it";
            return false;
        }
        int port = listener.port;
        if (port != 0 && !portFree(address, error)) {
            error = "listener '" + listener.name + "': " + error;
            return false;
        }
        for (auto& worker : _workers) {
            if (port == 0 && worker != _workers.front()) {
                // The first bind chose the port; every other worker shares it.
                address = resolve(listener.host, _bound.back().port, error).front();
            }
            int fd = listenTcp(address, true, 4096, error);
            if (fd < 0) {
                error = "listener '" + listener.name + "': " + error;
                return false;
            }
            if (worker == _workers.front()) {
                _bound.push_back(BoundListener{listener.name, listener.host, localPort(fd), tls});
                _boundConfig.push_back(listener);
            }
            worker->addListener(ListenSocket{fd, listener.name, tlsContext});
        }
    }
    std::vector<Worker*> peers;
    for (auto& worker : _workers) {
        peers.push_back(worker.get());
    }
    for (auto& worker : _workers) {
        worker->setPeers(peers);
        worker->start();
    }
    _started = true;
    return true;
}

void HttpServer::checkConnectionLimit(const Snapshot& snapshot) const
{
    const std::size_t configured = snapshot.config.http.maxConnections;
    const std::size_t fits = ConnectionBudget::automaticLimit(_openFileLimit);
    if (configured > fits) {
        Logging::get("transport")
            ->warn(
                "http.max_connections is {}, but the open-file limit of {} leaves room for about {} clients with a "
                "backend connection each; raise the limit (LimitNOFILE= in the systemd unit, ulimit -n)",
                configured, _openFileLimit, fits);
    }
}

void HttpServer::setSnapshot(const std::shared_ptr<const Snapshot>& snapshot)
{
    if (_budget) {
        checkConnectionLimit(*snapshot);
    }
    _configuredLimit = snapshot->config.http.maxConnections;
    auto tls = listenerContexts(*snapshot);
    _snapshot = snapshot;
    std::vector<std::future<void>> applied;
    for (auto& worker : _workers) {
        applied.push_back(worker->setSnapshot(snapshot, tls));
    }
    if (!_started) {
        return;  // no worker loop runs: the posted swaps happen when (if) they start
    }
    // Waiting makes "reload complete" mean that new connections and exchanges get the new
    // configuration. A worker's loop never blocks for long; the bound is only a safety net.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (std::size_t i = 0; i < applied.size(); ++i) {
        if (applied[i].wait_until(deadline) != std::future_status::ready) {
            Logging::get("transport")->warn("worker {} has not switched to the new configuration yet", i);
        }
    }
}

std::vector<std::shared_ptr<TlsServerContext>> HttpServer::listenerContexts(const Snapshot& next) const
{
    auto log = Logging::get("transport");
    const auto& listeners = next.config.listeners;
    std::vector<std::shared_ptr<TlsServerContext>> contexts(_boundConfig.size());
    for (std::size_t b = 0; b < _boundConfig.size(); ++b) {
        const ListenerConfig& bound = _boundConfig[b];
        // By name; at the same position first, in case a name is used twice.
        auto it = b < listeners.size() && listeners[b].name == bound.name
                      ? listeners.begin() + static_cast<std::ptrdiff_t>(b)
                      : std::find_if(listeners.begin(), listeners.end(),
                                     [&](const ListenerConfig& l) { return l.name == bound.name; });
        if (it == listeners.end()) {
            log->warn(
                "listener '{}' was removed from the configuration; it keeps listening on {}:{} with its "
                "current settings until a restart",
                bound.name, bound.host, _bound[b].port);
            continue;
        }
        if (it->host != bound.host || it->port != bound.port) {
            log->warn(
                "listener '{}': the address changed from {}:{} to {}:{}; listeners are bound at start, so "
                "this takes effect at a restart",
                bound.name, bound.host, bound.port, it->host, it->port);
        }
        if (it->tls.isEmpty() != bound.tls.isEmpty()) {
            log->warn("listener '{}': TLS was turned {}; this takes effect at a restart", bound.name,
                      it->tls.isEmpty() ? "off" : "on");
            continue;
        }
        auto index = static_cast<std::size_t>(it - listeners.begin());
        if (index < next.listenerTls.size()) {
            contexts[b] = next.listenerTls[index];
        }
    }
    for (const auto& l : listeners) {
        bool bound = std::any_of(_boundConfig.begin(), _boundConfig.end(),
                                 [&](const ListenerConfig& b) { return b.name == l.name; });
        if (!bound) {
            log->warn("listener '{}' ({}:{}) is new; listeners are bound at start, so it opens at a restart", l.name,
                      l.host, l.port);
        }
    }
    return contexts;
}

void HttpServer::stop(int graceMs)
{
    if (!_started) {
        return;
    }
    _started = false;
    for (auto& worker : _workers) {
        worker->stop(graceMs);
    }
    Logging::get("transport")
        ->info(
            "stopping: {} worker(s) close idle connections and finish the exchanges in flight "
            "(up to {} ms)",
            _workers.size(), graceMs);
    for (auto& worker : _workers) {
        worker->join();
    }
    std::vector<std::unique_ptr<Worker>> stopped;
    {
        std::lock_guard<std::mutex> lock(_workersMutex);
        stopped.swap(_workers);
    }
    stopped.clear();  // closes the listening sockets and what is left of the connections
}

}  // namespace sluice::runtime::transport
