#include "sluice/runtime/transport/Net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace sluice::runtime::transport {

std::string Address::ip() const
{
    char buf[INET6_ADDRSTRLEN] = {};
    if (family() == AF_INET) {
        ::inet_ntop(AF_INET, &storage.v4.sin_addr, buf, sizeof buf);
    } else if (family() == AF_INET6) {
        ::inet_ntop(AF_INET6, &storage.v6.sin6_addr, buf, sizeof buf);
    }
    return buf;
}

std::string Address::str() const
{
    if (family() == AF_INET) {
        return ip() + ":" + std::to_string(ntohs(storage.v4.sin_port));
    }
    if (family() == AF_INET6) {
        return "[" + ip() + "]:" + std::to_string(ntohs(storage.v6.sin6_port));
    }
    return "?";
}

bool parseHttpUrl(const std::string& url, HttpUrl& out, std::string& error)
{
    std::size_t schemeEnd = url.find("://");
    if (schemeEnd == std::string::npos) {
        error = "not an absolute URL";
        return false;
    }
    std::string scheme = url.substr(0, schemeEnd);
    for (char& c : scheme) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (scheme != "http" && scheme != "https") {
        error = "unsupported scheme '" + scheme + "'";
        return false;
    }
    out.tls = scheme == "https";
    std::size_t authStart = schemeEnd + 3;
    std::size_t authEnd = url.find_first_of("/?#", authStart);
    std::string authority =
        url.substr(authStart, authEnd == std::string::npos ? std::string::npos : authEnd - authStart);
    out.target = authEnd == std::string::npos ? "/" : url.substr(authEnd);
    if (out.target.find('#') != std::string::npos) {
        error = "a URL fragment is not allowed";
        return false;
    }
    if (out.target.front() == '?') {
        out.target.insert(out.target.begin(), '/');
    }
    for (unsigned char c : out.target) {
        if (c <= 0x20 || c >= 0x7f) {
            error = "the URL path contains a space, control or non-ASCII character";
            return false;
        }
    }
    if (authority.find('@') != std::string::npos) {
        error = "user information in a URL is not supported";
        return false;
    }
    out.port = out.tls ? 443 : 80;
    std::string host = authority;
    std::string portText;
    if (!authority.empty() && authority.front() == '[') {
        std::size_t close = authority.find(']');
        if (close == std::string::npos) {
            error = "unterminated IPv6 address";
            return false;
        }
        host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') {
                error = "bad authority";
                return false;
            }
            portText = authority.substr(close + 2);
        }
    } else if (std::size_t colon = authority.rfind(':'); colon != std::string::npos) {
        host = authority.substr(0, colon);
        portText = authority.substr(colon + 1);
    }
    if (!portText.empty()) {
        if (portText.size() > 5 || portText.find_first_not_of("0123456789") != std::string::npos) {
            error = "bad port '" + portText + "'";
            return false;
        }
        out.port = std::stoi(portText);
        if (out.port < 1 || out.port > 65535) {
            error = "port out of range";
            return false;
        }
    }
    if (host.empty() || host.find_first_of(" \t/\\") != std::string::npos) {
        error = "missing or invalid host";
        return false;
    }
    out.host = host;
    bool defaultPort = out.port == (out.tls ? 443 : 80);
    std::string bracketed = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    out.hostHeader = defaultPort ? bracketed : bracketed + ":" + std::to_string(out.port);
    return true;
}

bool Cidr::parse(const std::string& text, Cidr& out)
{
    std::string addr = text;
    int prefix = -1;
    if (std::size_t slash = text.find('/'); slash != std::string::npos) {
        addr = text.substr(0, slash);
        std::string p = text.substr(slash + 1);
        if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos) {
            return false;
        }
        prefix = std::stoi(p);
    }
    if (::inet_pton(AF_INET, addr.c_str(), out.bytes) == 1) {
        out.family = AF_INET;
        out.prefix = prefix < 0 ? 32 : prefix;
        return out.prefix <= 32;
    }
    if (::inet_pton(AF_INET6, addr.c_str(), out.bytes) == 1) {
        out.family = AF_INET6;
        out.prefix = prefix < 0 ? 128 : prefix;
        return out.prefix <= 128;
    }
    return false;
}

namespace {

// `bytes` of a family's address with the bits beyond `prefix` cleared.
void maskTo(const unsigned char* bytes, int family, int prefix, unsigned char* masked)
{
    const int length = family == AF_INET ? 4 : 16;
    for (int i = 0; i < length; ++i) {
        const int bits = std::min(8, std::max(0, prefix - i * 8));
        masked[i] = static_cast<unsigned char>(bytes[i] & (bits == 0 ? 0 : 0xFF << (8 - bits)));
    }
}

}  // namespace

bool Cidr::exact() const noexcept
{
    unsigned char masked[16] = {};
    maskTo(bytes, family, prefix, masked);
    return std::memcmp(masked, bytes, family == AF_INET ? 4 : 16) == 0;
}

std::string Cidr::network() const
{
    unsigned char masked[16] = {};
    maskTo(bytes, family, prefix, masked);
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(family, masked, text, sizeof text);
    return std::string(text) + "/" + std::to_string(prefix);
}

bool Cidr::contains(const Address& address) const noexcept
{
    const unsigned char* addr = nullptr;
    unsigned char mapped[4];
    if (address.family() == AF_INET && family == AF_INET) {
        addr = reinterpret_cast<const unsigned char*>(&address.storage.v4.sin_addr);
    } else if (address.family() == AF_INET6) {
        const auto* a6 = &address.storage.v6.sin6_addr;
        if (family == AF_INET6) {
            addr = reinterpret_cast<const unsigned char*>(a6);
        } else if (IN6_IS_ADDR_V4MAPPED(a6)) {
            std::memcpy(mapped, reinterpret_cast<const unsigned char*>(a6) + 12, 4);
            addr = mapped;
        }
    }
    if (addr == nullptr) {
        return false;
    }
    int full = prefix / 8;
    if (std::memcmp(addr, bytes, static_cast<std::size_t>(full)) != 0) {
        return false;
    }
    int rest = prefix % 8;
    if (rest == 0) {
        return true;
    }
    auto mask = static_cast<unsigned char>(0xff << (8 - rest));
    return (addr[full] & mask) == (bytes[full] & mask);
}

namespace {

// "[::1]" -> "::1": what getaddrinfo takes.
std::string withoutBrackets(const std::string& host)
{
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        return host.substr(1, host.size() - 2);
    }
    return host;
}

}  // namespace

bool Address::operator==(const Address& other) const noexcept
{
    if (family() != other.family()) {
        return false;
    }
    if (family() == AF_INET) {
        return storage.v4.sin_port == other.storage.v4.sin_port &&
               storage.v4.sin_addr.s_addr == other.storage.v4.sin_addr.s_addr;
    }
    if (family() == AF_INET6) {
        return storage.v6.sin6_port == other.storage.v6.sin6_port &&
               storage.v6.sin6_scope_id == other.storage.v6.sin6_scope_id &&
               std::memcmp(&storage.v6.sin6_addr, &other.storage.v6.sin6_addr, sizeof(in6_addr)) == 0;
    }
    return length == other.length && std::memcmp(&storage, &other.storage, length) == 0;
}

bool isIpLiteral(const std::string& host)
{
    const std::string h = withoutBrackets(host);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    addrinfo* result = nullptr;
    if (::getaddrinfo(h.c_str(), nullptr, &hints, &result) != 0) {
        return false;
    }
    ::freeaddrinfo(result);
    return true;
}

std::vector<Address> resolve(const std::string& host, int port, std::string& error)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* result = nullptr;
    const std::string h = withoutBrackets(host);
    int rc = ::getaddrinfo(h.c_str(), std::to_string(port).c_str(), &hints, &result);
    std::vector<Address> out;
    if (rc != 0) {
        error = std::string("cannot resolve ") + host + ": " + ::gai_strerror(rc);
        return out;
    }
    for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(Address::Storage)) {
            continue;
        }
        Address a;
        std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
        a.length = static_cast<socklen_t>(ai->ai_addrlen);
        out.push_back(a);
    }
    ::freeaddrinfo(result);
    return out;
}

int listenTcp(const Address& address, bool reusePort, int backlog, std::string& error)
{
    int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::string("socket: ") + std::strerror(errno);
        return -1;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reusePort) {
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    }
    if (::bind(fd, address.sockaddrPtr(), address.length) != 0) {
        error = "bind " + address.str() + ": " + std::strerror(errno);
        ::close(fd);
        return -1;
    }
    if (::listen(fd, backlog) != 0) {
        error = "listen " + address.str() + ": " + std::strerror(errno);
        ::close(fd);
        return -1;
    }
    return fd;
}

int localPort(int fd)
{
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
        return -1;
    }
    if (ss.ss_family == AF_INET) {
        return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    }
    return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

bool isLocalResourceError(int err) noexcept
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM || err == EADDRNOTAVAIL;
}

int connectTcp(const Address& address, ConnectError& error)
{
    int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        const int err = errno;
        error.text = std::string("socket: ") + std::strerror(err);
        error.local = isLocalResourceError(err);
        error.code = err;
        return -1;
    }
    setNoDelay(fd);
    if (::connect(fd, address.sockaddrPtr(), address.length) != 0 && errno != EINPROGRESS) {
        const int err = errno;
        error.text = "connect " + address.str() + ": " + std::strerror(err);
        error.local = isLocalResourceError(err);
        error.code = err;
        ::close(fd);
        return -1;
    }
    return fd;
}

std::size_t raiseOpenFileLimit() noexcept
{
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return 1024;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            limit = raised;
        }
    }
    return limit.rlim_cur == RLIM_INFINITY ? std::size_t{1} << 20 : static_cast<std::size_t>(limit.rlim_cur);
}

int socketError(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        return errno;
    }
    return err;
}

void setNoDelay(int fd)
{
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

Stream::~Stream()
{
    if (_fd >= 0) {
        ::close(_fd);
    }
}

void Stream::closeSocket()
{
    if (_fd >= 0) {
        ::close(_fd);
        _fd = -1;
    }
}

bool Stream::inputPending()
{
    char probe;
    ssize_t n;
    do {
        n = ::recv(_fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

Stream::PeerState Stream::peerState()
{
    char probe;
    ssize_t n;
    do {
        n = ::recv(_fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
        return PeerState::Ended;
    }
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK ? PeerState::Reset : PeerState::Open;
}

IoResult Stream::read(char* buffer, std::size_t length)
{
    for (;;) {
        // recv, not read: a socket read through the VFS layer costs more kernel time.
        ssize_t n = ::recv(_fd, buffer, length, 0);
        if (n > 0) {
            return {IoStatus::Ok, static_cast<std::size_t>(n), 0};
        }
        if (n == 0) {
            return {IoStatus::Eof, 0, 0};
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return {IoStatus::WouldBlock, 0, 0};
        }
        return {IoStatus::Error, 0, errno};
    }
}

IoResult Stream::writev(const iovec* parts, int count)
{
    for (;;) {
        ssize_t n;
        if (count == 1) {
            // One buffer (most answers): send skips sendmsg's header and vector copies.
            n = ::send(_fd, parts[0].iov_base, parts[0].iov_len, MSG_NOSIGNAL);
        } else {
            msghdr msg{};
            msg.msg_iov = const_cast<iovec*>(parts);
            msg.msg_iovlen = static_cast<std::size_t>(count);
            n = ::sendmsg(_fd, &msg, MSG_NOSIGNAL);
        }
        if (n >= 0) {
            return {IoStatus::Ok, static_cast<std::size_t>(n), 0};
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return {IoStatus::WouldBlock, 0, 0};
        }
        return {IoStatus::Error, 0, errno};
    }
}

}  // namespace sluice::runtime::transport
