#pragma once

// What every transport test file needs: the harness and a few shared helpers.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "RawBackend.h"
#include "RawClient.h"
#include "ScriptedBackend.h"
#include "SluicedProcess.h"

namespace sluice::transport_test {

using namespace std::chrono_literals;

// The sanitizer build (scripts/test-sanitized.sh) adds shadow memory and keeps freed blocks in a
// quarantine: resident sizes measured there say nothing of the gateway's own use.
#ifdef SLUICE_SANITIZED
constexpr bool kMemoryFiguresHold = false;
#else
constexpr bool kMemoryFiguresHold = true;
#endif

// A file in /tmp, removed at the end. write() rewrites it in place: the same inode, which is
// what a bind mount of it (GatewaySpec::hostsFile, resolvConf) shows.
class TempFile {
public:
    TempFile()
    {
        char name[] = "/tmp/sluice-test-XXXXXX";
        const int fd = ::mkstemp(name);
        REQUIRE(fd >= 0);
        ::close(fd);
        _path = name;
    }
    ~TempFile() { std::remove(_path.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    void write(const std::string& text) const
    {
        std::ofstream out(_path, std::ios::trunc);
        out << text;
    }
    const std::string& path() const noexcept { return _path; }

private:
    std::string _path;
};

// Runs a shell `command` (its stderr joined to stdout): the wait status and the output.
inline std::pair<int, std::string> runCommand(const std::string& command)
{
    std::string output;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) {
        return {-1, output};
    }
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) {
        output.append(buffer, n);
    }
    return {::pclose(pipe), output};
}

// The lines of a text file (an access log), empty when it cannot be read.
inline std::vector<std::string> linesOf(const std::string& path)
{
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

inline bool contains(const std::string& text, const std::string& needle)
{
    return text.find(needle) != std::string::npos;
}

// How often `needle` occurs in `text` (overlapping ones counted).
inline std::size_t occurrences(const std::string& text, const std::string& needle)
{
    std::size_t n = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
        ++n;
    }
    return n;
}

// Waits up to 5 s until the file has `count` lines (the workers write the access log in batches).
inline std::vector<std::string> waitForLines(const std::string& path, std::size_t count)
{
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    std::vector<std::string> lines = linesOf(path);
    while (lines.size() < count && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
        lines = linesOf(path);
    }
    return lines;
}

// A backend script answering 200 with the body "<name> <method> <target>" and "X-Backend: <name>".
inline BackendScript echo(std::string name = "backend")
{
    return [name](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, name + " " + r.method + " " + r.target, {{"X-Backend", name}});
        return reply;
    };
}

// A backend script answering 200 with the body "<method> <body length>".
inline BackendScript methodAndLength()
{
    return [](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, r.method + " " + std::to_string(r.bodyLength));
        return reply;
    };
}

// `size` bytes of letters in a pattern that does not repeat with any short period (so that a
// part sent twice, lost or moved changes the body's hash); `seed` varies it.
inline std::string pattern(std::size_t size, unsigned seed)
{
    std::string s(size, '\0');
    for (std::size_t i = 0; i < size; ++i) {
        s[i] = static_cast<char>('a' + (i * 7 + i / 4093 + seed) % 26);
    }
    return s;
}

// BodyHash of `bytes`, as ReceivedRequest::bodyHash.
inline std::uint64_t hashOf(std::string_view bytes)
{
    BodyHash h;
    h.add(bytes);
    return h.value();
}

// A backend script answering 200 with the body "got <length>:<hash>" of the request body it read.
inline BackendScript lengthAndHash()
{
    return [](const ReceivedRequest& r) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "got " + std::to_string(r.bodyLength) + ":" + std::to_string(r.bodyHash));
        return reply;
    };
}

// What lengthAndHash() answers for `body`.
inline std::string lengthAndHashOf(std::string_view body)
{
    return "got " + std::to_string(body.size()) + ":" + std::to_string(hashOf(body));
}

// Sends `body` as chunks of `chunk` bytes, `pause` apart, and the last chunk.
inline bool sendChunked(RawClient& client, std::string_view body, std::size_t chunk, std::chrono::milliseconds pause)
{
    for (std::size_t at = 0; at < body.size(); at += chunk) {
        const std::string_view piece = body.substr(at, chunk);
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        if (!client.send(std::string(size) + std::string(piece) + "\r\n")) {
            return false;
        }
        std::this_thread::sleep_for(pause);
    }
    return client.send("0\r\n\r\n");
}

// A backend that answers every request with 200 and `body`, after `delay`.
inline BackendScript delayedReply(std::chrono::milliseconds delay, std::string body)
{
    return [delay, body = std::move(body)](const ReceivedRequest&) {
        BackendReply reply;
        reply.delay = delay;
        reply.bytes = httpResponse(200, body);
        return reply;
    };
}

// A request written out as given: start line, field lines and body, no framing added, so that
// tests can send any framing they want to see refused or accepted.
inline std::string postRequest(const std::vector<std::string>& fields, const std::string& body = "",
                               const std::string& startLine = "POST /svc/v1/x HTTP/1.1")
{
    std::string text = startLine + "\r\n";
    for (const auto& f : fields) {
        text += f + "\r\n";
    }
    return text + "\r\n" + body;
}

// Whether this build (the tests' and sluiced's) uses glibc's allocator: a sanitizer's replaces it
// and keeps memory by its own rules (ASan's quarantine holds what is freed), so tests of how much
// memory sluiced keeps are skipped there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kGlibcAllocator = false;
#else
inline constexpr bool kGlibcAllocator = true;
#endif

// An API member that turns suspension off: backend answers a test makes the gateway refuse must
// not suspend the only endpoint for the requests that follow.
inline const std::string kNoSuspension = R"("suspension": {"initial_ms": 0})";

// An "http" block that streams every request body, however short (tests of what a backend sees
// while a body is on its way).
inline const std::string kStreamEveryBody = R"({"request_buffer_bytes": 0})";

// The gateway exits within `timeout`, with status `expected` (0: a clean stop).
inline void expectExit(SluicedProcess& gw, std::chrono::milliseconds timeout, int expected = 0)
{
    const auto code = gw.waitExit(timeout);
    REQUIRE_MESSAGE(code, "sluiced did not exit in time");
    CHECK(*code == expected);
}

// After the reload the reload tests make (/svc moved to the backend named "new", an API /added
// in front of its /added-base path): new connections are served by the new configuration.
inline void expectReloadedConfig(int port)
{
    RawClient fresh(port);
    auto now = fresh.exchange(getRequest("/svc/v1/fresh"));
    REQUIRE_MESSAGE(now, fresh.error());
    CHECK(now->header("X-Backend") == "new");
    auto added = fresh.exchange(getRequest("/added/v1/thing"));
    REQUIRE_MESSAGE(added, fresh.error());
    CHECK(added->status == 200);
    CHECK(added->body == "new GET /added-base/thing");
}

// A gateway with one API at `context` (version v1) in front of `endpoints` (a JSON array text).
// An API at `context` in front of `url` whose test_pause_timer handler holds the worker thread
// for `blockMs` on every request (needs GatewaySpec::testPlugins).
inline std::string workerBlockingApi(std::string_view context, const std::string& url, int blockMs)
{
    return apiJson(
        context, endpointList({url}),
        R"("handlers": [{"component": "test_pause_timer", "config": {"block_ms": )" + std::to_string(blockMs) + "}}]");
}

inline GatewaySpec oneApi(std::string_view context, std::string_view endpoints, std::string_view apiExtra = "",
                          std::string http = "")
{
    GatewaySpec spec;
    spec.http = std::move(http);
    spec.apis.emplace_back("api", apiJson(context, endpoints, apiExtra));
    return spec;
}

// Client threads of one test: started with run(), which turns an exception into a counted
// failure (an escaping exception would terminate the test process), and always stopped (`stop`)
// and joined, also when an assertion of the test thread fails first. Declare it after everything
// its threads use.
class ClientThreads {
public:
    explicit ClientThreads(std::function<void()> stop = {}) : _stop(std::move(stop)) {}
    ClientThreads(const ClientThreads&) = delete;
    ClientThreads& operator=(const ClientThreads&) = delete;
    ~ClientThreads()
    {
        if (_stop) {
            _stop();
        }
        join();
    }

    template <typename F>
    void run(F body)
    {
        _threads.emplace_back([this, body = std::move(body)]() mutable {
            try {
                body();
            } catch (const std::exception&) {
                ++_exceptions;
            }
        });
    }
    void join()
    {
        for (auto& t : _threads) {
            if (t.joinable()) {
                t.join();
            }
        }
    }
    int exceptions() const noexcept { return _exceptions.load(); }

private:
    std::function<void()> _stop;
    std::vector<std::thread> _threads;
    std::atomic<int> _exceptions{0};
};

inline long long millisSince(Clock::time_point start)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

}  // namespace sluice::transport_test
