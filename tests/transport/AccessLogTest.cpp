// The access log (sluice.json "access_log"): one line per request, whether proxied, answered by
// the gateway, refused before it could be read, or left by the client (status 0); never the query string
// (it may carry credentials); written in batches; reopened by a reload, for logrotate.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "TestCertificates.h"
#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

// A FIFO in /tmp with a reader opened (and never read from until drain()), removed at the end.
class TempFifo {
public:
    TempFifo()
    {
        char dir[] = "/tmp/sluice-fifo-XXXXXX";
        REQUIRE(::mkdtemp(dir) != nullptr);
        _dir = dir;
        _path = _dir + "/access.pipe";
        REQUIRE(::mkfifo(_path.c_str(), 0600) == 0);
        _fd = ::open(_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        REQUIRE(_fd >= 0);
    }
    ~TempFifo()
    {
        ::close(_fd);
        std::filesystem::remove_all(_dir);
    }
    const std::string& path() const noexcept { return _path; }
    std::string drain()
    {
        std::string out;
        char buffer[65536];
        for (ssize_t n; (n = ::read(_fd, buffer, sizeof buffer)) > 0;) {
            out.append(buffer, static_cast<std::size_t>(n));
        }
        return out;
    }

private:
    std::string _dir;
    std::string _path;
    int _fd = -1;
};

// /svc in front of `backend`, its access log in access.log, written out every 50 ms.
GatewaySpec rotatingLogGateway(const ScriptedBackend& backend)
{
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.accessLog = R"({"path": "access.log", "flush_ms": 50})";
    return spec;
}

// One request logged ("/svc/v1/before"), then the file renamed to access.log.1, as logrotate
// does before it signals, and a reload. Returns the access log's path.
std::string logOneThenRotate(SluicedProcess& gw)
{
    const std::string file = gw.directory() + "/access.log";
    RawClient client(gw.port());
    REQUIRE(client.exchange(getRequest("/svc/v1/before")));
    REQUIRE(waitForLines(file, 1).size() == 1);
    std::filesystem::rename(file, file + ".1");
    REQUIRE(gw.reload());
    return file;
}

}  // namespace

TEST_CASE("access log: a line per request, proxied, answered by the gateway, refused or abandoned, without the query")
{
    ScriptedBackend backend([](const ReceivedRequest&) {
        BackendReply reply;
        reply.bytes = httpResponse(200, "hello");
        return reply;
    });
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.accessLog = R"({"path": "access.log", "flush_ms": 50})";
    SluicedProcess gw(spec);
    const std::string file = gw.directory() + "/access.log";

    RawClient client(gw.port());
    auto ok = client.exchange(getRequest("/svc/v1/a?apikey=SECRET-KEY"));
    REQUIRE_MESSAGE(ok, client.error());
    auto missing = client.exchange(getRequest("/nowhere"));
    REQUIRE_MESSAGE(missing, client.error());
    RawClient bad(gw.port());
    auto refused = bad.exchange("GET /x HTTP/1.1\r\nHost: a\r\nBad Field: x\r\n\r\n");
    REQUIRE_MESSAGE(refused, bad.error());
    CHECK(refused->status == 400);
    {
        RawClient leaving(gw.port());
        REQUIRE(leaving.send("POST /svc/v1/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789"));
        std::this_thread::sleep_for(100ms);
    }  // gone in the middle of its body: no answer

    const auto lines = waitForLines(file, 4);
    REQUIRE(lines.size() == 4);
    INFO(lines[0] << "\n" << lines[1] << "\n" << lines[2] << "\n" << lines[3]);
    const std::string upstream = backend.hostPort();
    CHECK(contains(lines[0], "127.0.0.1 - - ["));
    CHECK(contains(lines[0], "] \"GET /svc/v1/a HTTP/1.1\" 200 " + std::to_string(ok->raw.size()) + " "));
    CHECK(contains(lines[0], " \"Api_svc:v1\" " + upstream));
    CHECK(contains(lines[1], "\"GET /nowhere HTTP/1.1\" 404 "));
    CHECK(contains(lines[1], " \"-\" -"));
    CHECK(contains(lines[2], "\"-\" 400 "));  // no request line to show
    CHECK(contains(lines[3], "\"POST /svc/v1/upload HTTP/1.1\" 0 0 "));
    CHECK(contains(lines[3], " \"Api_svc:v1\" -"));  // the body never came: no backend was contacted
    for (const auto& line : lines) {
        CHECK_FALSE(contains(line, "SECRET"));
        CHECK_FALSE(contains(line, "apikey"));
    }
}

TEST_CASE("access log: JSON lines")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.accessLog = R"({"path": "access.json", "format": "json", "flush_ms": 50})";
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/a%22b?q=1"));
    REQUIRE_MESSAGE(r, client.error());
    const auto lines = waitForLines(gw.directory() + "/access.json", 1);
    REQUIRE(lines.size() == 1);
    const std::string& line = lines[0];
    CHECK(line.rfind("{\"time\":\"20", 0) == 0);
    CHECK(contains(line, R"("client":"127.0.0.1","method":"GET","path":"/svc/v1/a%22b",)"));
    CHECK(contains(line, R"("protocol":"HTTP/1.1","status":200,)"));
    CHECK(contains(line, R"("api":"Api_svc:v1","upstream":")" + backend.hostPort() + "\"}"));
    CHECK(contains(line, R"("duration_ms":)"));
}

TEST_CASE("access log: an answer cut off by body_timeout_ms shows the bytes that went, not its whole size")
{
    // 200 KiB: the backend's whole answer is queued in the gateway (under its read-ahead limit)
    // long before a client that does not read has taken it, so "queued" is not "sent".
    const std::string body(200 * 1024, 'c');
    ScriptedBackend backend(delayedReply(0ms, body));
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}), "", R"({"body_timeout_ms": 300})");
    spec.accessLog = R"({"path": "access.log", "flush_ms": 50})";
    SluicedProcess gw(spec);
    const std::string file = gw.directory() + "/access.log";

    RawClient reader(gw.port());
    auto whole = reader.exchange(getRequest("/svc/v1/whole"));
    REQUIRE_MESSAGE(whole, reader.error());
    REQUIRE(whole->body.size() == body.size());

    int error = 0;
    const int stalled = connectAddress("127.0.0.1", gw.port(), error, 4096, 1000);
    REQUIRE(stalled >= 0);
    REQUIRE(sendAll(stalled, getRequest("/svc/v1/stalled")));
    const auto lines = waitForLines(file, 2);  // the second once the gateway has given up
    std::string partial;
    readToEnd(stalled, partial, Clock::now() + 10s);
    ::close(stalled);
    REQUIRE(lines.size() == 2);
    INFO(lines[0] << "\n" << lines[1]);
    CHECK(contains(lines[0], "\"GET /svc/v1/whole HTTP/1.1\" 200 " + std::to_string(whole->raw.size()) + " "));
    const std::string prefix = "\"GET /svc/v1/stalled HTTP/1.1\" 200 ";
    const std::size_t at = lines[1].find(prefix);
    REQUIRE(at != std::string::npos);
    const std::uint64_t logged = std::stoull(lines[1].substr(at + prefix.size()));
    CHECK(partial.size() < whole->raw.size());
    CHECK(logged < whole->raw.size());
    CHECK(logged == partial.size());  // what the kernel took before the close still reached the client
}

TEST_CASE("access log: a reload opens the file again, so that it can be rotated")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(rotatingLogGateway(backend));
    const std::string file = logOneThenRotate(gw);
    RawClient fresh(gw.port());
    REQUIRE(fresh.exchange(getRequest("/svc/v1/after")));
    const auto now = waitForLines(file, 1);
    REQUIRE(now.size() == 1);
    CHECK(contains(now[0], "/svc/v1/after"));
    const auto rotated = linesOf(file + ".1");
    REQUIRE(rotated.size() == 1);
    CHECK(contains(rotated[0], "/svc/v1/before"));
}

TEST_CASE("access log: after a reload, the rotated file is let go of even if no request comes")
{
    // With logrotate's compress, a rotated file that some worker keeps open keeps its disk space.
    ScriptedBackend backend(echo());
    SluicedProcess gw(rotatingLogGateway(backend));
    const std::string file = logOneThenRotate(gw);

    const auto holdsRotated = [&] {
        const std::string fds = "/proc/" + std::to_string(gw.pid()) + "/fd";
        for (const auto& entry : std::filesystem::directory_iterator(fds)) {
            std::error_code error;
            const auto target = std::filesystem::read_symlink(entry.path(), error);
            if (!error && target.string().find("access.log.1") != std::string::npos) {
                return true;
            }
        }
        return false;
    };
    bool held = true;
    for (auto deadline = Clock::now() + 5s; held && Clock::now() < deadline;) {
        held = holdsRotated();
        if (held) {
            std::this_thread::sleep_for(50ms);
        }
    }
    CHECK_FALSE(held);
    CHECK(linesOf(file + ".1").size() == 1);
}

TEST_CASE("access log: a file that cannot be opened is a configuration error")
{
    GatewaySpec spec = oneApi("/svc", endpointList({"http://127.0.0.1:9"}));
    spec.accessLog = R"({"path": "no-such-directory/access.log"})";
    CHECK_THROWS_WITH_AS(SluicedProcess{spec}, doctest::Contains("cannot open the access log"), std::runtime_error);
}

TEST_CASE("access log: a pipe whose reader stalls drops lines instead of holding up the worker")
{
    ScriptedBackend backend(echo());
    TempFifo fifo;
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.accessLog = R"({"path": ")" + fifo.path() + R"(", "flush_ms": 20, "buffer_bytes": 0})";
    SluicedProcess gw(spec);
    // The reader never reads: the pipe (64 KiB) fills after a few hundred lines.
    RawClient client(gw.port());
    const auto started = Clock::now();
    for (int i = 0; i < 1500; ++i) {
        auto r = client.exchange(getRequest("/svc/v1/n" + std::to_string(i)), 5s);
        REQUIRE_MESSAGE(r, client.error());
        REQUIRE(r->status == 200);
    }
    CHECK(Clock::now() - started < 20s);
    CHECK(gw.waitForLog("its reader does not keep up", 0, 5s));
    // What did go through is whole lines.
    const std::string got = fifo.drain();
    REQUIRE_FALSE(got.empty());
    CHECK(got.back() == '\n');
    std::istringstream in(got);
    std::size_t lines = 0;
    for (std::string line; std::getline(in, line); ++lines) {
        CHECK(line.rfind("127.0.0.1 - - [", 0) == 0);
    }
    CHECK(lines < 1500);
}

TEST_CASE("access log: exchanges cut by the end of the shutdown grace period are logged")
{
    ScriptedBackend backend(delayedReply(3s, "late"));
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.accessLog = R"({"path": "access.log", "flush_ms": 5000})";
    spec.shutdownGraceMs = 300;
    SluicedProcess gw(spec);
    const std::string file = gw.directory() + "/access.log";
    RawClient client(gw.port());
    REQUIRE(client.send(getRequest("/svc/v1/slow")));
    REQUIRE(backend.waitForRequests(1, 5s));
    const auto stopped = Clock::now();
    CHECK(gw.stop() == 0);
    CHECK(Clock::now() - stopped < 2s);  // the grace period, not the backend's 3 s
    const auto lines = linesOf(file);
    REQUIRE(lines.size() == 1);
    CHECK(contains(lines[0], "\"GET /svc/v1/slow HTTP/1.1\" 0 0 "));
}

TEST_CASE("access log: plain HTTP sent to a TLS port is logged with its 400")
{
    TestCertificates certs;
    GatewaySpec spec = oneApi("/svc", endpointList({"http://127.0.0.1:9"}));
    spec.listenerTls = certs.listener();
    spec.accessLog = R"({"path": "access.log", "flush_ms": 50})";
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/x"), 5s);
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 400);
    const auto lines = waitForLines(gw.directory() + "/access.log", 1);
    REQUIRE(lines.size() == 1);
    CHECK(contains(lines[0], "\"-\" 400 " + std::to_string(r->raw.size()) + " "));
}

TEST_CASE("access log: OPTIONS * shows its target")
{
    GatewaySpec spec = oneApi("/svc", endpointList({"http://127.0.0.1:9"}));
    spec.accessLog = R"({"path": "access.log", "flush_ms": 50})";
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto r = client.exchange("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 5s);
    REQUIRE_MESSAGE(r, client.error());
    const auto lines = waitForLines(gw.directory() + "/access.log", 1);
    REQUIRE(lines.size() == 1);
    CHECK(contains(lines[0], "\"OPTIONS * HTTP/1.1\" " + std::to_string(r->status) + " "));
}
