// Active health checks end to end: an endpoint failing its probes leaves load balancing after
// unhealthy_threshold and comes back after healthy_threshold; a probe without an answer in
// timeout_ms fails; every endpoint down gives 503 101507; a reload stops the probing of endpoints
// it removed (and all probing when no health_check is left); --check-config names a bad block.
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

const char* const kHealthCheck =
    R"("health_check": {"path": "/health", "interval_ms": 50, "timeout_ms": 300, "healthy_threshold": 2, "unhealthy_threshold": 2})";

// What a backend's /health answers, changed by the test while the backend runs.
struct HealthAnswer {
    std::atomic<int> status{200};
    std::atomic<int> delayMs{0};
};

// Answers /health from `health`, everything else 200 with "X-Backend: <name>".
BackendScript withHealth(std::string name, HealthAnswer& health)
{
    return [name, &health](const ReceivedRequest& r) {
        BackendReply reply;
        if (r.target == "/health") {
            reply.delay = std::chrono::milliseconds(health.delayMs.load());
            reply.bytes = httpResponse(health.status.load(), "health");
            return reply;
        }
        reply.bytes = httpResponse(200, name, {{"X-Backend", name}});
        return reply;
    };
}

std::size_t probes(const ScriptedBackend& backend)
{
    std::size_t n = 0;
    for (const auto& r : backend.requests()) {
        n += r.target == "/health" ? 1 : 0;
    }
    return n;
}

std::size_t served(const ScriptedBackend& backend) { return backend.requestCount() - probes(backend); }

template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout = 10s)
{
    auto deadline = Clock::now() + timeout;
    while (!predicate()) {
        if (Clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// Waits until `backend` has been probed `more` more times than now.
bool probedAgain(const ScriptedBackend& backend, std::size_t more)
{
    std::size_t target = probes(backend) + more;
    return eventually([&] { return probes(backend) >= target; });
}

std::string downLine(const ScriptedBackend& backend) { return "endpoint " + backend.url() + " (Api_svc v1) is DOWN"; }

std::string upLine(const ScriptedBackend& backend) { return "endpoint " + backend.url() + " (Api_svc v1) is UP"; }

// The X-Backend of `count` GETs, in order.
std::vector<std::string> route(int port, int count)
{
    std::vector<std::string> names;
    RawClient client(port);
    for (int i = 0; i < count; ++i) {
        auto r = client.exchange(getRequest("/svc/v1/item"));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        names.push_back(r->header("X-Backend").value_or("?"));
    }
    return names;
}

}  // namespace

TEST_CASE("health: an endpoint failing unhealthy_threshold probes is taken out and comes back after healthy_threshold")
{
    HealthAnswer sickHealth;
    sickHealth.status = 500;
    HealthAnswer fineHealth;
    ScriptedBackend sick(withHealth("sick", sickHealth));
    ScriptedBackend fine(withHealth("fine", fineHealth));
    GatewaySpec spec = oneApi("/svc", endpointList({sick.url(), fine.url()}), kHealthCheck);
    spec.admin = R"({"port": 0})";
    SluicedProcess gw(spec);

    REQUIRE(gw.waitForLog(downLine(sick) + ": 2 consecutive health check(s) failed, last: status 500", 0, 10s));
    // The admin status shows what load balancing sees.
    RawClient adminClient(gw.adminPort());
    auto status = adminClient.exchange("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    REQUIRE_MESSAGE(status, adminClient.error());
    CHECK_MESSAGE(status->body.find(R"({"url":")" + sick.url() + R"(","healthy":false,)") != std::string::npos,
                  status->body);
    CHECK_MESSAGE(status->body.find(R"({"url":")" + fine.url() + R"(","healthy":true,)") != std::string::npos,
                  status->body);
    std::size_t sickServed = served(sick);
    for (const auto& name : route(gw.port(), 8)) {
        CHECK(name == "fine");
    }
    CHECK(served(sick) == sickServed);
    CHECK(served(fine) >= 8);

    // The probe: GET path with the endpoint's Host, on a connection of its own.
    ReceivedRequest probe = sick.requests().front();
    CHECK(probe.method == "GET");
    CHECK(probe.target == "/health");
    CHECK(probe.header("Host") == sick.hostPort());
    CHECK(probe.header("Connection") == "close");
    CHECK(probe.header("User-Agent") == "sluice-health-check");

    // More failures log nothing new: one line per transition.
    REQUIRE(probedAgain(sick, 3));
    CHECK(occurrences(gw.log(), downLine(sick)) == 1);

    std::size_t from = gw.logSize();
    sickHealth.status = 204;
    REQUIRE(gw.waitForLog(upLine(sick) + ": 2 consecutive health check(s) passed", from, 10s));
    auto names = route(gw.port(), 8);
    CHECK(std::count(names.begin(), names.end(), "sick") == 4);  // round-robin again
    CHECK(std::count(names.begin(), names.end(), "fine") == 4);
    CHECK(occurrences(gw.log(), upLine(sick)) == 1);
    CHECK(gw.log().find(downLine(fine)) == std::string::npos);
}

TEST_CASE("health: a probe without an answer within timeout_ms counts as failed")
{
    HealthAnswer slowHealth;
    slowHealth.delayMs = 3000;
    HealthAnswer fineHealth;
    ScriptedBackend slow(withHealth("slow", slowHealth));
    ScriptedBackend fine(withHealth("fine", fineHealth));
    auto start = Clock::now();
    SluicedProcess gw(oneApi(
        "/svc", endpointList({slow.url(), fine.url()}),
        R"("health_check": {"path": "/health", "interval_ms": 50, "timeout_ms": 200, "unhealthy_threshold": 2})"));

    REQUIRE(gw.waitForLog(downLine(slow) + ": 2 consecutive health check(s) failed, last: no response within 200 ms", 0,
                          10s));
    CHECK(millisSince(start) < 3000);  // decided by the timeout, not by the late answer
    for (const auto& name : route(gw.port(), 4)) {
        CHECK(name == "fine");
    }
}

TEST_CASE("health: every endpoint failing its health checks gives 503 101507")
{
    HealthAnswer health;
    health.status = 503;
    ScriptedBackend a(withHealth("a", health));
    ScriptedBackend b(withHealth("b", health));
    SluicedProcess gw(oneApi("/svc", endpointList({a.url(), b.url()}), kHealthCheck));
    REQUIRE(gw.waitForLog(downLine(a), 0, 10s));
    REQUIRE(gw.waitForLog(downLine(b), 0, 10s));

    std::size_t before = served(a) + served(b);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/item"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 503);
    CHECK(r->errorCode() == 101507);
    CHECK(served(a) + served(b) == before);  // no backend saw the request

    std::size_t from = gw.logSize();
    health.status = 200;
    REQUIRE(gw.waitForLog(upLine(a), from, 10s));
    REQUIRE(gw.waitForLog(upLine(b), from, 10s));
    auto ok = client.exchange(getRequest("/svc/v1/item"));
    REQUIRE_MESSAGE(ok, client.error());
    CHECK(ok->status == 200);
}

TEST_CASE("health: probes read a response head under http.max_response_headers, as proxied answers do")
{
    // An application whose every answer carries 150 Set-Cookie lines, /health included: with the
    // limit raised for it, its probes must pass too (they were parsed under the defaults, took
    // the endpoint out, and every request got 503).
    ScriptedBackend backend([](const ReceivedRequest& r) {
        Headers cookies;
        for (int i = 0; i < 150; ++i) {
            cookies.emplace_back("Set-Cookie", "c" + std::to_string(i) + "=1");
        }
        BackendReply reply;
        reply.bytes = httpResponse(200, r.target == "/health" ? "health" : "ok", cookies);
        return reply;
    });
    GatewaySpec spec = oneApi("/svc", endpointList({backend.url()}), kHealthCheck);
    spec.http = R"({"max_response_headers": 200})";
    SluicedProcess gw(spec);
    REQUIRE(probedAgain(backend, 4));
    CHECK(gw.log().find(" is DOWN") == std::string::npos);
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/item"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->headerCount("Set-Cookie") == 150);
}

TEST_CASE("health: a reload stops probing the endpoints it removed, and all probing without a health_check")
{
    HealthAnswer health;
    ScriptedBackend kept(withHealth("kept", health));
    ScriptedBackend removed(withHealth("removed", health));
    SluicedProcess gw(oneApi("/svc", endpointList({kept.url(), removed.url()}), kHealthCheck));
    REQUIRE(probedAgain(kept, 2));
    REQUIRE(probedAgain(removed, 2));
    long threadsWhileProbing = gw.statusValue("Threads");

    gw.writeApi("api", apiJson("/svc", endpointList({kept.url()}), kHealthCheck));
    REQUIRE(gw.reload());
    REQUIRE(probedAgain(kept, 3));  // the new generation probes; a probe sent before the swap has landed
    std::size_t removedProbes = probes(removed);
    REQUIRE(probedAgain(kept, 6));
    CHECK(probes(removed) == removedProbes);
    CHECK(gw.statusValue("Threads") == threadsWhileProbing);  // one prober replaced another

    gw.writeApi("api", apiJson("/svc", endpointList({kept.url()})));
    REQUIRE(gw.reload());
    // Without any health_check the prober thread goes away and nothing is probed any more.
    REQUIRE(eventually([&] { return gw.statusValue("Threads") == threadsWhileProbing - 1; }));
    std::size_t keptProbes = probes(kept);
    for (const auto& name : route(gw.port(), 3)) {
        CHECK(name == "kept");
    }
    // A fresh upstream generation with the same interval would have probed several times by now.
    REQUIRE(kept.waitForRequests(kept.requestCount() + 1, 400ms) == false);
    CHECK(probes(kept) == keptProbes);
}

TEST_CASE("health: an endpoint its checks took out stays out across a reload, from the first request on")
{
    HealthAnswer sickHealth;
    sickHealth.status = 500;
    HealthAnswer fineHealth;
    ScriptedBackend sick(withHealth("sick", sickHealth));
    ScriptedBackend fine(withHealth("fine", fineHealth));
    SluicedProcess gw(oneApi("/svc", endpointList({sick.url(), fine.url()}), kHealthCheck));
    REQUIRE(gw.waitForLog(downLine(sick) + ": 2 consecutive health check(s) failed", 0, 10s));

    // The same probe at a slow interval: a new generation that started healthy would need
    // seconds of probes to find the endpoint down again, and would serve it meanwhile.
    gw.writeApi("api", apiJson("/svc", endpointList({sick.url(), fine.url()}),
                               R"("health_check": {"path": "/health", "interval_ms": 5000, "timeout_ms": 300, )"
                               R"("healthy_threshold": 2, "unhealthy_threshold": 2})"));
    const std::size_t sickServed = served(sick);
    REQUIRE(gw.reload());
    for (const auto& name : route(gw.port(), 8)) {
        CHECK(name == "fine");
    }
    CHECK(served(sick) == sickServed);
    CHECK(occurrences(gw.log(), downLine(sick)) == 1);  // one transition, logged once

    // A corrected expected_status is another verdict: the endpoint starts healthy at once
    // instead of waiting healthy_threshold probes (5 s apart here) under the new one.
    gw.writeApi("api", apiJson("/svc", endpointList({sick.url(), fine.url()}),
                               R"("health_check": {"path": "/health", "interval_ms": 5000, "timeout_ms": 300, )"
                               R"("healthy_threshold": 2, "unhealthy_threshold": 2, "expected_status": [200, 500]})"));
    REQUIRE(gw.reload());
    const auto names = route(gw.port(), 8);
    CHECK(std::count(names.begin(), names.end(), "sick") == 4);
}

TEST_CASE("health: https endpoints are probed over TLS with the API's tls settings")
{
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice-health-tls-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    const std::string dir = pattern;
    std::string openssl = "cd " + dir +
                          " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "
                          "server.key -out server.pem -days 2 -subj /CN=localhost -addext "
                          "subjectAltName=DNS:localhost,IP:127.0.0.1 > /dev/null 2>&1";
    REQUIRE(std::system(openssl.c_str()) == 0);

    HealthAnswer health;
    ScriptedBackend backend(withHealth("tls", health));
    // The HTTPS endpoint is a second gateway with a TLS listener in front of the scripted backend.
    GatewaySpec tlsSpec;
    tlsSpec.listenerTls =
        R"({"certificates": [{"certificate": ")" + dir + R"(/server.pem", "key": ")" + dir + R"(/server.key"}]})";
    tlsSpec.apis.emplace_back("b", apiJson("/b", endpointList({backend.url()})));
    SluicedProcess inner(tlsSpec);

    const std::string https = "https://localhost:" + std::to_string(inner.port());
    const std::string check =
        R"("health_check": {"path": "/b/v1/health", "interval_ms": 50, "timeout_ms": 1000, "unhealthy_threshold": 2})";
    GatewaySpec spec;
    spec.apis.emplace_back("trusted", apiJson("/svc", endpointList({https}),
                                              check + R"(, "tls": {"ca_file": ")" + dir + R"(/server.pem"})"));
    spec.apis.emplace_back("untrusted", apiJson("/untrusted", endpointList({https}), check));
    SluicedProcess gw(spec);

    // Probes through a verified TLS connection reach the backend; the ones verified against the
    // system CAs never get that far.
    REQUIRE(gw.waitForLog(
        "endpoint " + https + " (Api_untrusted v1) is DOWN: 2 consecutive health check(s) failed, last: connect failed",
        0, 10s));
    REQUIRE(probedAgain(backend, 3));
    CHECK(gw.log().find("(Api_svc v1) is DOWN") == std::string::npos);

    // The right CA for the untrusted API is another verdict: after the reload its endpoint is in
    // service at once, not after healthy_threshold probes 5 s apart.
    gw.writeApi("untrusted",
                apiJson("/untrusted", endpointList({https}),
                        R"("health_check": {"path": "/b/v1/health", "interval_ms": 5000, "timeout_ms": 1000, )"
                        R"("unhealthy_threshold": 2}, "tls": {"ca_file": ")" +
                            dir + R"(/server.pem"})"));
    REQUIRE(gw.reload());
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/untrusted/v1/b/v1/x"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);

    std::size_t from = gw.logSize();
    health.status = 500;
    CHECK(gw.waitForLog(
        "endpoint " + https + " (Api_svc v1) is DOWN: 2 consecutive health check(s) failed, last: status 500", from,
        10s));
    std::filesystem::remove_all(dir);
}

TEST_CASE("health: probes carry the configured headers, and a backend that wants them keeps the endpoint in")
{
    // The backend's health page answers 200 only with the right key; without it the probes would
    // fail and the endpoint would go DOWN after two of them.
    ScriptedBackend backend([](const ReceivedRequest& r) {
        BackendReply reply;
        const bool keyed = r.header("X-Probe-Key") == std::optional<std::string>("k-123");
        reply.bytes = r.target == "/health" ? httpResponse(keyed ? 200 : 401, "health") : httpResponse(200, "item");
        return reply;
    });
    SluicedProcess gw(
        oneApi("/svc", endpointList({backend.url()}),
               R"("health_check": {"path": "/health", "interval_ms": 50, "timeout_ms": 300,)"
               R"( "unhealthy_threshold": 2, "headers": {"X-Probe-Key": "k-123", "User-Agent": "probe/2"}})"));

    REQUIRE(probedAgain(backend, 4));
    for (const auto& r : backend.requests()) {
        if (r.target != "/health") {
            continue;
        }
        CHECK(r.header("X-Probe-Key") == std::optional<std::string>("k-123"));
        // A configured field replaces the default one instead of adding a second.
        CHECK(r.header("User-Agent") == std::optional<std::string>("probe/2"));
        std::size_t agents = 0;
        for (const auto& [name, value] : r.headers) {
            agents += name == "User-Agent" ? 1 : 0;
        }
        CHECK(agents == 1);
    }
    CHECK_FALSE(gw.waitForLog(downLine(backend), 0, 300ms));
    // Still in load balancing: a request is served, not answered 503.
    RawClient client(gw.port());
    auto r = client.exchange(getRequest("/svc/v1/item"));
    REQUIRE_MESSAGE(r, client.error());
    CHECK(r->status == 200);
    CHECK(r->body == "item");
}

TEST_CASE("health: --check-config reports a bad health_check with the file and the JSON pointer")
{
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice-health-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    const std::filesystem::path dir = pattern;
    std::filesystem::create_directories(dir / "apis");
    const std::string config = (dir / "sluice.json").string();
    const std::string api = (dir / "apis" / "svc.json").string();
    const std::string other = (dir / "apis" / "other.json").string();
    const std::string third = (dir / "apis" / "third.json").string();
    const std::string fourth = (dir / "apis" / "fourth.json").string();
    std::ofstream(config) << R"({"listeners": [{"name": "http", "host": "127.0.0.1", "port": 0}]})";
    std::ofstream(api) << apiJson("/svc", endpointList({"http://127.0.0.1:9"}),
                                  R"("health_check": {"path": "/health", "interval_ms": 0})");
    std::ofstream(other) << apiJson("/other", endpointList({"http://127.0.0.1:9"}),
                                    R"("health_check": {"expected_status": [200, "399-300"]})");
    std::ofstream(third) << apiJson("/third", endpointList({"http://127.0.0.1:9"}),
                                    R"("health_check": {"headers": {"Transfer-Encoding": "chunked"}})");
    std::ofstream(fourth) << apiJson("/fourth", endpointList({"http://127.0.0.1:9"}),
                                     R"("health_check": {"headers": {"Bad Name": "x", "X-Ok": "a\u0001b"}})");

    const auto [status, output] =
        runCommand(std::string(SLUICE_TRANSPORT_SLUICED) + " --check-config --config " + config);
    std::filesystem::remove_all(dir);
    INFO(output);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);
    CHECK(output.find("error: " + api + ": /health_check/interval_ms: ") != std::string::npos);
    CHECK(output.find("error: " + other + ": /health_check/expected_status/1: status range 399-300 is empty") !=
          std::string::npos);
    CHECK(output.find("error: " + third +
                      ": /health_check/headers/Transfer-Encoding: the gateway sets Transfer-Encoding") !=
          std::string::npos);
    CHECK(output.find("error: " + fourth + ": /health_check/headers/Bad Name: not a header field name") !=
          std::string::npos);
    CHECK(output.find("error: " + fourth + ": /health_check/headers/X-Ok: the value holds a control character") !=
          std::string::npos);
    CHECK(output.find(config + ": 5 errors") != std::string::npos);
}
