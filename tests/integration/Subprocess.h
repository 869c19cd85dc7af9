#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::test {

// A child process with its stdout and stderr captured through pipes. Every wait is bounded by a
// timeout and driven by the child's output or exit (poll), never by a fixed sleep. A child still
// running when the object is destroyed is killed and reaped.
class Subprocess {
public:
    using Clock = std::chrono::steady_clock;

    explicit Subprocess(const std::vector<std::string>& argv);
    ~Subprocess();
    Subprocess(const Subprocess&) = delete;
    Subprocess& operator=(const Subprocess&) = delete;

    pid_t pid() const noexcept { return _pid; }

    // Reads output until stderr (or stdout) has contained `needle` at or after byte `from` of that
    // stream, the child closed both streams, or `timeout` passed. True when the needle was seen.
    bool waitForOutput(std::string_view needle, std::chrono::milliseconds timeout, std::size_t from = 0);

    // Sends `signal` to the child.
    void signal(int signal);

    // Waits for the child to exit, reading its output meanwhile. The exit code, or nullopt after
    // `timeout` (the child is then killed) or when a signal ended it.
    std::optional<int> wait(std::chrono::milliseconds timeout);

    const std::string& out() const noexcept { return _out; }
    const std::string& err() const noexcept { return _err; }
    bool exited() const noexcept { return _reaped; }

private:
    // Reads whatever is available within `timeout`; false when both streams are closed.
    bool pump(std::chrono::milliseconds timeout);
    bool tryReap();

    pid_t _pid = -1;
    int _outFd = -1;
    int _errFd = -1;
    std::string _out;
    std::string _err;
    bool _reaped = false;
    int _status = 0;
};

struct RunResult {
    std::optional<int> exitCode;  // nullopt: timed out or killed by a signal
    std::string out;
    std::string err;
};

// Runs argv to completion (bounded by `timeout`).
RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace sluice::test
