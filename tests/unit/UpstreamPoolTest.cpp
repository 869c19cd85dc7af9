// The per-worker upstream pool against a real backend socket on loopback: a connection whose
// response is complete goes back to the pool without its read buffer, and comes out of it for
// the next exchange.
#include "sluice/runtime/transport/UpstreamConnection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "support/Loopback.h"

using namespace sluice::runtime;
using namespace sluice::runtime::transport;

namespace {

// A backend that accepts one connection and answers each request head with a small response,
// until the client closes.
class OneConnectionBackend {
public:
    OneConnectionBackend()
    {
        _listener = sluice::test::bindLoopback(_port);
        REQUIRE(_listener >= 0);
        REQUIRE(::listen(_listener, 4) == 0);
        _thread = std::thread([this] { serve(); });
    }
    ~OneConnectionBackend()
    {
        ::shutdown(_listener, SHUT_RDWR);
        _thread.join();
        ::close(_listener);
    }
    int port() const { return _port; }
    int requests() const { return _requests.load(); }

private:
    void serve()
    {
        int fd = ::accept(_listener, nullptr, nullptr);
        if (fd < 0) {
            return;
        }
        std::string in;
        char buf[4096];
        for (;;) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) {
                break;
            }
            in.append(buf, static_cast<std::size_t>(n));
            std::size_t end;
            while ((end = in.find("\r\n\r\n")) != std::string::npos) {
                in.erase(0, end + 4);
                ++_requests;
                const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                (void)::send(fd, response.data(), response.size(), MSG_NOSIGNAL);
            }
        }
        ::close(fd);
    }

    int _listener = -1;
    int _port = 0;
    std::atomic<int> _requests{0};
    std::thread _thread;
};

// Collects one response and hands the connection back to the pool when it is complete.
class Exchange final : public UpstreamSink {
public:
    Exchange(EventLoop& loop, UpstreamConnection& conn) : _loop(loop), _conn(conn) {}
    void onUpstreamHead(const http::ResponseHead& head) override { status = head.status; }
    void onUpstreamData(std::string_view bytes) override { body.append(bytes); }
    void onUpstreamEnd() override
    {
        _conn.release();
        _loop.stop();
    }
    void onUpstreamFailure(UpstreamFailure, bool, std::string_view detail) override
    {
        failure = std::string(detail.empty() ? "failed" : detail);
        _loop.stop();
    }
    void onUpstreamDrained() override {}

    int status = 0;
    std::string body;
    std::string failure;

private:
    EventLoop& _loop;
    UpstreamConnection& _conn;
};

}  // namespace

TEST_CASE("upstream pool: an idle connection holds no read buffer and is reused for the next exchange")
{
    OneConnectionBackend backend;
    // A fresh thread: its block cache is empty, whatever other tests did on this one.
    std::thread([&backend] {
        REQUIRE(BlockCache::cachedBytes() == 0);
        std::string error;
        std::vector<Address> addresses = resolve("127.0.0.1", backend.port(), error);
        REQUIRE(addresses.size() == 1);
        EventLoop loop;
        UpstreamPool pool(loop);
        UpstreamConnection* first = nullptr;
        for (int round = 0; round < 2; ++round) {
            CAPTURE(round);
            ConnectError connectError;
            UpstreamConnection* conn = pool.acquire("backend", addresses[0], connectError);
            REQUIRE(conn != nullptr);
            if (round == 0) {
                first = conn;
            } else {
                CHECK(conn == first);  // the pooled connection, not a new one
                CHECK(conn->reused());
                CHECK(pool.idleCount() == 0);
            }
            Exchange exchange(loop, *conn);
            conn->attach(&exchange, "GET", 2000, 2000);
            conn->send("GET /x HTTP/1.1\r\nHost: backend\r\n\r\n");
            conn->requestComplete();
            loop.run();
            REQUIRE(exchange.failure.empty());
            CHECK(exchange.status == 200);
            CHECK(exchange.body == "ok");
            CHECK(pool.idleCount() == 1);
            // The 64 KiB block the response was read into is back in the worker's cache.
            CHECK(BlockCache::cachedBytes() >= 64 * 1024);
        }
        CHECK(backend.requests() == 2);
    }).join();
}
