#pragma once

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "sluice/runtime/Snapshot.h"
#include "sluice/runtime/transport/AccessLog.h"
#include "sluice/runtime/transport/ConnectionBudget.h"
#include "sluice/runtime/transport/EventLoop.h"
#include "sluice/runtime/transport/LogThrottle.h"
#include "sluice/runtime/transport/UpstreamConnection.h"

namespace sluice::runtime::transport {

class HttpConnection;

// A listening socket of one worker (each worker has its own, bound with SO_REUSEPORT).
class TlsServerContext;

struct ListenSocket {
    int fd = -1;
    std::string name;
    std::shared_ptr<TlsServerContext> tls;  // null: plain HTTP
};

// One worker thread: an event loop, its listeners, its client connections and its upstream
// pool. Everything here is touched only by the worker's thread, except the posted tasks.
class Worker final : public TimerTarget {
public:
    // `budget` counts the client connections of all workers; it outlives the worker.
    Worker(unsigned index, std::shared_ptr<const Snapshot> snapshot, ConnectionBudget& budget);
    ~Worker() override;

    void addListener(ListenSocket socket);
    // All workers of the server (this one included), asked to make room when this one has none:
    // set before start().
    void setPeers(std::vector<Worker*> peers) { _peers = std::move(peers); }
    void start();
    // Graceful: stop accepting, finish in-flight exchanges, then exit (thread-safe).
    void stop(int graceMs);
    void join();
    // Swaps the configuration snapshot used by new exchanges and, per listener in addListener()
    // order, the TLS context new connections get (a null entry, or none, keeps the current one).
    // Exchanges and connections already started keep theirs. Thread-safe; the future is ready
    // once the worker's thread has made the swap.
    std::future<void> setSnapshot(std::shared_ptr<const Snapshot> snapshot,
                                  std::vector<std::shared_ptr<TlsServerContext>> listenerTls = {});

    // Loop-thread API for connections.
    EventLoop& loop() noexcept { return _loop; }
    UpstreamPool& pool() noexcept { return _pool; }
    const std::shared_ptr<const Snapshot>& snapshot() const noexcept { return _snapshot; }
    bool draining() const noexcept { return _draining; }
    void closed(HttpConnection* connection);
    // Serves an accepted client socket whose place in the budget is taken. `counted`: its place
    // in load() is taken too (a connection handed over by a peer).
    void adopt(int fd, const Address& peer, const TlsServerContext* tls, bool counted = false);
    // Client connections this worker holds, with those handed to it and not yet taken
    // (thread-safe; what exact connection balance compares).
    std::size_t load() const noexcept { return _load.load(std::memory_order_relaxed); }
    Clock::time_point onTimer(Clock::time_point now) override;
    unsigned index() const noexcept { return _index; }
    AccessLogWriter& accessLog() noexcept { return _accessLog; }
    // A read buffer shared by the worker's connections for reads into an empty input buffer,
    // so that an idle connection holds no buffer memory of its own.
    char* scratch() noexcept { return _scratch.get(); }
    static constexpr std::size_t kScratchSize = 16 * 1024;

private:
    class Acceptor;
    void beginDrain(int graceMs);
    void maybeFinish();
    // No room for another client (`err` 0: http.max_connections is reached, else the accept
    // error, e.g. EMFILE): stop accepting, close some idle connections to make room, and try
    // again when a connection closes or after kAcceptRetry.
    void noRoom(int err);
    void resumeAccepting();
    // Closes some idle connections (at least `atLeast` when there are that many); how many.
    std::size_t reclaimIdle(std::size_t atLeast);
    // Where a connection this worker has just accepted should live: this worker, or under exact
    // connection balance a peer holding two or more fewer.
    Worker* balanceTarget() noexcept;
    // Moves an accepted connection (its place in the budget taken) to `target`'s thread.
    void handOff(Worker& target, int fd, const Address& peer, std::shared_ptr<TlsServerContext> tls);
    Clock::time_point nextDeadline() const noexcept;
    static constexpr std::chrono::milliseconds kAcceptRetry{100};
    // Without room, a connection whose request head began this long ago and is not whole yet
    // gives way to a new client (reclaimIdle).
    static constexpr std::chrono::milliseconds kStalledHead{2000};

    unsigned _index;
    EventLoop _loop;
    AccessLogWriter _accessLog{_loop};  // after _loop: flushed before the loop goes
    UpstreamPool _pool;
    std::shared_ptr<const Snapshot> _snapshot;
    std::vector<std::unique_ptr<Acceptor>> _acceptors;
    std::unordered_map<HttpConnection*, std::unique_ptr<HttpConnection>> _connections;
    bool _draining = false;
    std::unique_ptr<char[]> _scratch{new char[kScratchSize]};
    Clock::time_point _drainDeadline = Clock::time_point::max();
    ConnectionBudget& _budget;
    bool _acceptPaused = false;
    std::size_t _nextAcceptor = 0;  // where the next accepting turn starts
    std::vector<Worker*> _peers;
    std::atomic<std::size_t> _load{0};
    std::atomic<bool> _stopping{false};  // stop() was called: peers hand it no more connections
    Clock::time_point _acceptRetryAt = Clock::time_point::max();
    Clock::time_point _reclaimAfter = Clock::time_point::min();
    LogThrottle _noRoomLog{std::chrono::seconds(10)};
    std::thread _thread;
};

}  // namespace sluice::runtime::transport
