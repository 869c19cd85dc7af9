#include "Sockets.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace sluice::transport_test {

namespace {

sockaddr_in loopback(int port)
{
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

}  // namespace

int listenLoopback(int& port, int backlog, int receiveBuffer)
{
    port = 0;
    return listenOn("127.0.0.1", port, backlog, receiveBuffer);
}

int listenOn(const std::string& ipv4, int& port, int backlog, int receiveBuffer)
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (receiveBuffer > 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
    }
    sockaddr_in address = loopback(port);
    if (::inet_pton(AF_INET, ipv4.c_str(), &address.sin_addr) != 1) {
        ::close(fd);
        throw std::runtime_error("not an IPv4 address: " + ipv4);
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, backlog) != 0) {
        int e = errno;
        ::close(fd);
        throw std::runtime_error(std::string("bind/listen: ") + std::strerror(e));
    }
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
    return fd;
}

int connectLoopback(int port, int& error) { return connectAddress("127.0.0.1", port, error); }

void setIoTimeouts(int fd, std::chrono::seconds timeout)
{
    timeval tv{static_cast<time_t>(timeout.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int connectAddress(const std::string& ipv4, int port, int& error, int receiveBuffer, int maxSegment)
{
    sockaddr_in address = loopback(port);
    if (::inet_pton(AF_INET, ipv4.c_str(), &address.sin_addr) != 1) {
        error = EINVAL;
        return -1;
    }
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = errno;
        return -1;
    }
    if (receiveBuffer > 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
    }
    if (maxSegment > 0) {
        ::setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &maxSegment, sizeof maxSegment);
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        error = errno;
        ::close(fd);
        return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    error = 0;
    return fd;
}

bool sendAll(int fd, std::string_view bytes)
{
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

void closeWithReset(int fd)
{
    const linger reset{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(fd);
}

ReadStatus readSome(int fd, std::string& into, Clock::time_point deadline, std::size_t maxBytes)
{
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left < 0) {
            return ReadStatus::Timeout;
        }
        pollfd p{fd, POLLIN, 0};
        int ready = ::poll(&p, 1, static_cast<int>(left));
        if (ready < 0) {
            if (errno == EINTR) {
                continue;
            }
            return ReadStatus::Error;
        }
        if (ready == 0) {
            return ReadStatus::Timeout;
        }
        // Received into a buffer kept per thread: growing `into` by maxBytes for each call would
        // clear (and under the sanitizer build allocate) a megabyte for each few kilobytes read.
        thread_local std::vector<char> buffer;
        buffer.resize(std::max(buffer.size(), maxBytes));
        ssize_t n = ::recv(fd, buffer.data(), maxBytes, 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return errno == ECONNRESET ? ReadStatus::Eof : ReadStatus::Error;
        }
        into.append(buffer.data(), static_cast<std::size_t>(n));
        return n == 0 ? ReadStatus::Eof : ReadStatus::Data;
    }
}

ReadStatus readToEnd(int fd, std::string& into, Clock::time_point deadline)
{
    ReadStatus status = ReadStatus::Data;
    while (status == ReadStatus::Data) {
        status = readSome(fd, into, deadline);
    }
    return status;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

std::string toLower(std::string_view text)
{
    std::string out(text);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

std::string_view trim(std::string_view text)
{
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

}  // namespace sluice::transport_test
