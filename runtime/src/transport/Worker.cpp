#include "sluice/runtime/transport/Worker.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "sluice/runtime/Logging.h"
#include "sluice/runtime/transport/HttpConnection.h"
#include "sluice/runtime/transport/Tls.h"

namespace sluice::runtime::transport {

// Accepts connections from one listening socket until it would block (edge-triggered), or until
// there is no room for another client: that one is parked (accepted, not yet served) until a
// place frees up, and the rest wait in the listen backlog.
class Worker::Acceptor final : public IoHandler {
public:
    Acceptor(Worker& worker, ListenSocket socket) : _worker(worker), _socket(std::move(socket)) {}
    ~Acceptor() override { close(); }

    void close()
    {
        if (_parked >= 0) {
            ::close(_parked);
            _parked = -1;
        }
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
        if (!_worker._acceptPaused) {
            acceptAll();
        }
    }

    void acceptAll()
    {
        while (_socket.fd >= 0 && !_worker._draining) {
            int fd = _parked;
            Address peer = _parkedPeer;
            _parked = -1;
            if (fd < 0) {
                peer.length = sizeof peer.storage;
                fd = ::accept4(_socket.fd, peer.sockaddrPtr(), &peer.length, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                    const int err = errno;
                    if (err == EINTR || err == ECONNABORTED) {
                        continue;
                    }
                    if (isLocalResourceError(err)) {
                        // accept fails so even with nothing to accept (the descriptor is taken
                        // first): pause only when a client really waits.
                        if (connectionPending()) {
                            _worker.noRoom(err);
                        }
                    } else if (err != EAGAIN && err != EWOULDBLOCK) {
                        Logging::get("transport")->warn("accept on {}: {}", _socket.name, std::strerror(err));
                    }
                    return;
                }
                setNoDelay(fd);
            }
            if (!_worker._budget.take(_worker._budget.limit(_worker._snapshot->config.http.maxConnections))) {
                _parked = fd;
                _parkedPeer = peer;
                _worker.noRoom(0);
                return;
            }
            Worker* target = _worker.balanceTarget();
            if (target == &_worker) {
                _worker.adopt(fd, peer, _socket.tls.get());
            } else {
                _worker.handOff(*target, fd, peer, _socket.tls);
            }
        }
    }

private:
    bool connectionPending() const
    {
        pollfd p{_socket.fd, POLLIN, 0};
        return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
    }

    Worker& _worker;
    ListenSocket _socket;
    int _parked = -1;  // accepted when there was no room for it
    Address _parkedPeer;
};

Worker::Worker(unsigned index, std::shared_ptr<const Snapshot> snapshot, ConnectionBudget& budget)
    : _index(index), _pool(_loop), _snapshot(std::move(snapshot)), _budget(budget)
{
}

Worker::~Worker()
{
    _acceptors.clear();
    for (std::size_t i = 0; i < _connections.size(); ++i) {
        _budget.give();
    }
    _connections.clear();
}

void Worker::addListener(ListenSocket socket)
{
    auto acceptor = std::make_unique<Acceptor>(*this, std::move(socket));
    _loop.add(acceptor->fd(), acceptor.get(), EPOLLIN | EPOLLET);
    _acceptors.push_back(std::move(acceptor));
}

void Worker::adopt(int fd, const Address& peer, const TlsServerContext* tls, bool counted)
{
    auto refuse = [this, counted] {
        _budget.give();
        if (counted) {
            _load.fetch_sub(1, std::memory_order_relaxed);
        }
    };
    std::unique_ptr<Stream> stream;
    if (tls != nullptr) {
        stream = tls->accept(fd);  // holds the context for as long as the connection lives
        if (stream == nullptr) {
            ::close(fd);
            refuse();
            return;
        }
    } else {
        stream = std::make_unique<Stream>(fd);
    }
    auto connection = std::make_unique<HttpConnection>(*this, std::move(stream), peer, tls != nullptr);
    HttpConnection* raw = connection.get();
    if (!_loop.add(fd, raw)) {
        refuse();
        return;  // the connection (and its socket) are released here
    }
    _connections.emplace(raw, std::move(connection));
    if (!counted) {
        _load.fetch_add(1, std::memory_order_relaxed);
    }
    raw->start();
}

Worker* Worker::balanceTarget() noexcept
{
    if (_peers.size() < 2 || _snapshot->config.http.connectionBalance != ConnectionBalance::Exact) {
        return this;
    }
    Worker* least = this;
    std::size_t leastLoad = load();
    for (Worker* peer : _peers) {
        const std::size_t l = peer->load();
        if (l < leastLoad && !peer->_stopping.load(std::memory_order_relaxed)) {
            least = peer;
            leastLoad = l;
        }
    }
    // A margin of two: a worker that holds just one more keeps the connection, so connections
    // arriving at random are moved only now and then, and a burst of them still ends up shared
    // out within two of each other.
    return load() >= leastLoad + 2 ? least : this;
}

namespace {

// An accepted client socket on its way to another worker. Whoever ends up with it (the other
// worker's loop, or the destruction of a task that never ran, at exit) closes it and gives its
// place in the budget back unless it was taken.
struct HandedConnection {
    HandedConnection(int socket, const Address& from, std::shared_ptr<TlsServerContext> context,
                     ConnectionBudget& places)
        : fd(socket), peer(from), tls(std::move(context)), budget(places)
    {
    }
    HandedConnection(const HandedConnection&) = delete;
    HandedConnection& operator=(const HandedConnection&) = delete;
    ~HandedConnection()
    {
        if (fd >= 0) {
            ::close(fd);
            budget.give();
        }
    }
    int take() noexcept { return std::exchange(fd, -1); }

    int fd;
    Address peer;
    std::shared_ptr<TlsServerContext> tls;
    ConnectionBudget& budget;
};

}  // namespace

void Worker::handOff(Worker& target, int fd, const Address& peer, std::shared_ptr<TlsServerContext> tls)
{
    // Counted at once, so that the next connections accepted here (or by a third worker) see it.
    target._load.fetch_add(1, std::memory_order_relaxed);
    auto handed = std::make_shared<HandedConnection>(fd, peer, std::move(tls), _budget);
    target._loop.post([&target, handed] {
        if (target._draining) {
            // It began to stop in the moment the connection was chosen for it (peers that know it
            // is stopping choose another): the client is closed unserved, as those still in a
            // backlog are at shutdown.
            target._load.fetch_sub(1, std::memory_order_relaxed);
            return;
        }
        target.adopt(handed->take(), handed->peer, handed->tls.get(), true);
    });
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
    _stopping = true;
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
    _acceptPaused = false;
    _acceptRetryAt = Clock::time_point::max();
    _loop.arm(this, _drainDeadline);
    maybeFinish();
}

Clock::time_point Worker::nextDeadline() const noexcept { return std::min(_drainDeadline, _acceptRetryAt); }

Clock::time_point Worker::onTimer(Clock::time_point now)
{
    if (now >= _drainDeadline) {
        Logging::get("transport")
            ->warn("worker {}: {} connection(s) still busy after the grace period; closing", _index,
                   _connections.size());
        // Closed the way every connection is (their exchanges get their log phase and access
        // log line), then the worker's lines are written out.
        std::vector<HttpConnection*> busy;
        for (auto& entry : _connections) {
            busy.push_back(entry.first);
        }
        for (HttpConnection* c : busy) {
            c->close();
        }
        _accessLog.flush();
        _loop.stop();
        return Clock::time_point::max();
    }
    if (now >= _acceptRetryAt) {
        resumeAccepting();
    }
    return nextDeadline();
}

void Worker::noRoom(int err)
{
    _acceptPaused = true;
    // Idle connections make room (a walk over all of them). A walk that found some may be repeated
    // at once, so that a flood of idle connections is worked off as fast as it arrives; one that
    // found none waits kAcceptRetry (at the limit with busy connections only, every close would
    // otherwise walk them all), and asks the other workers to make room from theirs: the limit
    // and the descriptors are the process's.
    std::size_t reclaimed = 0;
    if (_loop.now() >= _reclaimAfter) {
        // Out of descriptors, a client needs two: its own and one to its backend.
        reclaimed = reclaimIdle(err == 0 ? 1 : 2);
        if (reclaimed == 0) {
            _reclaimAfter = _loop.now() + kAcceptRetry;
            for (Worker* peer : _peers) {
                if (peer != this) {
                    peer->_loop.post([peer, atLeast = std::size_t{err == 0 ? 1u : 2u}] {
                        if (!peer->_draining) {
                            peer->reclaimIdle(atLeast);
                        }
                    });
                }
            }
        }
    }
    _acceptRetryAt = _loop.now() + kAcceptRetry;
    _loop.arm(this, nextDeadline());
    std::size_t suppressed = 0;
    if (!_noRoomLog.due(_loop.now(), suppressed)) {
        return;
    }
    std::string what = err == 0
                           ? "the limit of " + std::to_string(_budget.limit(_snapshot->config.http.maxConnections)) +
                                 " client connections (http.max_connections) is reached"
                           : std::string("cannot accept: ") + std::strerror(err);
    std::string made = reclaimed == 0
                           ? std::string()
                           : "; closed " + std::to_string(reclaimed) + " idle or stalled connection(s) to make room";
    std::string count =
        suppressed == 0 ? std::string() : " (" + std::to_string(suppressed + 1) + " times since the last message)";
    Logging::get("transport")
        ->warn("worker {}: {}; new connections wait in the listen backlog{}{}", _index, what, made, count);
}

void Worker::resumeAccepting()
{
    _acceptPaused = false;
    _acceptRetryAt = Clock::time_point::max();
    // Each turn starts at the next listener, so that a backlog on one cannot keep the others
    // waiting for ever.
    const std::size_t count = _acceptors.size();
    const std::size_t first = count == 0 ? 0 : _nextAcceptor++ % count;
    for (std::size_t i = 0; i < count && !_acceptPaused; ++i) {
        _acceptors[(first + i) % count]->acceptAll();
    }
}

std::size_t Worker::reclaimIdle(std::size_t atLeast)
{
    // As nginx does with its reusable connections: those waiting for a request (the first, or
    // the next on a keep-alive connection, or a TLS client's first byte) give way to new
    // clients, those waiting longest first, up to 1/8 of them (at least `atLeast`, at most 32)
    // at a time. Connections accepted in this loop iteration have not had a chance to read their
    // request yet: they are left alone.
    std::vector<HttpConnection*> idle;
    std::vector<HttpConnection*> stalled;
    const Clock::time_point stalledSince = _loop.now() - kStalledHead;
    for (auto& entry : _connections) {
        if (entry.first->idle() && entry.first->waitingSince() < _loop.now()) {
            idle.push_back(entry.first);
        } else if (entry.first->stalledInHead(stalledSince)) {
            stalled.push_back(entry.first);
        }
    }
    std::size_t closed = 0;
    if (!idle.empty()) {
        const std::size_t n = std::min(idle.size(), std::clamp<std::size_t>(idle.size() / 8, atLeast, 32));
        std::sort(idle.begin(), idle.end(), [](const HttpConnection* a, const HttpConnection* b) {
            return a->waitingSince() < b->waitingSince();
        });
        // A request may have arrived whose event comes later in this batch of the loop (or after a
        // task posted by another worker): such a connection is not idle any more. One peek for
        // each connection about to be closed.
        for (std::size_t i = 0; i < idle.size() && closed < n; ++i) {
            if (!idle[i]->inputArrived()) {
                idle[i]->close();
                ++closed;
            }
        }
        if (closed > 0) {
            return closed;
        }
    }
    // Then those that began a head kStalledHead ago or more and have not completed it: clients
    // that hold their connections open mid-request (slowloris) would otherwise keep new ones out
    // until header_timeout_ms. The longest waiting first, as many as asked for.
    std::sort(stalled.begin(), stalled.end(),
              [](const HttpConnection* a, const HttpConnection* b) { return a->headStartedAt() < b->headStartedAt(); });
    for (std::size_t i = 0; i < stalled.size() && closed < atLeast; ++i) {
        stalled[i]->close();
        ++closed;
    }
    return closed;
}

void Worker::closed(HttpConnection* connection)
{
    _loop.defer([this, connection] {
        if (_connections.erase(connection) != 0) {
            _load.fetch_sub(1, std::memory_order_relaxed);
            _budget.give();
        }
        if (_acceptPaused) {
            resumeAccepting();
        }
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
