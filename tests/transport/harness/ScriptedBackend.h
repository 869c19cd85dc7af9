#pragma once

// A scripted HTTP/1.1 backend living in the test process: a small threaded TCP server on
// 127.0.0.1:0 whose answers come from a per-test lambda. It parses requests minimally (head up to
// CRLF CRLF, then a Content-Length or chunked body), records every request exactly as it arrived,
// and counts accepted connections, so tests can assert what the gateway sent upstream and whether
// it reused its upstream connections.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace sluice::transport_test {

using Headers = std::vector<std::pair<std::string, std::string>>;

// FNV-1a over a byte stream, to compare large bodies without keeping them.
class BodyHash {
public:
    void add(std::string_view bytes) noexcept
    {
        for (unsigned char c : bytes) {
            _value = (_value ^ c) * 1099511628211ull;
        }
    }
    std::uint64_t value() const noexcept { return _value; }

private:
    std::uint64_t _value = 14695981039346656037ull;
};

struct ReceivedRequest {
    std::size_t connection = 0;                // 1-based number of the backend connection it arrived on
    std::size_t indexOnConnection = 0;         // 1-based position on that connection
    std::chrono::steady_clock::time_point at;  // when the whole request had arrived
    std::string raw;                           // head and body bytes exactly as received (body capped, see options)
    std::string head;                          // through the final CRLF CRLF
    std::string method;
    std::string target;
    std::string version;           // "HTTP/1.1"
    Headers headers;               // in wire order
    bool chunked = false;          // the body came with Transfer-Encoding: chunked
    std::string body;              // decoded body (capped, see options)
    std::uint64_t bodyLength = 0;  // decoded length, all of it
    std::uint64_t bodyHash = 0;    // BodyHash of the whole decoded body

    // The first field with this name (case-insensitive).
    std::optional<std::string> header(std::string_view name) const;
    std::size_t headerCount(std::string_view name) const;
};

// What the backend does with one request.
struct BackendReply {
    std::string bytes;                      // raw response bytes, written as they are
    std::chrono::milliseconds delay{0};     // wait this long before answering
    bool silentClose = false;               // close the connection without answering
    std::optional<std::size_t> truncateAt;  // write only this many bytes of `bytes`, then close
    bool close = false;                     // close after answering
    // After answering, wait this long, then close with a reset (RST).
    std::optional<std::chrono::milliseconds> resetAfter;
    // Further pieces, each written after its delay (a response that trickles in).
    std::vector<std::pair<std::chrono::milliseconds, std::string>> later;
    // Streaming producer, called after `bytes` and `later` until it returns false; it fills `chunk`.
    std::function<bool(std::string& chunk)> generate;
};

using BackendScript = std::function<BackendReply(const ReceivedRequest&)>;

struct BackendOptions {
    bool keepAlive = true;                       // false: close after every answer
    std::size_t storeBodyLimit = 1 << 20;        // body bytes kept in `raw` and `body` per request
    std::chrono::milliseconds bodyReadDelay{0};  // pause between the head and reading the body
    std::chrono::milliseconds idleTimeout{0};    // close a connection idle this long between requests
    std::size_t receiveBuffer = 0;               // SO_RCVBUF when non-zero (small: early backpressure)
    std::string address = "127.0.0.1";           // listen on this loopback address
    int port = 0;                                // and this port (0: any)
};

// "HTTP/1.1 <status> <reason>" with Content-Length and the given extra header lines.
std::string httpResponse(int status, std::string_view body, const Headers& headers = {},
                         std::string_view contentType = "text/plain");
// The same response with a chunked body made of `chunks`.
std::string chunkedResponse(int status, const std::vector<std::string>& chunks, const Headers& headers = {});

class ScriptedBackend {
public:
    explicit ScriptedBackend(BackendScript script, BackendOptions options = {});
    ~ScriptedBackend();
    ScriptedBackend(const ScriptedBackend&) = delete;
    ScriptedBackend& operator=(const ScriptedBackend&) = delete;

    int port() const noexcept { return _port; }
    std::string url(std::string_view path = "") const;
    std::string hostPort() const;  // "127.0.0.1:PORT", what the gateway must send as Host

    // Stops accepting and closes every connection (the port is refused afterwards).
    void stop();

    std::size_t connectionCount() const noexcept { return _connections.load(); }
    std::size_t requestCount() const;
    std::vector<ReceivedRequest> requests() const;
    ReceivedRequest request(std::size_t index) const;  // 0-based; throws when absent
    // Waits until at least `count` requests have arrived; false after `timeout`.
    bool waitForRequests(std::size_t count, std::chrono::milliseconds timeout) const;
    // Requests whose head arrived but whose body did not complete before the connection ended.
    std::size_t incompleteCount() const noexcept { return _incomplete.load(); }

private:
    void acceptLoop();
    void serve(int fd, std::size_t number);
    bool sleepUnlessStopped(std::chrono::milliseconds delay);
    void forget(int fd);

    BackendScript _script;
    BackendOptions _options;
    int _listenFd = -1;
    int _port = 0;
    std::atomic<bool> _stopping{false};
    std::atomic<std::size_t> _connections{0};
    std::atomic<std::size_t> _incomplete{0};
    std::thread _acceptor;
    mutable std::mutex _mutex;
    mutable std::condition_variable _changed;
    std::vector<ReceivedRequest> _requests;
    std::vector<int> _openFds;
    std::vector<std::thread> _workers;
};

// A local port on which nothing listens: a bound socket without listen(), so that connecting is
// refused and no other test can take the port while this object lives.
class ClosedPort {
public:
    ClosedPort();
    ~ClosedPort();
    ClosedPort(const ClosedPort&) = delete;
    ClosedPort& operator=(const ClosedPort&) = delete;

    int port() const noexcept { return _port; }
    std::string url(std::string_view path = "") const;

private:
    int _fd = -1;
    int _port = 0;
};

}  // namespace sluice::transport_test
