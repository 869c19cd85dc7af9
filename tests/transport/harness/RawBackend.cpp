#include "RawBackend.h"

#include <sys/socket.h>
#include <unistd.h>

#include "Sockets.h"

namespace sluice::transport_test {

RawBackend::RawBackend(Handler handler) : _handler(std::move(handler))
{
    _listener = listenLoopback(_port);
    _acceptor = std::thread([this] {
        std::vector<std::thread> connections;
        while (!_stop.load()) {
            const int fd = ::accept4(_listener, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
                break;
            }
            const int number = ++_accepted;
            connections.emplace_back([this, fd, number] {
                setIoTimeouts(fd, std::chrono::seconds(5));
                _handler(fd, number);
                ::close(fd);
            });
        }
        for (auto& c : connections) {
            c.join();
        }
    });
}

RawBackend::~RawBackend()
{
    _stop = true;
    ::shutdown(_listener, SHUT_RDWR);  // wakes accept4()
    _acceptor.join();
    ::close(_listener);
}

bool readHead(int fd, std::string& into, std::chrono::milliseconds timeout)
{
    const auto deadline = Clock::now() + timeout;
    while (into.find("\r\n\r\n") == std::string::npos) {
        if (readSome(fd, into, deadline) != ReadStatus::Data) {
            return false;
        }
    }
    return true;
}

}  // namespace sluice::transport_test
