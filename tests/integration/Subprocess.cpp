#include "Subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace sluice::test {

namespace {

void closeFd(int& fd)
{
    if (fd >= 0) {
        ::close(fd);
        fd = -1;
    }
}

std::chrono::milliseconds remaining(Subprocess::Clock::time_point deadline)
{
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Subprocess::Clock::now());
    return left.count() > 0 ? left : std::chrono::milliseconds(0);
}

}  // namespace

Subprocess::Subprocess(const std::vector<std::string>& argv)
{
    if (argv.empty()) {
        throw std::invalid_argument("Subprocess: empty argv");
    }
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    }
    if (::pipe2(err, O_CLOEXEC) != 0) {
        ::close(out[0]);
        ::close(out[1]);
        throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    }
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);

    _pid = ::fork();
    if (_pid < 0) {
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (_pid == 0) {
        // Child: a clean signal state (the test runner may block or catch signals), then exec.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            ::dup2(devnull, STDIN_FILENO);
        }
        ::dup2(out[1], STDOUT_FILENO);
        ::dup2(err[1], STDERR_FILENO);
        ::execv(args[0], args.data());
        const char* msg = "exec failed: ";
        ssize_t ignored = ::write(STDERR_FILENO, msg, std::strlen(msg));
        ignored = ::write(STDERR_FILENO, args[0], std::strlen(args[0]));
        (void)ignored;
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    _outFd = out[0];
    _errFd = err[0];
}

Subprocess::~Subprocess()
{
    if (!_reaped && _pid > 0) {
        ::kill(_pid, SIGKILL);
        ::waitpid(_pid, &_status, 0);
    }
    closeFd(_outFd);
    closeFd(_errFd);
}

bool Subprocess::pump(std::chrono::milliseconds timeout)
{
    pollfd fds[2];
    nfds_t n = 0;
    if (_outFd >= 0) {
        fds[n++] = pollfd{_outFd, POLLIN, 0};
    }
    if (_errFd >= 0) {
        fds[n++] = pollfd{_errFd, POLLIN, 0};
    }
    if (n == 0) {
        return false;
    }
    int ready = ::poll(fds, n, static_cast<int>(timeout.count()));
    if (ready <= 0) {
        return true;  // timeout or EINTR: streams still open
    }
    for (nfds_t i = 0; i < n; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
            continue;
        }
        char buffer[4096];
        ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
        std::string& sink = fds[i].fd == _outFd ? _out : _err;
        if (got > 0) {
            sink.append(buffer, static_cast<std::size_t>(got));
        } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
            closeFd(fds[i].fd == _outFd ? _outFd : _errFd);
        }
    }
    return _outFd >= 0 || _errFd >= 0;
}

bool Subprocess::waitForOutput(std::string_view needle, std::chrono::milliseconds timeout, std::size_t from)
{
    const auto deadline = Clock::now() + timeout;
    auto seen = [&] {
        auto in = [&](const std::string& s) { return s.size() > from && s.find(needle, from) != std::string::npos; };
        return in(_err) || in(_out);
    };
    while (!seen()) {
        auto left = remaining(deadline);
        if (left.count() == 0 || !pump(left)) {
            return seen();
        }
    }
    return true;
}

void Subprocess::signal(int signal)
{
    if (!_reaped && _pid > 0) {
        ::kill(_pid, signal);
    }
}

bool Subprocess::tryReap()
{
    if (_reaped) {
        return true;
    }
    pid_t r = ::waitpid(_pid, &_status, WNOHANG);
    if (r == _pid) {
        _reaped = true;
    }
    return _reaped;
}

std::optional<int> Subprocess::wait(std::chrono::milliseconds timeout)
{
    const auto deadline = Clock::now() + timeout;
    // The child's exit closes its ends of the pipes: read until then.
    while (pump(remaining(deadline)) && remaining(deadline).count() > 0) {
    }
    // Reap: wait for the exit itself through a pidfd, bounded by the same deadline.
    if (!tryReap()) {
        int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, _pid, 0));
        if (pidfd >= 0) {
            pollfd exit{pidfd, POLLIN, 0};
            ::poll(&exit, 1, static_cast<int>(remaining(deadline).count()));
            ::close(pidfd);
            tryReap();
        } else {
            // No pidfd (old kernel): the streams are closed, so the exit is imminent.
            while (!tryReap() && remaining(deadline).count() > 0) {
                timespec pause{0, 2 * 1000 * 1000};
                ::nanosleep(&pause, nullptr);
            }
        }
    }
    if (!_reaped) {
        ::kill(_pid, SIGKILL);
        ::waitpid(_pid, &_status, 0);
        _reaped = true;
        return std::nullopt;
    }
    if (WIFEXITED(_status)) {
        return WEXITSTATUS(_status);
    }
    return std::nullopt;
}

RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout)
{
    Subprocess p(argv);
    auto code = p.wait(timeout);
    return {code, p.out(), p.err()};
}

}  // namespace sluice::test
