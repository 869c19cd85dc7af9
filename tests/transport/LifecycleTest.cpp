// Process lifecycle under load: graceful shutdown with a request in flight (SIGTERM) and
// configuration reload with requests in flight (SIGHUP).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <thread>

#include "TestCertificates.h"
#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

// True once connecting to the port is refused (bounded by `timeout`).
bool refusedWithin(int port, std::chrono::milliseconds timeout)
{
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        int error = 0;
        int fd = connectLoopback(port, error);
        if (fd < 0) {
            return error == ECONNREFUSED;
        }
        // Accepted into a backlog that is about to be closed; try again shortly.
        ::close(fd);
        std::this_thread::sleep_for(5ms);
    }
    return false;
}

}  // namespace

TEST_CASE(
    "shutdown: SIGTERM lets the request in flight finish, starts none pipelined behind it, refuses new connections, "
    "exits 0")
{
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.delay = r.target == "/slow" ? 500ms : 0ms;
        reply.bytes = httpResponse(200, "done " + r.target);
        return reply;
    });
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.workers = 2;
    SluicedProcess gw(spec);

    RawClient idle(gw.port());
    auto warm = idle.exchange(getRequest("/svc/v1/warm"));
    REQUIRE_MESSAGE(warm, idle.error());

    RawClient busy(gw.port());
    // A request pipelined behind the one in flight is not started (the client is told to close).
    REQUIRE(busy.send(getRequest("/svc/v1/slow") + getRequest("/svc/v1/behind")));
    REQUIRE(backend.waitForRequests(2, 2s));
    auto start = Clock::now();
    gw.sendSignal(SIGTERM);

    CHECK(refusedWithin(gw.port(), 400ms));
    CHECK(idle.waitClosed(1s));  // an idle keep-alive connection is closed at once

    auto r = busy.read(5s);
    REQUIRE_MESSAGE(r, busy.error());
    CHECK(r->status == 200);
    CHECK(r->body == "done /slow");
    CHECK(r->hasToken("Connection", "close"));
    CHECK(millisSince(start) >= 300);
    CHECK(busy.waitClosed(1s));

    expectExit(gw, 10s);
    CHECK(gw.log().find("shutting down gracefully") != std::string::npos);
    CHECK(backend.requestCount() == 2);
}

TEST_CASE(
    "signals: USR1 and USR2 are ignored with a warning, QUIT stops gracefully, a second stop signal stops at once")
{
    std::atomic<bool> release{false};
    ScriptedBackend backend([&release](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/stuck") {
            for (int i = 0; i < 300 && !release; ++i) {
                std::this_thread::sleep_for(10ms);
            }
        }
        reply.bytes = httpResponse(200, "done");
        return reply;
    });
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    {
        // What a logrotate recipe written for nginx sends: the gateway keeps serving.
        SluicedProcess gw(spec);
        gw.sendSignal(SIGUSR1);
        gw.sendSignal(SIGUSR2);
        CHECK(gw.waitForLog("SIGUSR1 ignored", 0, 5s));
        CHECK(gw.waitForLog("SIGUSR2 ignored", 0, 5s));
        RawClient client(gw.port());
        auto r = client.exchange(getRequest("/svc/v1/x"));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        gw.sendSignal(SIGQUIT);  // graceful, as nginx's
        expectExit(gw, 10s);
        CHECK(gw.log().find("SIGQUIT: shutting down gracefully") != std::string::npos);
    }
    {
        // A graceful stop waits for the request in flight; a second SIGTERM does not.
        SluicedProcess gw(spec);
        RawClient stuck(gw.port());
        REQUIRE(stuck.send(getRequest("/svc/v1/stuck")));
        REQUIRE(backend.waitForRequests(2, 2s));
        gw.sendSignal(SIGTERM);
        REQUIRE(gw.waitForLog("SIGTERM: shutting down gracefully", 0, 5s));
        CHECK_FALSE(gw.waitExit(300ms));  // still waiting for /stuck
        const auto start = Clock::now();
        gw.sendSignal(SIGTERM);
        auto code = gw.waitExit(5s);
        release = true;
        REQUIRE(code);
        CHECK(*code == 1);
        CHECK(millisSince(start) < 2000);
        CHECK(gw.log().find("stop signal again: exiting without waiting") != std::string::npos);
    }
}

// A reload runs beside the signal loop: a stop signal during one that takes long (here a handler
// whose creation takes 60 s) stops the gateway at once, gracefully for the traffic, without
// waiting for the reload, which is not applied.
TEST_CASE("signals: a stop signal during a slow reload stops the gateway without waiting for the reload")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.testPlugins = true;
    SluicedProcess gw(spec);
    gw.writeApi("api",
                apiJson("/svc", endpointList({backend.url()}),
                        R"("handlers": [{"component": "test_pause_timer", "config": {"create_delay_ms": 60000}}])"));
    gw.sendSignal(SIGHUP);
    REQUIRE(gw.waitForLog("SIGHUP: reloading", 0, 5s));
    RawClient client(gw.port());  // served meanwhile, by the running configuration
    auto r = client.exchange(getRequest("/svc/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    const auto start = Clock::now();
    gw.sendSignal(SIGTERM);
    expectExit(gw, 10s);
    CHECK(millisSince(start) < 5000);
    CHECK(gw.log().find("a reload is still loading; exiting without waiting for it") != std::string::npos);
    CHECK(gw.log().find("reload complete") == std::string::npos);
}

// A reload that ends while the graceful stop waits for traffic is not applied: the stopping
// server is never given a snapshot, and the configuration stays the one that served.
TEST_CASE("signals: a reload that finishes during the graceful stop is not applied")
{
    std::atomic<bool> release{false};
    ScriptedBackend backend([&release](const ReceivedRequest& r) {
        BackendReply reply;
        for (int i = 0; r.target == "/stuck" && i < 500 && !release; ++i) {
            std::this_thread::sleep_for(10ms);
        }
        reply.bytes = httpResponse(200, "done");
        return reply;
    });
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.testPlugins = true;
    SluicedProcess gw(spec);
    RawClient stuck(gw.port());
    REQUIRE(stuck.send(getRequest("/svc/v1/stuck")));
    REQUIRE(backend.waitForRequests(1, 2s));
    gw.writeApi("api",
                apiJson("/svc", endpointList({backend.url()}),
                        R"("handlers": [{"component": "test_pause_timer", "config": {"create_delay_ms": 1000}}])"));
    gw.sendSignal(SIGHUP);
    REQUIRE(gw.waitForLog("SIGHUP: reloading", 0, 5s));
    gw.sendSignal(SIGTERM);
    REQUIRE(gw.waitForLog("SIGTERM: shutting down gracefully", 0, 5s));
    CHECK(gw.waitForLog("SIGHUP: the reload finished after the shutdown began; it is not applied", 0, 5s));
    release = true;
    auto answer = stuck.read(5s);
    REQUIRE_MESSAGE(answer, stuck.error());
    CHECK(answer->status == 200);
    expectExit(gw, 10s);
    CHECK(gw.log().find("reload complete") == std::string::npos);
    CHECK(gw.log().find("a reload is still loading") == std::string::npos);
}

TEST_CASE("shutdown: a keep-alive client's request that reaches the socket as the stop begins is answered, not reset")
{
    // The worker is held by a handler while the stop is asked for and the idle client sends its
    // next request: when the worker comes back, the stop and the request are both waiting.
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.testPlugins = true;
    spec.apis.emplace_back("block", workerBlockingApi("/block", backend.url(), 1500));
    SluicedProcess gw(spec);
    RawClient idle(gw.port());
    auto first = idle.exchange(getRequest("/svc/v1/first"));
    REQUIRE_MESSAGE(first, idle.error());
    REQUIRE(first->status == 200);

    RawClient holder(gw.port());
    REQUIRE(holder.send(getRequest("/block/v1/x")));
    REQUIRE(gw.waitForLog("test_pause_timer blocking the worker", 0, 5s));
    gw.sendSignal(SIGTERM);
    // Once the worker has been asked to drain (it is logged after the asking).
    REQUIRE(gw.waitForLog("worker(s) close idle connections", 0, 5s));
    REQUIRE(idle.send(getRequest("/svc/v1/second")));
    auto second = idle.read(10s);
    REQUIRE_MESSAGE(second, idle.error());
    CHECK(second->status == 200);
    CHECK(second->body == "backend GET /second");
    CHECK(second->header("Connection") == "close");
    auto held = holder.read(10s);
    REQUIRE_MESSAGE(held, holder.error());
    CHECK(held->status == 200);
    expectExit(gw, 10s);
}

TEST_CASE("shutdown: a TLS client that has sent nothing does not hold up the stop")
{
    TestCertificates certs;
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}), "", R"({"header_timeout_ms": 10000})");
    spec.listenerTls = certs.listener();
    spec.admin = R"({"port": 0})";
    SluicedProcess gw(spec);
    int error = 0;
    const int silent = connectLoopback(gw.port(), error);
    REQUIRE(silent >= 0);
    // Until a worker has taken the connection (the admin endpoint counts it).
    const std::string status =
        "GET /status HTTP/1.1\r\nHost: " + gw.adminHost() + ":" + std::to_string(gw.adminPort()) + "\r\n\r\n";
    bool taken = false;
    for (auto deadline = Clock::now() + 5s; !taken && Clock::now() < deadline;) {
        RawClient admin(gw.adminHost(), gw.adminPort());
        auto r = admin.exchange(status, 2s);
        taken = r && contains(r->body, "\"open\":1");
        if (!taken) {
            std::this_thread::sleep_for(10ms);
        }
    }
    REQUIRE(taken);
    const auto start = Clock::now();
    gw.sendSignal(SIGTERM);
    auto code = gw.waitExit(15s);
    ::close(silent);
    REQUIRE(code);
    CHECK(*code == 0);
    CHECK(Clock::now() - start < 3s);  // not header_timeout_ms
}

TEST_CASE("shutdown: an answer still queued for a slow reader goes out whole before its connection closes")
{
    // The exchange is over (the backend answered) but the client has not taken the answer yet:
    // its small window and segments keep most of it in the gateway. SIGTERM must not cut it.
    const std::string body(200 * 1024, 'q');
    ScriptedBackend backend(delayedReply(0ms, body));
    SluicedProcess gw(oneApi("/svc", endpointList({backend.url()})));
    int error = 0;
    const int fd = connectAddress("127.0.0.1", gw.port(), error, 4096, 1000);
    REQUIRE(fd >= 0);
    REQUIRE(sendAll(fd, getRequest("/svc/v1/large")));
    REQUIRE(backend.waitForRequests(1, 2s));
    std::this_thread::sleep_for(300ms);  // the whole answer has reached the gateway
    gw.sendSignal(SIGTERM);
    std::this_thread::sleep_for(300ms);
    std::string received;
    const ReadStatus status = readToEnd(fd, received, Clock::now() + 10s);
    ::close(fd);
    CHECK(status == ReadStatus::Eof);
    const std::size_t bodyAt = received.find("\r\n\r\n");
    REQUIRE(bodyAt != std::string::npos);
    CHECK(received.size() - bodyAt - 4 == body.size());
    expectExit(gw, 10s);
}

TEST_CASE("reload: the request in flight finishes on the old configuration, new ones use the new one")
{
    ScriptedBackend oldBackend([](const ReceivedRequest& r) {
        BackendReply reply;
        reply.delay = r.target == "/slow" ? 500ms : 0ms;
        reply.bytes = httpResponse(200, "old " + r.target, {{"X-Backend", "old"}});
        return reply;
    });
    ScriptedBackend newBackend(echo("new"));
    SluicedProcess gw(oneApi("/svc", endpointList({oldBackend.url()})));

    RawClient inFlight(gw.port());
    REQUIRE(inFlight.send(getRequest("/svc/v1/slow")));
    REQUIRE(oldBackend.waitForRequests(1, 2s));
    gw.writeApi("api", apiJson("/svc", endpointList({newBackend.url()})));
    gw.writeApi("extra", apiJson("/added", endpointList({newBackend.url("/added-base")})));
    REQUIRE(gw.reload());

    expectReloadedConfig(gw.port());

    auto old = inFlight.read(5s);
    REQUIRE_MESSAGE(old, inFlight.error());
    CHECK(old->status == 200);
    CHECK(old->body == "old /slow");
    // The same keep-alive connection moves on to the new configuration with its next request.
    auto next = inFlight.exchange(getRequest("/svc/v1/after"));
    REQUIRE_MESSAGE(next, inFlight.error());
    CHECK(next->header("X-Backend") == "new");

    // A broken configuration is refused; the running one stays.
    gw.writeApi("broken", "{ this is not JSON");
    CHECK_FALSE(gw.reload());
    RawClient after(gw.port());
    auto stillNew = after.exchange(getRequest("/svc/v1/still"));
    REQUIRE_MESSAGE(stillNew, after.error());
    CHECK(stillNew->header("X-Backend") == "new");
    CHECK(gw.running());
}

TEST_CASE("reload: no request fails during a stream of requests spanning several reloads")
{
    ScriptedBackend a(echo("a"));
    ScriptedBackend b(echo("b"));
    GatewaySpec spec = oneApi("/svc", endpointList({a.url()}));
    spec.workers = 2;
    SluicedProcess gw(spec);

    std::atomic<bool> done{false};
    std::atomic<int> ok{0};
    std::vector<std::string> failures;
    std::mutex failuresMutex;
    auto fail = [&](std::string what) {
        std::lock_guard<std::mutex> lock(failuresMutex);
        failures.push_back(std::move(what));
        return failures.size() < 50;  // give up on a gateway that is gone
    };
    auto load = [&](bool keepAlive) {
        std::unique_ptr<RawClient> client;
        while (!done) {
            if (!client || !keepAlive) {
                try {
                    client = std::make_unique<RawClient>(gw.port());
                } catch (const std::exception& e) {
                    if (!fail(e.what())) {
                        return;
                    }
                    continue;
                }
            }
            auto r = client->exchange(getRequest("/svc/v1/loop"));
            if (r && r->status == 200) {
                ++ok;
            } else {
                bool goOn = fail(r ? std::to_string(r->status) + " " + r->body : client->error());
                client.reset();
                if (!goOn) {
                    return;
                }
            }
        }
    };
    ClientThreads threads([&] { done = true; });
    threads.run([&] { load(true); });
    threads.run([&] { load(false); });

    for (int i = 0; i < 4; ++i) {
        const ScriptedBackend& target = i % 2 == 0 ? b : a;
        int before = ok.load();
        gw.writeApi("api", apiJson("/svc", endpointList({target.url()})));
        REQUIRE(gw.reload());
        auto deadline = Clock::now() + 2s;
        while (ok.load() < before + 20 && Clock::now() < deadline) {
            std::this_thread::sleep_for(5ms);
        }
    }
    done = true;
    threads.join();
    CHECK(failures.empty());
    if (!failures.empty()) {
        MESSAGE("first failure: " << failures.front());
    }
    CHECK(ok.load() > 80);
    CHECK(a.requestCount() > 0);
    CHECK(b.requestCount() > 0);
}

TEST_CASE("reload: changed HTTP limits and trusted proxies apply to the next requests")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}), "", R"({"max_body_bytes": 1000})");
    SluicedProcess gw(spec);
    RawClient before(gw.port());
    auto accepted =
        before.exchange(bodyRequest("POST", "/svc/v1/x", std::string(500, 'a'), {"X-Forwarded-For: 10.1.1.1"}));
    REQUIRE_MESSAGE(accepted, before.error());
    CHECK(accepted->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK(backend.request(0).header("X-Forwarded-For") == "127.0.0.1");

    spec.http = R"({"max_body_bytes": 100, "trusted_proxies": ["127.0.0.0/8"]})";
    gw.writeGatewayConfig(spec);
    REQUIRE(gw.reload());
    RawClient after(gw.port());
    auto refused = after.exchange(bodyRequest("POST", "/svc/v1/x", std::string(500, 'a')));
    REQUIRE_MESSAGE(refused, after.error());
    CHECK(refused->status == 413);
    CHECK(refused->errorCode() == 101413);

    RawClient trusted(gw.port());
    auto extended = trusted.exchange(getRequest("/svc/v1/y", {"X-Forwarded-For: 10.1.1.1"}));
    REQUIRE_MESSAGE(extended, trusted.error());
    CHECK(extended->status == 200);
    REQUIRE(backend.waitForRequests(2, 2s));
    CHECK(backend.request(1).header("X-Forwarded-For") == "10.1.1.1, 127.0.0.1");
}

TEST_CASE("reload: a log file that cannot be opened refuses the reload, the old configuration serves on")
{
    // It was opened only after the new configuration had been made current, and its exception
    // ended the process (SIGABRT) with requests in flight.
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    SluicedProcess gw(spec);
    for (const std::string output :
         {R"("output": "file", "file": "/proc/no-such-dir/sluiced.log")", R"("output": "file")"}) {
        CAPTURE(output);
        GatewaySpec bad = spec;
        bad.logOutput = output;
        gw.writeGatewayConfig(bad);
        const std::size_t from = gw.logSize();
        CHECK_FALSE(gw.reload());
        CHECK(gw.waitForLog(output.find("file\": \"/proc") != std::string::npos
                                ? "/logging: cannot open log file /proc/no-such-dir/sluiced.log"
                                : "/logging: output is \"file\" but no file is given",
                            from, 5s));
        CHECK(gw.running());
        RawClient client(gw.port());
        auto r = client.exchange(getRequest("/svc/v1/x"));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
    }
    // A directory that is not there is reported, not created.
    char dir[] = "/tmp/sluice-logdir-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    const std::string missing = std::string(dir) + "/no-such-dir";
    GatewaySpec bad = spec;
    bad.logOutput = R"("output": "file", "file": ")" + missing + R"(/sluiced.log")";
    gw.writeGatewayConfig(bad);
    const std::size_t from = gw.logSize();
    CHECK_FALSE(gw.reload());
    CHECK(gw.waitForLog("directory " + missing + " does not exist", from, 5s));
    struct stat st {};
    CHECK(::stat(missing.c_str(), &st) != 0);
    ::rmdir(dir);
    gw.writeGatewayConfig(spec);
    CHECK(gw.reload());
}

// Every logged line reaches a log file at once: info lines used to wait in the file's buffer
// until later lines filled it ("reload complete" was not in the file seconds later).
TEST_CASE("logging: lines written to a log file are there at once")
{
    char dir[] = "/tmp/sluice-logfile-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    const std::string file = std::string(dir) + "/sluiced.log";
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    SluicedProcess gw(spec);  // on stderr first: the harness waits for its start there
    GatewaySpec toFile = spec;
    toFile.logOutput = R"("output": "file", "file": ")" + file + R"(")";
    gw.writeGatewayConfig(toFile);
    auto fileHolds = [&file](const std::string& text) {
        for (int i = 0; i < 100; ++i) {
            std::ifstream in(file);
            const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            if (content.find(text) != std::string::npos) {
                return true;
            }
            std::this_thread::sleep_for(20ms);
        }
        return false;
    };
    gw.sendSignal(SIGHUP);
    CHECK(fileHolds("reload complete"));  // the first line the file gets
    gw.sendSignal(SIGTERM);
    CHECK(gw.waitExit(10s));
    ::unlink(file.c_str());
    ::rmdir(dir);
}

TEST_CASE("start: a port another process listens on is refused, not shared through SO_REUSEPORT")
{
    ScriptedBackend backend(echo("first"));
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.workers = 2;
    SluicedProcess first(spec);
    GatewaySpec same = spec;
    same.port = first.port();
    CHECK_THROWS_WITH_AS(SluicedProcess{same},
                         doctest::Contains("Address already in use (another process listens there)"),
                         std::runtime_error);
    // Every connection still reaches the first one.
    for (int i = 0; i < 20; ++i) {
        RawClient client(first.port());
        auto r = client.exchange(getRequest("/svc/v1/x"));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
    }
}
