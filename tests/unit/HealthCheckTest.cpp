// Active health checks without a gateway process: the threshold state machine, the expected
// statuses, the "health_check" block as the loader and the schema see it, load balancing around
// unhealthy endpoints, and the generations of checkers (only the newest probes; a newer one takes
// over the state of the endpoints both have).
#include "sluice/runtime/upstream/HealthChecker.h"

#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "sluice/runtime/Config.h"
#include "support/Loopback.h"
#include "support/TempDir.h"

using namespace sluice::runtime;
using namespace sluice::runtime::upstream;
using sluice::test::TempDir;

namespace {

using Transition = HealthCounter::Transition;

HealthCheckPolicy thresholds(int healthy, int unhealthy)
{
    HealthCheckPolicy policy;
    policy.healthyThreshold = healthy;
    policy.unhealthyThreshold = unhealthy;
    return policy;
}

const char* const kGateway = R"({"listeners": [{"name": "http", "host": "127.0.0.1", "port": 0}]})";

std::string apiWith(const std::string& healthCheck, const std::string& url = "http://127.0.0.1:9")
{
    return R"({"name": "Svc", "context": "/svc", "version": "v1", "endpoints": [{"url": ")" + url +
           R"("}], "resources": [{"uri_template": "/", "methods": ["GET"]}], "health_check": )" + healthCheck + "}";
}

std::string errorsOf(const ConfigLoadResult& r)
{
    std::string out;
    for (const auto& e : r.errors) {
        out += e.str() + "\n";
    }
    return out;
}

bool hasErrorAt(const ConfigLoadResult& r, const std::string& file, const std::string& pointer)
{
    for (const auto& e : r.errors) {
        if (e.file == file && e.pointer == pointer) {
            return true;
        }
    }
    return false;
}

// A loopback port on which connections are refused for as long as this object lives (bound,
// never listening).
class RefusingPort {
public:
    RefusingPort()
    {
        _fd = sluice::test::bindLoopback(_port);
        REQUIRE(_fd >= 0);
    }
    ~RefusingPort() { ::close(_fd); }
    RefusingPort(const RefusingPort&) = delete;
    RefusingPort& operator=(const RefusingPort&) = delete;

    std::string url() const { return "http://127.0.0.1:" + std::to_string(_port); }

private:
    int _fd = -1;
    int _port = 0;
};

std::shared_ptr<EndpointSet> checkedSet(const std::vector<std::string>& urls, int intervalMs = 10000,
                                        int unhealthyThreshold = 3, const std::string& name = "Svc")
{
    ApiConfig api;
    api.file = "/etc/sluice-test/apis/svc.json";
    api.name = name;
    api.version = "v1";
    for (const auto& url : urls) {
        api.endpoints.push_back({url, 1, "", ""});
    }
    HealthCheckConfig hc;
    hc.intervalMs = intervalMs;
    hc.timeoutMs = 200;
    hc.unhealthyThreshold = unhealthyThreshold;
    api.healthCheck = hc;
    std::vector<ConfigError> errors;
    auto set = EndpointSet::build(api, errors);
    REQUIRE(errors.empty());
    return set;
}

template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000))
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!predicate()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

}  // namespace

TEST_CASE("HealthCounter: unhealthy_threshold consecutive failures take a healthy endpoint down, once")
{
    HealthCounter counter;
    auto policy = thresholds(2, 3);
    CHECK(counter.healthy());
    CHECK(counter.record(false, policy) == Transition::None);
    CHECK(counter.record(false, policy) == Transition::None);
    CHECK(counter.healthy());
    CHECK(counter.record(false, policy) == Transition::Down);
    CHECK_FALSE(counter.healthy());
    CHECK(counter.record(false, policy) == Transition::None);  // already down: no second transition
    CHECK(counter.record(false, policy) == Transition::None);
    CHECK_FALSE(counter.healthy());
}

TEST_CASE("HealthCounter: a pass in the middle of a failure streak restarts the count")
{
    HealthCounter counter;
    auto policy = thresholds(2, 3);
    CHECK(counter.record(false, policy) == Transition::None);
    CHECK(counter.record(false, policy) == Transition::None);
    CHECK(counter.consecutive() == 2);
    CHECK(counter.record(true, policy) == Transition::None);
    CHECK(counter.consecutive() == 0);
    CHECK(counter.record(false, policy) == Transition::None);
    CHECK(counter.record(false, policy) == Transition::None);
    CHECK(counter.healthy());
    CHECK(counter.record(false, policy) == Transition::Down);
}

TEST_CASE("HealthCounter: a down endpoint comes back after healthy_threshold consecutive passes")
{
    HealthCounter counter;
    auto policy = thresholds(2, 1);
    CHECK(counter.record(false, policy) == Transition::Down);
    CHECK(counter.record(true, policy) == Transition::None);
    CHECK(counter.record(false, policy) == Transition::None);  // the streak of passes is broken
    CHECK(counter.record(true, policy) == Transition::None);
    CHECK_FALSE(counter.healthy());
    CHECK(counter.record(true, policy) == Transition::Up);
    CHECK(counter.healthy());
    CHECK(counter.record(true, policy) == Transition::None);
}

TEST_CASE("HealthCheckPolicy: expected statuses are inclusive ranges, 200-399 by default")
{
    HealthCheckPolicy policy;
    CHECK(policy.expects(200));
    CHECK(policy.expects(302));
    CHECK(policy.expects(399));
    CHECK_FALSE(policy.expects(199));
    CHECK_FALSE(policy.expects(400));
    CHECK_FALSE(policy.expects(500));
    policy.expectedStatus = {{204, 204}, {500, 503}};
    CHECK(policy.expects(204));
    CHECK(policy.expects(503));
    CHECK_FALSE(policy.expects(200));
    CHECK_FALSE(policy.expects(504));
}

TEST_CASE("health_check: the loader reads every field, and the defaults without them")
{
    TempDir dir;
    const std::string config = dir.write("sluice.json", kGateway);
    dir.write("apis/a.json", apiWith(R"({"path": "/status?deep=1", "method": "HEAD", "host": "svc.internal",
        "interval_ms": 250, "timeout_ms": 100, "healthy_threshold": 4, "unhealthy_threshold": 5,
        "expected_status": [204, "500-503"]})"));
    ConfigLoadResult r = ConfigLoader::load(config);
    INFO(errorsOf(r));
    REQUIRE(r.errors.empty());
    REQUIRE(r.config->apis.size() == 1);
    REQUIRE(r.config->apis[0].healthCheck.has_value());
    const HealthCheckConfig& hc = *r.config->apis[0].healthCheck;
    CHECK(hc.path == "/status?deep=1");
    CHECK(hc.method == "HEAD");
    CHECK(hc.host == "svc.internal");
    CHECK(hc.intervalMs == 250);
    CHECK(hc.timeoutMs == 100);
    CHECK(hc.healthyThreshold == 4);
    CHECK(hc.unhealthyThreshold == 5);
    CHECK(hc.expectedStatus == std::vector<std::pair<int, int>>{{204, 204}, {500, 503}});

    TempDir other;
    const std::string plain = other.write("sluice.json", kGateway);
    other.write("apis/a.json", apiWith("{}"));
    other.write("apis/b.json",
                R"({"name": "B", "context": "/b", "version": "v1", "endpoints": [{"url": "http://127.0.0.1:9"}],
        "resources": [{"uri_template": "/", "methods": ["GET"]}]})");
    ConfigLoadResult d = ConfigLoader::load(plain);
    INFO(errorsOf(d));
    REQUIRE(d.errors.empty());
    REQUIRE(d.config->apis.size() == 2);
    REQUIRE(d.config->apis[0].healthCheck.has_value());
    const HealthCheckConfig& defaults = *d.config->apis[0].healthCheck;
    CHECK(defaults.path == "/");
    CHECK(defaults.method == "GET");
    CHECK(defaults.intervalMs == 5000);
    CHECK(defaults.timeoutMs == 1000);
    CHECK(defaults.healthyThreshold == 2);
    CHECK(defaults.unhealthyThreshold == 3);
    CHECK(defaults.expectedStatus == std::vector<std::pair<int, int>>{{200, 399}});
    CHECK_FALSE(d.config->apis[1].healthCheck.has_value());  // no block: no probing at all
}

TEST_CASE("health_check: schema mistakes are reported at their JSON pointers")
{
    TempDir dir;
    const std::string config = dir.write("sluice.json", kGateway);
    const std::string file = dir.write("apis/a.json", apiWith(R"({"path": "health", "method": "POST",
        "interval_ms": 0, "timeout_ms": -5, "healthy_threshold": 0, "unhealthy_threshold": 101,
        "expected_status": [600, "2xx", true], "tcp": true})"));
    ConfigLoadResult r = ConfigLoader::load(config);
    INFO(errorsOf(r));
    CHECK(hasErrorAt(r, file, "/health_check/path"));
    CHECK(hasErrorAt(r, file, "/health_check/method"));
    CHECK(hasErrorAt(r, file, "/health_check/interval_ms"));
    CHECK(hasErrorAt(r, file, "/health_check/timeout_ms"));
    CHECK(hasErrorAt(r, file, "/health_check/healthy_threshold"));
    CHECK(hasErrorAt(r, file, "/health_check/unhealthy_threshold"));
    CHECK(hasErrorAt(r, file, "/health_check/expected_status/0"));
    CHECK(hasErrorAt(r, file, "/health_check/expected_status/1"));
    CHECK(hasErrorAt(r, file, "/health_check/expected_status/2"));
    CHECK(hasErrorAt(r, file, "/health_check"));  // the unknown "tcp" member
    CHECK(r.config->apis.empty());

    TempDir empty;
    const std::string config2 = empty.write("sluice.json", kGateway);
    const std::string file2 = empty.write("apis/a.json", apiWith(R"({"expected_status": []})"));
    ConfigLoadResult e = ConfigLoader::load(config2);
    INFO(errorsOf(e));
    CHECK(hasErrorAt(e, file2, "/health_check/expected_status"));
}

TEST_CASE("health_check: a status range written backwards is refused when the endpoints are built")
{
    ApiConfig api;
    api.file = "/etc/sluice-test/apis/svc.json";
    api.endpoints.push_back({"http://127.0.0.1:9", 1, "", ""});
    HealthCheckConfig hc;
    hc.expectedStatus = {{200, 299}, {399, 300}};
    api.healthCheck = hc;
    std::vector<ConfigError> errors;
    EndpointSet::build(api, errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].file == api.file);
    CHECK(errors[0].pointer == "/health_check/expected_status/1");
    CHECK(errors[0].message.find("399-300") != std::string::npos);
}

TEST_CASE("EndpointSet: pick() passes over an endpoint its health checks took out")
{
    auto set = checkedSet({"http://127.0.0.1:9", "http://127.0.0.1:10"});
    Endpoint& first = *set->endpoints()[0];
    Endpoint& second = *set->endpoints()[1];
    first.setHealthy(false);
    for (int i = 0; i < 6; ++i) {
        CHECK(set->pick(0, {}) == &second);
    }
    second.setHealthy(false);
    CHECK(set->pick(0, {}) == nullptr);  // the gateway answers 503 101507
    first.setHealthy(true);
    CHECK(set->pick(0, {}) == &first);
    // Suspension and health are independent: both must allow the endpoint.
    first.reportFailure(0, 0, set->suspension);
    CHECK(set->pick(1, {}) == nullptr);
}

TEST_CASE("HealthChecker: a checker probes only once activated, so building a configuration sends no traffic")
{
    auto built = HealthChecker::create({checkedSet({"http://127.0.0.1:9"})});
    CHECK(built->targetCount() == 1);
    CHECK_FALSE(built->probing());
    built->activate();
    CHECK(built->probing());
    built->activate();  // idempotent
    CHECK(built->probing());
}

TEST_CASE("HealthChecker: a generation without health_check blocks probes nothing and stops the one before")
{
    auto checked = HealthChecker::create({checkedSet({"http://127.0.0.1:9"})});
    checked->activate();
    REQUIRE(checked->probing());
    ApiConfig api;
    api.endpoints.push_back({"http://127.0.0.1:9", 1, "", ""});
    std::vector<ConfigError> errors;
    auto plain = HealthChecker::create({EndpointSet::build(api, errors)});
    plain->activate();
    REQUIRE(plain);
    CHECK(plain->targetCount() == 0);
    CHECK_FALSE(plain->probing());  // no thread at all
    CHECK_FALSE(checked->probing());
}

TEST_CASE("HealthChecker: only the newest checker probes, and destroying it resumes the one before")
{
    auto a = HealthChecker::create({checkedSet({"http://127.0.0.1:9"})});
    a->activate();
    REQUIRE(a);
    CHECK(a->probing());
    CHECK(a->targetCount() == 1);
    {
        auto b = HealthChecker::create({checkedSet({"http://127.0.0.1:9", "http://127.0.0.1:10"})});
        b->activate();
        REQUIRE(b);
        CHECK(b->probing());
        CHECK(b->targetCount() == 2);
        CHECK_FALSE(a->probing());  // its thread is stopped, not merely idle
    }
    CHECK(a->probing());
    auto c = HealthChecker::create({checkedSet({"http://127.0.0.1:11"})});
    c->activate();
    CHECK_FALSE(a->probing());
    a.reset();  // an older generation going away does not disturb the newest
    CHECK(c->probing());
}

TEST_CASE("HealthChecker: a refused endpoint goes down, and a newer checker starts with that state")
{
    RefusingPort down;
    auto first = checkedSet({down.url()}, 20, 2);
    auto checker = HealthChecker::create({first});
    checker->activate();
    REQUIRE(checker);
    CHECK(first->endpoints()[0]->healthy());  // endpoints start healthy
    REQUIRE(eventually([&] { return !first->endpoints()[0]->healthy(); }));

    // A reload: the same endpoint in a new generation is down before its first probe.
    auto second = checkedSet({down.url(), "http://127.0.0.1:9"}, 60000, 2);
    auto next = HealthChecker::create({second});
    next->activate();
    CHECK_FALSE(second->endpoints()[0]->healthy());
    CHECK(second->endpoints()[1]->healthy());  // a new endpoint starts healthy
}

TEST_CASE("HealthChecker: two APIs probing the same URL keep their own state in a newer checker")
{
    // Same endpoint, same probe, other thresholds: the state is the API's, not the URL's.
    RefusingPort down;
    auto lenient = checkedSet({down.url()}, 20, 100, "Lenient");
    auto strict = checkedSet({down.url()}, 20, 1, "Strict");
    auto checker = HealthChecker::create({lenient, strict});
    checker->activate();
    REQUIRE(eventually([&] { return !strict->endpoints()[0]->healthy(); }));
    CHECK(lenient->endpoints()[0]->healthy());

    auto lenientNext = checkedSet({down.url()}, 60000, 100, "Lenient");
    auto strictNext = checkedSet({down.url()}, 60000, 1, "Strict");
    auto next = HealthChecker::create({lenientNext, strictNext});
    next->activate();
    CHECK(lenientNext->endpoints()[0]->healthy());
    CHECK_FALSE(strictNext->endpoints()[0]->healthy());
}
