#include "sluice/runtime/transport/EventLoop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>

namespace sluice::runtime::transport {

namespace {
constexpr int kMaxEvents = 256;
constexpr int kMaxWaitMs = 1000;
}  // namespace

void PostBox::post(std::function<void()> task)
{
    std::lock_guard<std::mutex> lock(_mutex);
    if (_loop != nullptr) {
        _loop->post(std::move(task));
    }
}

EventLoop::EventLoop() : _now(Clock::now()), _postBox(std::make_shared<PostBox>())
{
    _postBox->_loop = this;
    _epoll = ::epoll_create1(EPOLL_CLOEXEC);
    _wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (_epoll < 0 || _wake < 0) {
        throw std::runtime_error("cannot create event loop: " + std::to_string(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the wake-up fd
    ::epoll_ctl(_epoll, EPOLL_CTL_ADD, _wake, &ev);
}

EventLoop::~EventLoop()
{
    {
        std::lock_guard<std::mutex> lock(_postBox->_mutex);
        _postBox->_loop = nullptr;
    }
    ::close(_wake);
    ::close(_epoll);
}

bool EventLoop::add(int fd, IoHandler* handler, std::uint32_t events)
{
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = handler;
    return ::epoll_ctl(_epoll, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EventLoop::modify(int fd, IoHandler* handler, std::uint32_t events)
{
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = handler;
    return ::epoll_ctl(_epoll, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::remove(int fd) { ::epoll_ctl(_epoll, EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::arm(TimerTarget* target, Clock::time_point deadline)
{
    std::uint64_t token = ++_nextToken;
    _armed[target] = token;
    _timers.push(TimerEntry{deadline, target, token});
}

void EventLoop::disarm(TimerTarget* target) { _armed.erase(target); }

void EventLoop::post(std::function<void()> task)
{
    {
        std::lock_guard<std::mutex> lock(_postedMutex);
        _posted.push_back(std::move(task));
    }
    std::uint64_t one = 1;
    ssize_t n = ::write(_wake, &one, sizeof one);
    (void)n;  // a full eventfd counter still wakes the loop
}

void EventLoop::defer(std::function<void()> task) { _deferred.push_back(std::move(task)); }

void EventLoop::resumeNext(IoHandler* handler)
{
    if (std::find(_resume.begin(), _resume.end(), handler) == _resume.end()) {
        _resume.push_back(handler);
    }
}

void EventLoop::forget(IoHandler* handler)
{
    _resume.erase(std::remove(_resume.begin(), _resume.end(), handler), _resume.end());
    _due.erase(std::remove(_due.begin(), _due.end(), handler), _due.end());
}

void EventLoop::stop()
{
    post([this] { _stopping = true; });
}

int EventLoop::waitTimeoutMs() const
{
    if (!_deferred.empty() || !_resume.empty()) {
        return 0;
    }
    if (_timers.empty()) {
        return kMaxWaitMs;
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(_timers.top().deadline - _now).count() + 1;
    if (wait < 0) {
        return 0;
    }
    return wait > kMaxWaitMs ? kMaxWaitMs : static_cast<int>(wait);
}

void EventLoop::runTimers()
{
    while (!_timers.empty() && _timers.top().deadline <= _now) {
        TimerEntry e = _timers.top();
        _timers.pop();
        auto it = _armed.find(e.target);
        if (it == _armed.end() || it->second != e.token) {
            continue;  // disarmed or superseded
        }
        Clock::time_point next = e.target->onTimer(_now);
        // The target may have disarmed or re-armed itself inside onTimer.
        it = _armed.find(e.target);
        if (it == _armed.end() || it->second != e.token) {
            continue;
        }
        if (next == Clock::time_point::max()) {
            _armed.erase(it);
        } else {
            _timers.push(TimerEntry{next > _now ? next : _now, e.target, e.token});
        }
    }
}

void EventLoop::runPosted()
{
    std::vector<std::function<void()>> tasks;
    {
        std::lock_guard<std::mutex> lock(_postedMutex);
        tasks.swap(_posted);
    }
    for (auto& t : tasks) {
        t();
    }
}

void EventLoop::run()
{
    epoll_event events[kMaxEvents];
    while (!_stopping) {
        int n = ::epoll_wait(_epoll, events, kMaxEvents, waitTimeoutMs());
        _now = Clock::now();
        ++_iteration;
        _due.swap(_resume);  // what yielded before this epoll_wait; _resume was emptied last time
        for (int i = 0; i < n; ++i) {
            if (events[i].data.ptr == nullptr) {
                std::uint64_t count = 0;
                ssize_t r = ::read(_wake, &count, sizeof count);
                (void)r;
                runPosted();
                continue;
            }
            static_cast<IoHandler*>(events[i].data.ptr)->onIo(events[i].events);
        }
        // Handlers that yielded in the previous iteration, after this one's events: one at a
        // time from the front, as one may forget() another (those yielding again wait in
        // _resume for the next iteration).
        while (!_due.empty()) {
            IoHandler* handler = _due.front();
            _due.erase(_due.begin());
            handler->onIo(EPOLLIN);
        }
        runTimers();
        while (!_deferred.empty()) {
            // The two vectors trade places and keep their capacity: no allocation per iteration.
            _runningDeferred.swap(_deferred);
            for (auto& d : _runningDeferred) {
                d();
            }
            _runningDeferred.clear();
        }
    }
    runPosted();
    _stopping = false;  // a later run() goes on until the next stop()
}

}  // namespace sluice::runtime::transport
