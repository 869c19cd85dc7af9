#include "sluice/runtime/transport/HttpServer.h"

#include <unistd.h>

#include <thread>

#include "sluice/runtime/Logging.h"
#include "sluice/runtime/transport/Tls.h"

namespace sluice::runtime::transport {

HttpServer::HttpServer(std::shared_ptr<const Snapshot> snapshot) : _snapshot(std::move(snapshot)) {}

HttpServer::~HttpServer()
{
    stop(0);
}

bool HttpServer::start(std::string& error)
{
    unsigned count = _snapshot->config.workers;
    if (count == 0) {
        count = std::max(1u, std::thread::hardware_concurrency());
    }
    for (unsigned i = 0; i < count; ++i) {
        _workers.push_back(std::make_unique<Worker>(i, _snapshot));
    }
    for (const auto& listener : _snapshot->config.listeners) {
        auto addresses = resolve(listener.host, listener.port, error);
        if (addresses.empty()) {
            error = "listener '" + listener.name + "': " + error;
            return false;
        }
        Address address = addresses.front();
        bool tls = !listener.tls.isEmpty();
        std::shared_ptr<TlsServerContext> tlsContext;
        if (tls) {
            try {
                tlsContext = TlsServerContext::create(listener.tls, _snapshot->config.directory);
            } catch (const std::exception& e) {
                error = "listener '" + listener.name + "': TLS: " + e.what();
                return false;
            }
        }
        int port = listener.port;
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
            }
            worker->addListener(ListenSocket{fd, listener.name, tlsContext});
        }
    }
    for (auto& worker : _workers) {
        worker->start();
    }
    _started = true;
    return true;
}

void HttpServer::setSnapshot(std::shared_ptr<const Snapshot> snapshot)
{
    _snapshot = snapshot;
    for (auto& worker : _workers) {
        worker->setSnapshot(snapshot);
    }
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
    for (auto& worker : _workers) {
        worker->join();
    }
    _workers.clear();
}

}  // namespace sluice::runtime::transport
