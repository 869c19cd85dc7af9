#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <unordered_map>
#include <vector>

namespace sluice::runtime::transport {

using Clock = std::chrono::steady_clock;

// Something registered with the loop for readiness events on a file descriptor.
class IoHandler {
public:
    virtual ~IoHandler() = default;
    // `events` is the epoll mask (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP).
    virtual void onIo(std::uint32_t events) = 0;
};

// Something with a deadline. Deadlines are lazy: the owner moves its deadline by writing a field
// (no heap operation per request); when a queued entry comes due the loop asks the target, which
// either handles the expiry or returns its new deadline to be re-queued.
class TimerTarget {
public:
    virtual ~TimerTarget() = default;
    // Called when a queued deadline passed. Return the next deadline to re-arm, or
    // Clock::time_point::max() for none.
    virtual Clock::time_point onTimer(Clock::time_point now) = 0;
};

class EventLoop;

// A way for other threads to post to a loop that they may outlive (a name lookup still running
// when the worker has stopped): posting after the loop is gone does nothing.
class PostBox {
public:
    void post(std::function<void()> task);

private:
    friend class EventLoop;
    std::mutex _mutex;
    EventLoop* _loop = nullptr;
};

// One worker's event loop: epoll (edge-triggered) over non-blocking sockets, lazy timers, and
// a task queue other threads can post to.
class EventLoop {
public:
    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // Registers `fd` edge-triggered for in/out/rdhup. The handler must outlive the registration.
    bool add(int fd, IoHandler* handler, std::uint32_t events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    bool modify(int fd, IoHandler* handler, std::uint32_t events);
    void remove(int fd);

    // Queues a deadline check for `target`, replacing any earlier one (use it when a deadline
    // moves earlier; a later deadline needs no call: onTimer returns it). A target must disarm()
    // before it is destroyed.
    void arm(TimerTarget* target, Clock::time_point deadline);
    void disarm(TimerTarget* target);

    // Runs `task` on the loop's thread (thread-safe).
    void post(std::function<void()> task);
    std::shared_ptr<PostBox> postBox() const { return _postBox; }
    // Runs `task` at the end of the current iteration (loop thread only): safe deletion of
    // objects whose events may still be in the current epoll batch.
    void defer(std::function<void()> task);

    // Calls handler->onIo(EPOLLIN) once in the next iteration, after the events epoll reports
    // then (loop thread only): a handler that stopped with input left, to let others run first,
    // resumes there. forget() cancels it; a handler must forget() before it is destroyed.
    void resumeNext(IoHandler* handler);
    void forget(IoHandler* handler);

    // Runs until stop(); may be run again afterwards. Thread: the loop's own.
    void run();
    void stop();  // thread-safe

    Clock::time_point now() const noexcept { return _now; }
    // Counts the loop's iterations (one per epoll_wait).
    std::uint64_t iteration() const noexcept { return _iteration; }

private:
    struct TimerEntry {
        Clock::time_point deadline;
        TimerTarget* target;
        std::uint64_t token;
        bool operator>(const TimerEntry& o) const { return deadline > o.deadline; }
    };

    void runTimers();
    void runPosted();
    int waitTimeoutMs() const;

    int _epoll = -1;
    int _wake = -1;  // eventfd
    bool _stopping = false;
    Clock::time_point _now;
    std::uint64_t _iteration = 0;
    std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<TimerEntry>> _timers;
    std::unordered_map<TimerTarget*, std::uint64_t> _armed;  // live targets -> current token
    std::uint64_t _nextToken = 0;
    std::mutex _postedMutex;
    std::vector<std::function<void()>> _posted;
    std::vector<std::function<void()>> _deferred;
    std::vector<std::function<void()>> _runningDeferred;  // the batch of _deferred being run
    std::vector<IoHandler*> _resume;                      // for the next iteration
    std::vector<IoHandler*> _due;                         // queued in the previous iteration, resumed in this one
    std::shared_ptr<PostBox> _postBox;
};

}  // namespace sluice::runtime::transport
