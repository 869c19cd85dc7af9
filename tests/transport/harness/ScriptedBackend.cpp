#include "ScriptedBackend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "Sockets.h"

namespace sluice::transport_test {

namespace {

constexpr std::size_t kNpos = std::string::npos;

const char* reasonFor(int status)
{
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Status";
    }
}

std::string statusLine(int status) { return "HTTP/1.1 " + std::to_string(status) + " " + reasonFor(status) + "\r\n"; }

void appendHeaders(std::string& out, const Headers& headers)
{
    for (const auto& [name, value] : headers) {
        out += name + ": " + value + "\r\n";
    }
}

// Reads one connection's bytes on demand; the body readers take from `buffer` first.
class Input {
public:
    Input(int fd, const std::atomic<bool>& stopping) : _fd(fd), _stopping(stopping) {}

    std::string buffer;

    // Reads more bytes into `buffer`; false on EOF, error, stop, or after `wait`.
    bool more(std::chrono::milliseconds wait = std::chrono::seconds(60))
    {
        if (_stopping.load()) {
            return false;
        }
        return readSome(_fd, buffer, Clock::now() + wait) == ReadStatus::Data;
    }
    bool ensure(std::size_t n)
    {
        while (buffer.size() < n) {
            if (!more()) {
                return false;
            }
        }
        return true;
    }
    // A line through CRLF, without it.
    bool line(std::string& out, std::string& raw)
    {
        std::size_t end;
        while ((end = buffer.find("\r\n")) == kNpos) {
            if (!more()) {
                return false;
            }
        }
        out = buffer.substr(0, end);
        raw += buffer.substr(0, end + 2);
        buffer.erase(0, end + 2);
        return true;
    }

private:
    int _fd;
    const std::atomic<bool>& _stopping;
};

bool parseHead(ReceivedRequest& r)
{
    std::size_t lineEnd = r.head.find("\r\n");
    std::string_view requestLine(r.head.data(), lineEnd);
    std::size_t sp1 = requestLine.find(' ');
    std::size_t sp2 = requestLine.rfind(' ');
    if (sp1 == kNpos || sp2 == sp1) {
        return false;
    }
    r.method = std::string(requestLine.substr(0, sp1));
    r.target = std::string(requestLine.substr(sp1 + 1, sp2 - sp1 - 1));
    r.version = std::string(requestLine.substr(sp2 + 1));
    std::size_t pos = lineEnd + 2;
    while (pos < r.head.size()) {
        std::size_t end = r.head.find("\r\n", pos);
        if (end == pos || end == kNpos) {
            break;
        }
        std::string_view field(r.head.data() + pos, end - pos);
        std::size_t colon = field.find(':');
        if (colon == kNpos) {
            return false;
        }
        r.headers.emplace_back(std::string(field.substr(0, colon)), std::string(trim(field.substr(colon + 1))));
        pos = end + 2;
    }
    return true;
}

}  // namespace

std::optional<std::string> ReceivedRequest::header(std::string_view name) const
{
    for (const auto& [n, v] : headers) {
        if (equalsIgnoreCase(n, name)) {
            return v;
        }
    }
    return std::nullopt;
}

std::size_t ReceivedRequest::headerCount(std::string_view name) const
{
    return static_cast<std::size_t>(
        std::count_if(headers.begin(), headers.end(), [&](const auto& h) { return equalsIgnoreCase(h.first, name); }));
}

std::string httpResponse(int status, std::string_view body, const Headers& headers, std::string_view contentType)
{
    std::string out = statusLine(status);
    if (!contentType.empty()) {
        out += "Content-Type: " + std::string(contentType) + "\r\n";
    }
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    appendHeaders(out, headers);
    out += "\r\n";
    out += body;
    return out;
}

std::string chunkedResponse(int status, const std::vector<std::string>& chunks, const Headers& headers)
{
    std::string out = statusLine(status);
    out += "Transfer-Encoding: chunked\r\n";
    appendHeaders(out, headers);
    out += "\r\n";
    for (const auto& c : chunks) {
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", c.size());
        out += size;
        out += c;
        out += "\r\n";
    }
    out += "0\r\n\r\n";
    return out;
}

ScriptedBackend::ScriptedBackend(BackendScript script, BackendOptions options)
    : _script(std::move(script)), _options(options)
{
    _port = _options.port;
    _listenFd = listenOn(_options.address, _port, 128, static_cast<int>(_options.receiveBuffer));
    _acceptor = std::thread([this] { acceptLoop(); });
}

ScriptedBackend::~ScriptedBackend() { stop(); }

std::string ScriptedBackend::url(std::string_view path) const { return "http://" + hostPort() + std::string(path); }

std::string ScriptedBackend::hostPort() const { return _options.address + ":" + std::to_string(_port); }

void ScriptedBackend::stop()
{
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (_stopping.exchange(true)) {
            return;
        }
        ::shutdown(_listenFd, SHUT_RDWR);
        for (int fd : _openFds) {
            ::shutdown(fd, SHUT_RDWR);
        }
    }
    _changed.notify_all();
    if (_acceptor.joinable()) {
        _acceptor.join();
    }
    ::close(_listenFd);
    std::vector<std::thread> workers;
    {
        std::lock_guard<std::mutex> lock(_mutex);
        workers.swap(_workers);
    }
    for (auto& t : workers) {
        t.join();
    }
}

void ScriptedBackend::acceptLoop()
{
    while (!_stopping.load()) {
        int fd = ::accept4(_listenFd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            return;
        }
        std::lock_guard<std::mutex> lock(_mutex);
        if (_stopping.load()) {
            ::close(fd);
            return;
        }
        std::size_t number = ++_connections;
        _openFds.push_back(fd);
        _workers.emplace_back([this, fd, number] { serve(fd, number); });
    }
}

bool ScriptedBackend::sleepUnlessStopped(std::chrono::milliseconds delay)
{
    std::unique_lock<std::mutex> lock(_mutex);
    return !_changed.wait_for(lock, delay, [this] { return _stopping.load(); });
}

void ScriptedBackend::forget(int fd)
{
    std::lock_guard<std::mutex> lock(_mutex);
    _openFds.erase(std::remove(_openFds.begin(), _openFds.end(), fd), _openFds.end());
    ::close(fd);  // under the lock: stop() never shuts down a recycled descriptor
}

void ScriptedBackend::serve(int fd, std::size_t number)
{
    Input in(fd, _stopping);
    const std::size_t cap = _options.storeBodyLimit;
    std::size_t index = 0;
    auto keep = [cap](std::string& into, std::string_view bytes, std::size_t already) {
        if (already < cap) {
            into.append(bytes.substr(0, cap - already));
        }
    };
    for (;;) {
        std::size_t headEnd;
        while ((headEnd = in.buffer.find("\r\n\r\n")) == kNpos) {
            bool idle = in.buffer.empty() && index > 0 && _options.idleTimeout.count() > 0;
            if (!in.more(idle ? _options.idleTimeout : std::chrono::milliseconds(60000))) {
                if (!in.buffer.empty()) {
                    ++_incomplete;  // a head that never completed
                }
                forget(fd);
                return;
            }
        }
        ReceivedRequest r;
        r.connection = number;
        r.indexOnConnection = ++index;
        r.head = in.buffer.substr(0, headEnd + 4);
        in.buffer.erase(0, headEnd + 4);
        r.raw = r.head;
        if (!parseHead(r)) {
            break;
        }
        auto te = r.header("Transfer-Encoding");
        r.chunked = te && toLower(*te).find("chunked") != kNpos;
        std::uint64_t length = 0;
        if (auto cl = r.header("Content-Length"); cl && !r.chunked) {
            length = std::stoull(*cl);
        }
        if ((r.chunked || length > 0) && _options.bodyReadDelay.count() > 0) {
            sleepUnlessStopped(_options.bodyReadDelay);
        }
        BodyHash hash;
        bool complete = true;
        if (r.chunked) {
            std::string size;
            for (;;) {
                if (!in.line(size, r.raw)) {
                    complete = false;
                    break;
                }
                std::uint64_t n = std::stoull(size.substr(0, size.find(';')), nullptr, 16);
                if (n == 0) {
                    std::string trailer;
                    while ((complete = in.line(trailer, r.raw)) && !trailer.empty()) {
                    }
                    break;
                }
                if (!in.ensure(n + 2)) {
                    complete = false;
                    break;
                }
                std::string_view data(in.buffer.data(), n);
                keep(r.body, data, r.body.size());
                keep(r.raw, in.buffer.substr(0, n + 2), r.raw.size() - r.head.size());
                hash.add(data);
                r.bodyLength += n;
                in.buffer.erase(0, n + 2);
            }
        } else {
            while (r.bodyLength < length) {
                if (in.buffer.empty() && !in.more()) {
                    complete = false;
                    break;
                }
                std::size_t n =
                    static_cast<std::size_t>(std::min<std::uint64_t>(length - r.bodyLength, in.buffer.size()));
                std::string_view data(in.buffer.data(), n);
                keep(r.body, data, r.body.size());
                keep(r.raw, data, r.raw.size() - r.head.size());
                hash.add(data);
                r.bodyLength += n;
                in.buffer.erase(0, n);
            }
        }
        if (!complete) {
            ++_incomplete;
            break;
        }
        r.bodyHash = hash.value();
        r.at = Clock::now();
        {
            std::lock_guard<std::mutex> lock(_mutex);
            _requests.push_back(r);
        }
        _changed.notify_all();

        BackendReply reply = _script(r);
        if (reply.delay.count() > 0 && !sleepUnlessStopped(reply.delay)) {
            break;
        }
        if (reply.silentClose) {
            break;
        }
        if (reply.truncateAt) {
            sendAll(fd, std::string_view(reply.bytes).substr(0, *reply.truncateAt));
            break;
        }
        bool ok = sendAll(fd, reply.bytes);
        for (const auto& [delay, bytes] : reply.later) {
            if (!ok || (delay.count() > 0 && !sleepUnlessStopped(delay))) {
                ok = false;
                break;
            }
            ok = sendAll(fd, bytes);
        }
        if (ok && reply.generate) {
            std::string chunk;
            while (ok && !_stopping.load()) {
                chunk.clear();
                bool moreToCome = reply.generate(chunk);
                ok = sendAll(fd, chunk);
                if (!moreToCome) {
                    break;
                }
            }
        }
        if (ok && reply.resetAfter) {
            sleepUnlessStopped(*reply.resetAfter);
            const linger abort{1, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
            forget(fd);  // the close sends the RST
            return;
        }
        if (!ok || reply.close || !_options.keepAlive || _stopping.load()) {
            break;
        }
    }
    ::shutdown(fd, SHUT_WR);
    forget(fd);
}

std::size_t ScriptedBackend::requestCount() const
{
    std::lock_guard<std::mutex> lock(_mutex);
    return _requests.size();
}

std::vector<ReceivedRequest> ScriptedBackend::requests() const
{
    std::lock_guard<std::mutex> lock(_mutex);
    return _requests;
}

ReceivedRequest ScriptedBackend::request(std::size_t index) const
{
    std::lock_guard<std::mutex> lock(_mutex);
    if (index >= _requests.size()) {
        throw std::out_of_range("the backend received " + std::to_string(_requests.size()) + " request(s), not " +
                                std::to_string(index + 1));
    }
    return _requests[index];
}

bool ScriptedBackend::waitForRequests(std::size_t count, std::chrono::milliseconds timeout) const
{
    std::unique_lock<std::mutex> lock(_mutex);
    return _changed.wait_for(lock, timeout, [&] { return _requests.size() >= count; });
}

ClosedPort::ClosedPort()
{
    _fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (_fd < 0 || ::bind(_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        throw std::runtime_error(std::string("ClosedPort: ") + std::strerror(errno));
    }
    socklen_t length = sizeof address;
    ::getsockname(_fd, reinterpret_cast<sockaddr*>(&address), &length);
    _port = ntohs(address.sin_port);
}

ClosedPort::~ClosedPort() { ::close(_fd); }

std::string ClosedPort::url(std::string_view path) const
{
    return "http://127.0.0.1:" + std::to_string(_port) + std::string(path);
}

}  // namespace sluice::transport_test
