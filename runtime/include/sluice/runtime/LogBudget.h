#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace sluice::runtime {

// Warning and error lines a plugin instance may write per second (all workers together).
inline constexpr std::uint32_t kPluginProblemLinesPerSecond = 100;

// At most `perWindow` lines in each window of time for one source of lines (a plugin instance's
// warnings and errors): a script that fails on every request must not be able to write a line per
// request, synchronously, on the worker that serves it. The lines past the budget are counted, so
// that the first line of a later window can say how many were dropped.
// THREADING: any thread (a plugin may log from its own). Under contention the count may be off by
// the few lines that race a window's start; it never goes negative.
class LogBudget {
public:
    enum class Verdict {
        Write,      // within the budget
        WriteLast,  // the last line the window allows: say that the rest will be dropped
        Drop,       // past the budget: counted
    };

    LogBudget(std::uint32_t perWindow, std::chrono::milliseconds window) noexcept
        : _perWindow(perWindow), _windowMs(window.count())
    {
    }

    // `droppedBefore` is set to the lines dropped since the last report when this line opens a
    // new window (else 0): they are reported once.
    Verdict take(std::int64_t nowMs, std::uint64_t& droppedBefore) noexcept
    {
        droppedBefore = 0;
        std::int64_t start = _windowStart.load(std::memory_order_relaxed);
        if (nowMs - start >= _windowMs &&
            _windowStart.compare_exchange_strong(start, nowMs, std::memory_order_relaxed)) {
            _used.store(0, std::memory_order_relaxed);
            droppedBefore = _dropped.exchange(0, std::memory_order_relaxed);
        }
        const std::uint32_t n = _used.fetch_add(1, std::memory_order_relaxed) + 1;
        if (n < _perWindow) {
            return Verdict::Write;
        }
        if (n == _perWindow) {
            return Verdict::WriteLast;
        }
        _dropped.fetch_add(1, std::memory_order_relaxed);
        return Verdict::Drop;
    }

    std::uint32_t perWindow() const noexcept { return _perWindow; }

private:
    const std::uint32_t _perWindow;
    const std::int64_t _windowMs;
    std::atomic<std::int64_t> _windowStart{INT64_MIN / 2};
    std::atomic<std::uint32_t> _used{0};
    std::atomic<std::uint64_t> _dropped{0};
};

}  // namespace sluice::runtime
