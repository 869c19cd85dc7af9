#pragma once

// A backend written with raw sockets, for what ScriptedBackend cannot do: answer before the
// request has arrived, send bytes out of turn, close at an exact point. Each accepted connection
// runs `handler(fd, number)` on a thread of its own (number: 1 for the first connection); the
// descriptor is closed when the handler returns. The destructor stops accepting and joins.

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace sluice::transport_test {

class RawBackend {
public:
    using Handler = std::function<void(int fd, int number)>;

    explicit RawBackend(Handler handler);
    ~RawBackend();
    RawBackend(const RawBackend&) = delete;
    RawBackend& operator=(const RawBackend&) = delete;

    int port() const noexcept { return _port; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(_port); }
    int accepted() const noexcept { return _accepted.load(); }

private:
    Handler _handler;
    int _listener = -1;
    int _port = 0;
    std::atomic<int> _accepted{0};
    std::atomic<bool> _stop{false};
    std::thread _acceptor;
};

// Reads from `fd` until the end of a request head (CRLF CRLF) is in `into`, for up to `timeout`.
bool readHead(int fd, std::string& into, std::chrono::milliseconds timeout);

}  // namespace sluice::transport_test
