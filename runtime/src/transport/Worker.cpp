#include "sluice/runtime/transport/Worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "sluice/runtime/Logging.h"
#include "sluice/runtime/transport/HttpConnection.h"
#include "sluice/runtime/transport/Tls.h"

namespace sluice::runtime::transport {

// Accepts connections from one listening socket until it would block (edge-triggered).
class Worker::Acceptor final : public IoHandler {
public:
    Acceptor(Worker& worker, ListenSocket socket) : _worker(worker), _socket(std::move(socket)) {}
    ~Acceptor() override { close(); }

    void close()
    {
        if (_socket.fd >= 0) {
            _worker._loop.remove(_socket.fd);
            ::close(_socket.fd);
            _socket.fd = -1;
        }
    }
    int fd() const { return _socket.fd; }
    // New connections get `tls` from now on; those accepted before keep the context they got.
    void useTls(std::shared_ptr<TlsServerContext> tls) { _socket.tls = std::move(tls); }

    void onIo(std::uint32_t) override
    {
        while (_socket.fd >= 0 && !_worker._draining) {
            Address peer;
            peer.length = sizeof peer.storage;
            int fd = ::accept4(_socket.fd, peer.sockaddrPtr(), &peer.length,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) {
                    continue;
                }
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    Logging::get("transport")->warn("accept on {}: {}", _socket.name, std::strerror(errno));
                }
                return;
            }
            setNoDelay(fd);
            _worker.adopt(fd, peer, _socket.tls.get());
        }
    }

private:
    Worker& _worker;
    ListenSocket _socket;
};

Worker::Worker(unsigned index, std::shared_ptr<const Snapshot> snapshot)
    : _index(index), _pool(_loop), _snapshot(std::move(snapshot))
{
}

Worker::~Worker()
{
    _acceptors.clear();
    _connections.clear();
}

void Worker::addListener(ListenSocket socket)
{
    auto acceptor = std::make_unique<Acceptor>(*this, std::move(socket));
    _loop.add(acceptor->fd(), acceptor.get(), EPOLLIN | EPOLLET);
    _acceptors.push_back(std::move(acceptor));
}

void Worker::adopt(int fd, const Address& peer, const TlsServerContext* tls)
{
    std::unique_ptr<Stream> stream;
    if (tls != nullptr) {
        stream = tls->accept(fd);  // holds the context for as long as the connection lives
        if (stream == nullptr) {
            ::close(fd);
            return;
        }
    } else {
        stream = std::make_unique<Stream>(fd);
    }
    auto connection = std::make_unique<HttpConnection>(*this, std::move(stream), peer, tls != nullptr);
    HttpConnection* raw = connection.get();
    if (!_loop.add(fd, raw)) {
        return;
    }
    _connections.emplace(raw, std::move(connection));
    raw->start();
}

void Worker::start()
{
    _thread = std::thread([this] {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);
        _loop.run();
    });
}

void Worker::stop(int graceMs)
{
    _loop.post([this, graceMs] { beginDrain(graceMs); });
}

void Worker::join()
{
    if (_thread.joinable()) {
        _thread.join();
    }
}

std::future<void> Worker::setSnapshot(std::shared_ptr<const Snapshot> snapshot,
                                      std::vector<std::shared_ptr<TlsServerContext>> listenerTls)
{
    auto applied = std::make_shared<std::promise<void>>();
    std::future<void> done = applied->get_future();
    _loop.post([this, s = std::move(snapshot), tls = std::move(listenerTls), applied]() mutable {
        _snapshot = std::move(s);
        for (std::size_t i = 0; i < tls.size() && i < _acceptors.size(); ++i) {
            if (tls[i] != nullptr) {
                _acceptors[i]->useTls(std::move(tls[i]));
            }
        }
        applied->set_value();
    });
    return done;
}

void Worker::beginDrain(int graceMs)
{
    _draining = true;
    for (auto& a : _acceptors) {
        a->close();
    }
    std::vector<HttpConnection*> all;
    for (auto& [raw, owned] : _connections) {
        all.push_back(raw);
    }
    for (auto* c : all) {
        c->drain();
    }
    _drainDeadline = _loop.now() + std::chrono::milliseconds(graceMs);
    _loop.arm(this, _drainDeadline);
    maybeFinish();
}

Clock::time_point Worker::onTimer(Clock::time_point now)
{
    if (now >= _drainDeadline) {
        Logging::get("transport")->warn("worker {}: {} connection(s) still busy after the grace period; closing",
                                        _index, _connections.size());
        _loop.stop();
        return Clock::time_point::max();
    }
    return _drainDeadline;
}

void Worker::closed(HttpConnection* connection)
{
    _loop.defer([this, connection] {
        _connections.erase(connection);
        maybeFinish();
    });
}

void Worker::maybeFinish()
{
    if (_draining && _connections.empty()) {
        _loop.disarm(this);
        _loop.stop();
    }
}

}  // namespace sluice::runtime::transport
