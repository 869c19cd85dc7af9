// The admin endpoint of the real sluiced ("admin": {"host", "port"}): GET /status, POST /reload
// (new configuration for new requests, the request in flight finishes on the old one, an invalid
// configuration refused with its errors while the old one keeps serving), and that it listens
// only on the configured address (loopback by default).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

// One request to the admin endpoint (its answers close the connection), with the Host a local
// client sends ("Host: 127.0.0.1:PORT") in place of the harness's default one.
std::optional<HttpResponse> admin(const SluicedProcess& gw, std::string request,
                                  std::chrono::milliseconds timeout = 15s)
{
    const std::string defaultHost = "Host: gateway.test\r\n";
    if (const std::size_t at = request.find(defaultHost); at != std::string::npos) {
        request.replace(at, defaultHost.size(),
                        "Host: " + gw.adminHost() + ":" + std::to_string(gw.adminPort()) + "\r\n");
    }
    RawClient client(gw.adminHost(), gw.adminPort());
    auto r = client.exchange(request, timeout);
    INFO("admin " << request.substr(0, request.find('\r')) << ": " << client.error());
    CHECK(r);
    return r;
}

std::optional<HttpResponse> postReload(const SluicedProcess& gw)
{
    return admin(gw, bodyRequest("POST", "/reload", ""));
}

// /svc in front of `backend`, with an admin endpoint and the test plugins.
GatewaySpec adminWithTestPlugins(const ScriptedBackend& backend)
{
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.admin = R"({"port": 0})";
    spec.testPlugins = true;
    return spec;
}

// Rewrites /svc so that loading it (a reload) takes `ms`: a handler whose creation is slow.
void writeSlowToLoad(const SluicedProcess& gw, const ScriptedBackend& backend, int ms)
{
    gw.writeApi("api", apiJson("/svc", endpointList({backend.url()}),
                               R"("handlers": [{"component": "test_pause_timer", "config": {"create_delay_ms": )" +
                                   std::to_string(ms) + "}}]"));
}

// errno of a connection attempt to ipv4:port (0 when it was accepted).
int connectError(const std::string& ipv4, int port)
{
    int error = 0;
    int fd = connectAddress(ipv4, port, error);
    if (fd >= 0) {
        ::close(fd);
    }
    return error;
}

}  // namespace

TEST_CASE("admin: an endpoint path taken from the environment is never shown expanded in logs or /status")
{
    // A webhook's token is often part of its path: the operator writes ${env:NAME} so that the
    // secret stays out of the configuration, and it must stay out of the logs too.
    const std::string secret = "s3cr3t-webhook-token-4711";
    ::setenv("SLUICE_TEST_WEBHOOK_TOKEN", secret.c_str(), 1);
    ScriptedBackend backend(echo());
    int closedPort = 0;
    ::close(listenOn("127.0.0.1", closedPort, 1));  // nothing listens there any more
    GatewaySpec spec;
    spec.apis.emplace_back(
        "hook", apiJson("/hook", R"([{"url": ")" + backend.url() + R"(/hooks/${env:SLUICE_TEST_WEBHOOK_TOKEN}"}])"));
    spec.apis.emplace_back("down", apiJson("/down", R"([{"url": "http://127.0.0.1:)" + std::to_string(closedPort) +
                                                        R"(/hooks/${env:SLUICE_TEST_WEBHOOK_TOKEN}"}])"));
    spec.admin = R"({"port": 0})";
    SluicedProcess gw(spec);
    RawClient client(gw.port());
    auto sent = client.exchange(getRequest("/hook/v1/event"));
    REQUIRE_MESSAGE(sent, client.error());
    CHECK(sent->body == "backend GET /hooks/" + secret + "/event");  // the backend gets the real path
    RawClient other(gw.port());
    auto failed = other.exchange(getRequest("/down/v1/event"));
    REQUIRE_MESSAGE(failed, other.error());
    CHECK(failed->status == 502);
    auto status = admin(gw, getRequest("/status"));
    REQUIRE(status);
    CHECK(contains(status->body, "/hooks/${env:SLUICE_TEST_WEBHOOK_TOKEN}"));
    CHECK_FALSE(contains(status->body, secret));
    CHECK(gw.stop() == 0);
    CHECK(contains(gw.log(), "/hooks/${env:SLUICE_TEST_WEBHOOK_TOKEN}"));  // the failure is logged
    CHECK_FALSE(contains(gw.log(), secret));
    ::unsetenv("SLUICE_TEST_WEBHOOK_TOKEN");
}

TEST_CASE("admin: GET /status answers on loopback only, with the running APIs, and refuses wrong methods and paths")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.workers = 2;
    spec.admin = R"({"port": 0})";  // host left to its default
    SluicedProcess gw(spec);
    CHECK(gw.adminHost() == "127.0.0.1");
    REQUIRE(gw.adminPort() > 0);
    CHECK(gw.adminPort() != gw.port());

    auto status = admin(gw, getRequest("/status"));
    REQUIRE(status);
    CHECK(status->status == 200);
    CHECK(status->header("Content-Type") == "application/json");
    CHECK(contains(status->body, R"("workers":2)"));
    CHECK(contains(status->body, std::string(R"("apis":[{"name":"Api_svc","context":"/svc","version":"v1",)") +
                                     R"("endpoints":[{"url":")" + backend.url() +
                                     R"(","healthy":true,"suspended_ms":0}]}])"));
    CHECK(contains(status->body, R"("version":")"));
    // A query, and the absolute form of the target, name the same resource (RFC 9112 §3.2.2).
    auto withQuery = admin(gw, getRequest("/status?verbose=1"));
    REQUIRE(withQuery);
    CHECK(withQuery->status == 200);
    const std::string self = "127.0.0.1:" + std::to_string(gw.adminPort());
    auto absolute = admin(gw, "GET http://" + self + "/status HTTP/1.1\r\nHost: " + self + "\r\n\r\n");
    REQUIRE(absolute);
    CHECK(absolute->status == 200);

    auto getReload = admin(gw, getRequest("/reload"));
    REQUIRE(getReload);
    CHECK(getReload->status == 405);
    CHECK(getReload->header("Allow") == "POST");
    auto postStatus = admin(gw, bodyRequest("POST", "/status", ""));
    REQUIRE(postStatus);
    CHECK(postStatus->status == 405);
    CHECK(postStatus->header("Allow") == "GET");
    auto unknown = admin(gw, getRequest("/config"));
    REQUIRE(unknown);
    CHECK(unknown->status == 404);
    CHECK(unknown->errorCode() == 900906);
    CHECK(gw.log().find("admin /reload") == std::string::npos);  // a GET never reloads

    // Bound to 127.0.0.1 only: another loopback address of this host is refused.
    CHECK(connectError("127.0.0.2", gw.adminPort()) == ECONNREFUSED);
    // And the admin resources are not served on the traffic listener.
    RawClient traffic(gw.port());
    auto onListener = traffic.exchange(getRequest("/status"));
    REQUIRE_MESSAGE(onListener, traffic.error());
    CHECK(onListener->status == 404);
    CHECK(onListener->body.find("admin resources") == std::string::npos);
    CHECK(onListener->body.find("\"apis\"") == std::string::npos);
    CHECK(backend.requestCount() == 0);
}

// The admin socket is bound without SO_REUSEPORT: a port that another program listens on with
// it is refused at start, instead of the two sharing the connections.
TEST_CASE("admin: a port another program listens on is an error at start, not a shared port")
{
    const int other = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(other >= 0);
    int one = 1;
    ::setsockopt(other, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(other, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(other, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(other, 8) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(other, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    const int port = ntohs(address.sin_port);

    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.admin = R"({"port": )" + std::to_string(port) + "}";
    std::string why;
    try {
        SluicedProcess refused(spec);
    } catch (const std::exception& e) {
        why = e.what();
    }
    ::close(other);
    CHECK_MESSAGE(contains(why, "cannot start the admin endpoint on 127.0.0.1:" + std::to_string(port)), why);
    CHECK_MESSAGE(contains(why, "Address already in use"), why);
}

TEST_CASE("admin: the endpoint listens on the configured host only, and not at all without an admin block")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.admin = R"({"host": "127.0.0.2", "port": 0})";
    SluicedProcess gw(spec);
    CHECK(gw.adminHost() == "127.0.0.2");
    auto status = admin(gw, getRequest("/status"));
    REQUIRE(status);
    CHECK(status->status == 200);
    CHECK(connectError("127.0.0.1", gw.adminPort()) == ECONNREFUSED);

    SluicedProcess without(oneApi("/svc", endpointList({backend.url()})));
    CHECK(without.adminPort() == 0);
    CHECK(without.log().find("admin endpoint") == std::string::npos);
}

TEST_CASE("admin: POST /reload applies the new configuration while the request in flight finishes on the old one")
{
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<bool> slowAnswered{false};
    ScriptedBackend oldBackend([released, &slowAnswered](const ReceivedRequest& r) {
        if (r.target == "/slow") {
            // Held until the test has seen the reload complete: the request spans the reload.
            (void)released.wait_for(10s);
            slowAnswered = true;
        }
        BackendReply reply;
        reply.bytes = httpResponse(200, "old " + r.target, {{"X-Backend", "old"}});
        return reply;
    });
    ScriptedBackend newBackend(echo("new"));
    GatewaySpec spec = oneApi("/svc", endpointList({oldBackend.url()}));
    spec.admin = R"({"port": 0})";
    SluicedProcess gw(spec);
    struct Release {
        std::promise<void>& p;
        bool done = false;
        void operator()()
        {
            if (!done) {
                done = true;
                p.set_value();
            }
        }
        ~Release() { (*this)(); }  // never leave the backend thread waiting
    } releaseOnce{release};

    RawClient inFlight(gw.port());
    REQUIRE(inFlight.send(getRequest("/svc/v1/slow")));
    REQUIRE(oldBackend.waitForRequests(1, 2s));

    gw.writeApi("api", apiJson("/svc", endpointList({newBackend.url()})));
    gw.writeApi("extra", apiJson("/added", endpointList({newBackend.url("/added-base")})));
    std::size_t logBefore = gw.logSize();
    auto reloaded = postReload(gw);
    REQUIRE(reloaded);
    CHECK(reloaded->status == 200);
    CHECK(reloaded->body == R"({"reloaded":true,"apis":2})");
    CHECK(gw.waitForLog("admin /reload: reloading", logBefore, 2s));
    CHECK(gw.waitForLog("reload complete: 2 API(s)", logBefore, 2s));

    expectReloadedConfig(gw.port());

    auto status = admin(gw, getRequest("/status"));
    REQUIRE(status);
    CHECK_MESSAGE(
        contains(status->body, R"({"name":"Api_added","context":"/added","version":"v1","endpoints":[{"url":")"),
        status->body);

    // Only now does the old backend answer the request that was in flight during the reload.
    CHECK_FALSE(slowAnswered.load());
    releaseOnce();
    auto old = inFlight.read(5s);
    REQUIRE_MESSAGE(old, inFlight.error());
    CHECK(old->status == 200);
    CHECK(old->body == "old /slow");
    auto next = inFlight.exchange(getRequest("/svc/v1/after"));
    REQUIRE_MESSAGE(next, inFlight.error());
    CHECK(next->header("X-Backend") == "new");
    CHECK(oldBackend.requestCount() == 1);
}

TEST_CASE("admin: the handler instances a reload replaced are destroyed off the worker, which keeps serving")
{
    // /slow's handler takes 3 s to destroy. Before, the worker that let go of the old snapshot
    // last (here the only worker, as it switched to the new one) destroyed it: every connection
    // of that worker waited 3 s.
    ScriptedBackend backend(echo());
    GatewaySpec spec = adminWithTestPlugins(backend);
    spec.apis.emplace_back(
        "slow", apiJson("/slow", endpointList({backend.url()}),
                        R"("handlers": [{"component": "test_pause_timer", "config": {"destroy_delay_ms": 3000}}])"));
    SluicedProcess gw(spec);
    std::atomic<bool> done{false};
    std::atomic<int> answered{0};
    std::atomic<long long> slowestMs{0};
    std::thread client([&] {
        // Paced, so that a few thousand requests span the reload (and stay well within
        // max_requests_per_connection on the one keep-alive connection).
        RawClient keepAlive(gw.port());
        while (!done) {
            const auto sent = std::chrono::steady_clock::now();
            auto r = keepAlive.exchange(getRequest("/svc/v1/x"), 10s);
            if (!r || r->status != 200) {
                slowestMs = 1000000;  // no answer counts as the worst
                return;
            }
            const long long ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - sent).count();
            slowestMs = std::max<long long>(slowestMs, ms);
            ++answered;
            std::this_thread::sleep_for(2ms);
        }
    });
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (answered < 20 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
    }
    auto reloaded = postReload(gw);
    const bool destroyed = gw.waitForLog("test_pause_timer destroyed", 0, 10s);
    const int atDestroy = answered;
    while (answered < atDestroy + 20 && std::chrono::steady_clock::now() < deadline + 10s) {
        std::this_thread::sleep_for(5ms);
    }
    done = true;
    client.join();
    REQUIRE(reloaded);
    CHECK(reloaded->status == 200);
    CHECK(destroyed);
    CHECK(answered > atDestroy);
    CHECK(slowestMs < 1000);
}

TEST_CASE("admin: POST /reload refuses an invalid configuration with its errors and the old one keeps serving")
{
    ScriptedBackend a(echo("a"));
    ScriptedBackend b(echo("b"));
    GatewaySpec spec = oneApi("/svc", endpointList({a.url()}));
    spec.admin = R"({"port": 0})";
    SluicedProcess gw(spec);

    auto expectServedBy = [&](const std::string& name) {
        RawClient client(gw.port());
        auto r = client.exchange(getRequest("/svc/v1/x"));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        CHECK(r->header("X-Backend") == name);
    };

    // Not JSON at all; the API change written alongside must not apply either.
    gw.writeApi("api", apiJson("/svc", endpointList({b.url()})));
    gw.writeApi("broken", "{ this is not JSON");
    std::size_t logBefore = gw.logSize();
    auto refused = postReload(gw);
    REQUIRE(refused);
    CHECK(refused->status == 422);
    CHECK(refused->header("Content-Type") == "application/json");
    CHECK(contains(refused->body, R"("reloaded":false)"));
    CHECK_MESSAGE(contains(refused->body, "broken.json"), refused->body);
    CHECK(gw.waitForLog("reload failed with 1 error(s); the previous configuration stays active", logBefore, 2s));
    expectServedBy("a");

    // Valid JSON against the schema: an API without endpoints.
    gw.writeApi("broken", R"({"name": "Broken", "context": "/broken", "version": "v1", "resources": []})");
    auto invalid = postReload(gw);
    REQUIRE(invalid);
    CHECK(invalid->status == 422);
    CHECK_MESSAGE(contains(invalid->body, "broken.json"), invalid->body);
    CHECK_MESSAGE(contains(invalid->body, "endpoints"), invalid->body);
    expectServedBy("a");

    // A broken gateway configuration (an unknown member) is refused the same way.
    gw.removeApi("broken");
    GatewaySpec badGateway = spec;
    badGateway.http = R"({"no_such_limit": 1})";
    gw.writeGatewayConfig(badGateway);
    auto badConfig = postReload(gw);
    REQUIRE(badConfig);
    CHECK(badConfig->status == 422);
    CHECK_MESSAGE(contains(badConfig->body, "no_such_limit"), badConfig->body);
    expectServedBy("a");
    auto status = admin(gw, getRequest("/status"));
    REQUIRE(status);
    CHECK(contains(status->body, std::string(R"("apis":[{"name":"Api_svc","context":"/svc","version":"v1",)") +
                                     R"("endpoints":[{"url":")" + a.url() +
                                     R"(","healthy":true,"suspended_ms":0}]}])"));

    // Fixed: the next reload takes the pending API change.
    gw.writeGatewayConfig(spec);
    auto fixed = postReload(gw);
    REQUIRE(fixed);
    CHECK(fixed->status == 200);
    CHECK(fixed->body == R"({"reloaded":true,"apis":1})");
    expectServedBy("b");
    CHECK(gw.running());
}

TEST_CASE("admin: requests a web page could make, or a lax parser would pass, are refused and change nothing")
{
    // No credentials guard the endpoint, only loopback: a browser steered by another site (a
    // cross-site form, or DNS rebinding a name to 127.0.0.1) must not reload the gateway or read
    // its status, and requests the data plane would refuse are refused here too.
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.admin = R"({"port": 0})";
    SluicedProcess gw(spec);
    const std::string self = "Host: 127.0.0.1:" + std::to_string(gw.adminPort());
    const std::size_t logBefore = gw.logSize();
    struct Case {
        std::string request;
        int status;
    };
    const std::vector<Case> cases{
        {"POST /reload HTTP/1.1\r\nHost: evil.example:" + std::to_string(gw.adminPort()) +
             "\r\nContent-Length: 0\r\n\r\n",
         403},
        {"GET /status HTTP/1.1\r\nHost: evil.example\r\n\r\n", 403},
        {"POST /reload HTTP/1.1\r\n" + self +
             "\r\nOrigin: http://evil.example\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx",
         403},
        {"POST /reload HTTP/1.1\r\n" + self + "\r\nContent-Length: -1\r\n\r\n", 400},
        {"POST /reload HTTP/1.1\r\n" + self + "\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         400},
        {"POST /reload HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400},
        {"GET /status HTTP/9.9\r\n" + self + "\r\n\r\n", 505},
    };
    for (const auto& c : cases) {
        CAPTURE(c.request);
        RawClient client(gw.adminHost(), gw.adminPort());
        auto r = client.exchange(c.request, 5s);
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == c.status);
        CHECK(r->reason != "OK");
    }
    CHECK(gw.log().find("reload", logBefore) == std::string::npos);  // none of them reloaded
    // The same endpoint still serves a local client, whatever the case of its Host.
    auto ok = admin(gw, getRequest("/status"));
    REQUIRE(ok);
    CHECK(ok->status == 200);
    for (const std::string& host : {std::string("LOCALHOST"), "LocalHost:" + std::to_string(gw.adminPort())}) {
        CAPTURE(host);
        RawClient client(gw.adminHost(), gw.adminPort());
        auto r = client.exchange("GET /status HTTP/1.1\r\nHost: " + host + "\r\n\r\n", 5s);
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
    }
}

TEST_CASE("admin: clients that trickle or send nothing hold up nobody, and tricklers are dropped with 408 after 5 s")
{
    // A deadline per read would let a client that sends a byte every second hold its connection
    // for ever; the deadline covers the whole request. And since one poll() loop serves every
    // connection, a local client is answered at once while the others wait for bytes.
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.admin = R"({"port": 0})";
    SluicedProcess gw(spec);
    const std::string request =
        "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + std::string(40, 'p') + "\r\n\r\n";
    std::atomic<int> begun{0};  // tricklers whose first byte went out
    auto trickle = [&gw, &request, &begun]() {
        int error = 0;
        const int fd = connectAddress(gw.adminHost(), gw.adminPort(), error);
        if (fd < 0) {
            ++begun;
            return std::string("connect: ") + std::strerror(error);
        }
        std::string received;
        ReadStatus status = ReadStatus::Timeout;
        for (std::size_t i = 0; i < request.size() && status == ReadStatus::Timeout; ++i) {
            if (!sendAll(fd, request.substr(i, 1))) {
                break;
            }
            if (i == 0) {
                ++begun;
            }
            status = readSome(fd, received, Clock::now() + 250ms);  // a byte every 250 ms: 17 s in all
        }
        while (status == ReadStatus::Data) {
            status = readSome(fd, received, Clock::now() + 1s);
        }
        ::close(fd);
        return received;
    };
    const auto start = Clock::now();
    std::vector<std::future<std::string>> tricklers;
    for (int i = 0; i < 8; ++i) {
        tricklers.push_back(std::async(std::launch::async, trickle));
    }
    std::vector<int> silent;  // connected, and never a byte
    for (int i = 0; i < 20; ++i) {
        int error = 0;
        const int fd = connectAddress(gw.adminHost(), gw.adminPort(), error);
        REQUIRE(fd >= 0);
        silent.push_back(fd);
    }
    const auto waitFrom = Clock::now();
    while (begun.load() < 8 && Clock::now() - waitFrom < 5s) {
        std::this_thread::sleep_for(5ms);
    }
    REQUIRE(begun.load() == 8);
    const auto asked = Clock::now();
    auto local = admin(gw, getRequest("/status"), 15s);
    REQUIRE(local);
    CHECK(local->status == 200);
    CHECK(millisSince(asked) < 2000);  // not after the others' 5 s
    for (auto& t : tricklers) {
        const std::string answer = t.get();
        CAPTURE(answer);
        CHECK(answer.rfind("HTTP/1.1 408 ", 0) == 0);
    }
    CHECK(millisSince(start) < 9000);
    for (int fd : silent) {
        std::string received;
        CHECK(readSome(fd, received, Clock::now() + 3s) == ReadStatus::Eof);  // closed at 5 s, with nothing said
        CHECK(received.empty());
        ::close(fd);
    }
}

TEST_CASE(
    "admin: GET /status is answered while a slow POST /reload runs, and a second POST /reload gets a reload of its own")
{
    // The reload here takes 6 s (a handler whose creation is slow). It runs off the admin
    // endpoint's thread: /status answers at once, and a connection open before it keeps its
    // 5 s for its request. A POST /reload that comes during it is answered by the next reload,
    // which sees what was written after the first began.
    ScriptedBackend backend(echo());
    SluicedProcess gw(adminWithTestPlugins(backend));
    RawClient early(gw.adminHost(), gw.adminPort());
    // A second client answered means the admin thread has taken every connection queued before
    // it (the listen queue is first in, first out): `early` is accepted before the reload.
    auto before = admin(gw, getRequest("/status"));
    REQUIRE(before);
    REQUIRE(before->status == 200);
    writeSlowToLoad(gw, backend, 6000);
    const std::size_t mark = gw.logSize();
    std::optional<HttpResponse> first;
    std::thread firstReloader([&gw, &first] { first = admin(gw, bodyRequest("POST", "/reload", ""), 30s); });
    REQUIRE(gw.waitForLog("admin /reload: reloading", mark, 5s));
    // Plugins are loaded after the configuration files are read: from here on, what is written
    // is for the next reload.
    REQUIRE(gw.waitForLog("loaded plugin test_pause_timer", mark, 5s));

    const auto asked = std::chrono::steady_clock::now();
    auto status = admin(gw, getRequest("/status"), 20s);
    const auto took = std::chrono::steady_clock::now() - asked;
    REQUIRE(status);
    CHECK(status->status == 200);
    CHECK(took < 2s);
    CHECK(contains(status->body, "\"Api_svc\""));
    CHECK_FALSE(first);  // the first reload is still loading

    // The second reload loads a configuration written after the first began: a second API.
    gw.writeApi("other", apiJson("/other", endpointList({backend.url()})));
    std::optional<HttpResponse> second;
    std::thread secondReloader([&gw, &second] { second = admin(gw, bodyRequest("POST", "/reload", ""), 30s); });

    REQUIRE(early.send("GET /status HTTP/1.1\r\nHost: " + gw.adminHost() + ":" + std::to_string(gw.adminPort()) +
                       "\r\n\r\n"));
    auto earlyStatus = early.read(5s);
    REQUIRE_MESSAGE(earlyStatus, early.error());
    CHECK(earlyStatus->status == 200);

    firstReloader.join();
    secondReloader.join();
    REQUIRE(first);
    CHECK(first->status == 200);
    REQUIRE(second);
    CHECK(second->status == 200);
    CHECK(contains(first->body, "\"apis\":1"));
    CHECK(contains(second->body, "\"apis\":2"));
    CHECK(occurrences(gw.log().substr(mark), "reload complete") == 2);
}

TEST_CASE("admin: clients waiting for reloads do not keep GET /status out, and a stop answers them with 503")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(adminWithTestPlugins(backend));
    writeSlowToLoad(gw, backend, 60000);
    const std::string reload = "POST /reload HTTP/1.1\r\nHost: " + gw.adminHost() + ":" +
                               std::to_string(gw.adminPort()) + "\r\nContent-Length: 0\r\n\r\n";
    // 64 clients wait for reloads (the first loads for a minute): every slot is taken.
    std::vector<std::unique_ptr<RawClient>> waiting;
    for (int i = 0; i < 64; ++i) {
        waiting.push_back(std::make_unique<RawClient>(gw.adminHost(), gw.adminPort()));
        REQUIRE(waiting.back()->send(reload));
    }
    REQUIRE(gw.waitForLog("admin /reload: reloading", 0, 5s));
    // Time for the admin loop to read all 64 requests (nothing it shows says when it has; until
    // then an unread one would be the connection closed to make room).
    std::this_thread::sleep_for(300ms);
    const auto asked = std::chrono::steady_clock::now();
    auto status = admin(gw, getRequest("/status"), 5s);
    REQUIRE(status);
    CHECK(status->status == 200);
    CHECK(std::chrono::steady_clock::now() - asked < 2s);

    // A stop: the reload will not be applied, and those still waiting are told so.
    gw.sendSignal(SIGTERM);
    auto told = waiting.back()->read(5s);
    REQUIRE_MESSAGE(told, waiting.back()->error());
    CHECK(told->status == 503);
    CHECK(contains(told->body, "\"reloaded\":false"));
    CHECK(contains(told->body, "shutting down"));
    expectExit(gw, 10s);
}

TEST_CASE("admin: GET /status asked while the server stops its workers is answered, and the stop ends cleanly")
{
    // The status hook lists the workers' connections while stop() lets go of the workers; with
    // many workers and clients polling /status this used to crash the process (5 stops in 15).
    ScriptedBackend backend(echo());
    for (int round = 0; round < 6; ++round) {
        CAPTURE(round);
        GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
        spec.admin = R"({"port": 0})";
        spec.workers = 64;
        SluicedProcess gw(spec);
        std::atomic<bool> stopped{false};
        std::atomic<int> answered{0};
        std::vector<std::thread> pollers;
        for (int i = 0; i < 4; ++i) {
            pollers.emplace_back([&] {
                const std::string request = "GET /status HTTP/1.1\r\nHost: " + gw.adminHost() + ":" +
                                            std::to_string(gw.adminPort()) + "\r\n\r\n";
                while (!stopped) {
                    try {
                        RawClient client(gw.adminHost(), gw.adminPort());
                        if (auto r = client.exchange(request, 2s); r && r->status == 200) {
                            ++answered;
                        }
                    } catch (const std::exception&) {
                        // Refused: the admin endpoint has closed, the process is on its way out.
                    }
                }
            });
        }
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (answered < 8 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(5ms);
        }
        const int before = answered;
        gw.sendSignal(SIGTERM);
        auto code = gw.waitExit(15s);
        stopped = true;
        for (auto& t : pollers) {
            t.join();
        }
        CHECK(before >= 8);  // the stop came while /status was being polled
        REQUIRE(code);
        CHECK(*code == 0);
        CHECK(gw.waitForLog("stopped", 0, 1s));
    }
}

TEST_CASE("admin: beyond 64 open connections the oldest that is still reading is closed to make room")
{
    ScriptedBackend backend(echo());
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.admin = R"({"port": 0})";
    SluicedProcess gw(spec);
    std::vector<int> silent;
    for (int i = 0; i < 70; ++i) {
        int error = 0;
        const int fd = connectAddress(gw.adminHost(), gw.adminPort(), error);
        REQUIRE(fd >= 0);
        silent.push_back(fd);
    }
    auto local = admin(gw, getRequest("/status"), 15s);
    REQUIRE(local);
    CHECK(local->status == 200);
    // The first ones opened were closed for the later ones (and this request).
    std::string received;
    CHECK(readSome(silent.front(), received, Clock::now() + 2s) == ReadStatus::Eof);
    for (int fd : silent) {
        ::close(fd);
    }
}

namespace {

// A token file in /tmp with `mode`, removed at the end.
class TokenFile {
public:
    TokenFile(const std::string& content, mode_t mode)
    {
        char name[] = "/tmp/sluice-admin-token-XXXXXX";
        const int fd = ::mkstemp(name);
        REQUIRE(fd >= 0);
        REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
        ::close(fd);
        REQUIRE(::chmod(name, mode) == 0);
        _path = name;
    }
    ~TokenFile() { ::unlink(_path.c_str()); }
    const std::string& path() const noexcept { return _path; }

private:
    std::string _path;
};

constexpr const char* kToken = "s3cret-admin-token-0123456789";

}  // namespace

TEST_CASE("admin: with admin.token_file every request needs the bearer token")
{
    ScriptedBackend backend(echo());
    TokenFile token(std::string(kToken) + "\n", 0600);
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.admin = R"({"port": 0, "token_file": ")" + token.path() + R"("})";
    SluicedProcess gw(spec);
    REQUIRE(gw.adminPort() > 0);

    const std::vector<std::vector<std::string>> refusedFields = {
        {},
        {"Authorization: Bearer wrong-token-0123456789"},
        {std::string("Authorization: Bearer ") + kToken + "x"},
        {std::string("Authorization: Basic ") + kToken},
        {std::string("Authorization: Bearer ") + std::string(kToken).substr(0, 10)},
    };
    for (const auto& fields : refusedFields) {
        CAPTURE(fields.size());
        auto r = admin(gw, getRequest("/status", fields));
        REQUIRE(r);
        CHECK(r->status == 401);
        CHECK(r->errorCode() == 900901);
        CHECK(r->header("WWW-Authenticate") == "Bearer realm=\"sluice-admin\"");
        CHECK_FALSE(contains(r->body, "\"apis\""));
    }
    auto reloadRefused = admin(gw, bodyRequest("POST", "/reload", ""));
    REQUIRE(reloadRefused);
    CHECK(reloadRefused->status == 401);

    const std::string bearer = std::string("Authorization: Bearer ") + kToken;
    auto status = admin(gw, getRequest("/status", {bearer}));
    REQUIRE(status);
    CHECK(status->status == 200);
    CHECK(contains(status->body, "\"apis\""));
    auto lower = admin(gw, getRequest("/status", {std::string("authorization: bearer ") + kToken}));
    REQUIRE(lower);
    CHECK(lower->status == 200);
    // Two Authorization fields: which one a proxy in front checked is not known.
    auto twice = admin(gw, getRequest("/status", {bearer, "Authorization: Bearer wrong-token-0123456789"}));
    REQUIRE(twice);
    CHECK(twice->status == 400);
    auto reload = admin(gw, bodyRequest("POST", "/reload", "", {bearer}));
    REQUIRE(reload);
    CHECK(reload->status == 200);
    // The token never reaches the log, nor what a refused client sent. Refusals are logged with
    // the client's address, one line for the burst (the others are counted into the next line).
    const std::string log = gw.log();
    CHECK_FALSE(contains(log, kToken));
    CHECK_FALSE(contains(log, "wrong-token"));
    CHECK(contains(log, "bearer token required"));
    CHECK(contains(log, "admin request from 127.0.0.1 refused: no bearer token"));
    CHECK(occurrences(log, "admin request from") == 1);
}

// A reload reads admin.token_file again: a file a restart would refuse refuses the reload, and a
// new token in it replaces the old one at once (rotation without a restart).
TEST_CASE("admin: a reload checks admin.token_file as a start does and rotates the token")
{
    ScriptedBackend backend(echo());
    TokenFile token(std::string(kToken) + "\n", 0600);
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}));
    spec.admin = R"({"port": 0, "token_file": ")" + token.path() + R"("})";
    SluicedProcess gw(spec);
    const std::string bearer = std::string("Authorization: Bearer ") + kToken;

    REQUIRE(::chmod(token.path().c_str(), 0644) == 0);
    auto refused = admin(gw, bodyRequest("POST", "/reload", "", {bearer}));
    REQUIRE(refused);
    CHECK(refused->status == 422);
    CHECK(contains(refused->body, "/admin/token_file"));
    CHECK(contains(refused->body, "chmod 600"));
    auto still = admin(gw, getRequest("/status", {bearer}));
    REQUIRE(still);
    CHECK(still->status == 200);

    const std::string rotated = "an-entirely-new-token-9876543210";
    {
        std::ofstream out(token.path(), std::ios::trunc);
        out << rotated << "\n";
    }
    REQUIRE(::chmod(token.path().c_str(), 0600) == 0);
    auto reloaded = admin(gw, bodyRequest("POST", "/reload", "", {bearer}));
    REQUIRE(reloaded);
    CHECK(reloaded->status == 200);
    CHECK(gw.waitForLog("the admin endpoint's token was replaced", 0, 2s));
    auto old = admin(gw, getRequest("/status", {bearer}));
    REQUIRE(old);
    CHECK(old->status == 401);
    auto fresh = admin(gw, getRequest("/status", {"Authorization: Bearer " + rotated}));
    REQUIRE(fresh);
    CHECK(fresh->status == 200);
    CHECK_FALSE(contains(gw.log(), rotated));
}

TEST_CASE("admin: a token file others may read or a short token stops the start")
{
    TokenFile readable(std::string(kToken) + "\n", 0644);
    GatewaySpec spec = oneApi("/svc", endpointList({"http://127.0.0.1:9"}));
    spec.admin = R"({"port": 0, "token_file": ")" + readable.path() + R"("})";
    CHECK_THROWS_WITH_AS(SluicedProcess{spec}, doctest::Contains("chmod 600"), std::runtime_error);

    TokenFile shortToken("short\n", 0600);
    spec.admin = R"({"port": 0, "token_file": ")" + shortToken.path() + R"("})";
    CHECK_THROWS_WITH_AS(SluicedProcess{spec}, doctest::Contains("shorter than 16 characters"), std::runtime_error);

    spec.admin = R"({"port": 0, "token_file": "/nonexistent/token"})";
    CHECK_THROWS_WITH_AS(SluicedProcess{spec}, doctest::Contains("not a readable regular file"), std::runtime_error);
}
