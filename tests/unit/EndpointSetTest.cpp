// Load balancing and suspension of one API's endpoints, without a gateway process: how the share
// of an endpoint that is out goes to the others, WSO2's suspension semantics (one stall is one
// failure, back-off grows only after the endpoint came back), arithmetic that saturates instead
// of overflowing, and the suspension a reload carries over.
#include "sluice/runtime/upstream/EndpointSet.h"

#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "sluice/runtime/Config.h"

using namespace sluice::runtime;
using namespace sluice::runtime::upstream;

namespace {

ApiConfig apiOf(const std::vector<std::pair<std::string, int>>& endpoints)
{
    ApiConfig api;
    api.file = "/etc/sluice-test/apis/svc.json";
    api.name = "Svc";
    api.version = "v1";
    for (const auto& [url, weight] : endpoints) {
        api.endpoints.push_back({url, weight, "", ""});
    }
    return api;
}

std::shared_ptr<EndpointSet> setOf(const ApiConfig& api)
{
    std::vector<ConfigError> errors;
    auto set = EndpointSet::build(api, errors);
    REQUIRE(errors.empty());
    return set;
}

std::map<std::string, int> share(EndpointSet& set, int picks, std::int64_t nowMs)
{
    std::map<std::string, int> count;
    for (int i = 0; i < picks; ++i) {
        Endpoint* e = set.pick(nowMs, {});
        REQUIRE(e != nullptr);
        ++count[e->url];
    }
    return count;
}

}  // namespace

TEST_CASE("EndpointSet: the share of an endpoint that is out goes to the others by weight, not to one neighbour")
{
    auto set = setOf(apiOf(
        {{"http://127.0.0.1:1", 1}, {"http://127.0.0.1:2", 1}, {"http://127.0.0.1:3", 1}, {"http://127.0.0.1:4", 1}}));
    set->endpoints()[1]->setHealthy(false);
    auto even = share(*set, 1200, 0);
    CHECK(even["http://127.0.0.1:1"] == 400);
    CHECK(even["http://127.0.0.1:3"] == 400);
    CHECK(even["http://127.0.0.1:4"] == 400);

    set->endpoints()[2]->setHealthy(false);
    auto two = share(*set, 1200, 0);
    CHECK(two["http://127.0.0.1:1"] == 600);
    CHECK(two["http://127.0.0.1:4"] == 600);

    // Weights 1:2:3 with the heaviest out: the other two keep their 1:2.
    auto weighted = setOf(apiOf({{"http://127.0.0.1:1", 1}, {"http://127.0.0.1:2", 2}, {"http://127.0.0.1:3", 3}}));
    weighted->endpoints()[2]->reportFailure(0, 0, weighted->suspension);
    auto rest = share(*weighted, 900, 1);
    CHECK(rest["http://127.0.0.1:1"] == 300);
    CHECK(rest["http://127.0.0.1:2"] == 600);
    CHECK(rest.count("http://127.0.0.1:3") == 0);
}

TEST_CASE("EndpointSet: a second failover group shares its load evenly while the first is out")
{
    ApiConfig api = apiOf({{"http://127.0.0.1:1", 1}, {"http://127.0.0.1:2", 1}, {"http://127.0.0.1:3", 1}});
    api.endpoints[1].group = "backup";
    api.endpoints[2].group = "backup";
    auto set = setOf(api);
    set->endpoints()[0]->setHealthy(false);
    auto backup = share(*set, 100, 0);
    CHECK(backup["http://127.0.0.1:2"] == 50);
    CHECK(backup["http://127.0.0.1:3"] == 50);
    set->endpoints()[0]->setHealthy(true);
    CHECK(share(*set, 10, 0)["http://127.0.0.1:1"] == 10);
}

TEST_CASE("EndpointSet: extreme weights: the heaviest endpoint's share, while it is out, goes to the others in turn")
{
    auto set = setOf(apiOf({{"http://127.0.0.1:1", 1000}, {"http://127.0.0.1:2", 1}, {"http://127.0.0.1:3", 1}}));
    auto all = share(*set, 1002, 0);
    CHECK(all["http://127.0.0.1:1"] == 1000);
    CHECK(all["http://127.0.0.1:2"] == 1);
    CHECK(all["http://127.0.0.1:3"] == 1);

    set->endpoints()[0]->setHealthy(false);
    auto rest = share(*set, 1000, 0);
    CHECK(rest["http://127.0.0.1:2"] == 500);
    CHECK(rest["http://127.0.0.1:3"] == 500);

    // A retry after the one left failed: nothing else in the group, so the backup group.
    ApiConfig withBackup = apiOf({{"http://127.0.0.1:1", 1000}, {"http://127.0.0.1:2", 1}, {"http://127.0.0.1:4", 1}});
    withBackup.endpoints[2].group = "backup";
    auto failover = setOf(withBackup);
    failover->endpoints()[0]->setHealthy(false);
    Endpoint* first = failover->pick(0, {});
    REQUIRE(first != nullptr);
    CHECK(first->url == "http://127.0.0.1:2");
    Endpoint* retry = failover->pick(0, {first});
    REQUIRE(retry != nullptr);
    CHECK(retry->url == "http://127.0.0.1:4");
    CHECK(failover->pick(0, {first, retry}) == nullptr);
}

TEST_CASE("Endpoint: failures of attempts under way when it was suspended do not grow the back-off")
{
    SuspensionPolicy policy;  // 30 s, x2, up to 300 s
    Endpoint e;
    CHECK(e.reportFailure(1000, 900, policy) == 30000);
    // Thirty attempts caught by the same stall fail one after another: still 30 s.
    for (int i = 0; i < 30; ++i) {
        CHECK(e.reportFailure(1000 + i, 950, policy) == 0);
    }
    CHECK(e.suspendedUntilMs() == 31000);
    // ...and one that succeeds meanwhile does not lift the suspension.
    e.reportSuccess(2000, 950);
    CHECK_FALSE(e.available(2000));
    CHECK(e.available(31000));

    // Once it is back, a failure of a new attempt doubles the duration, and a success clears it.
    CHECK(e.reportFailure(31000, 31000, policy) == 60000);
    CHECK(e.reportFailure(91000, 91000, policy) == 120000);
    e.reportSuccess(211000, 211000);
    CHECK(e.available(211000));
    CHECK(e.reportFailure(211000, 211000, policy) == 30000);
}

// Workers report at the same moment when a backend restarts and resets connections on each: one
// stall, one suspension, and the back-off does not grow once per worker. Each round starts two
// threads released together; a check and stores that were not one step let both through in some
// rounds.
TEST_CASE("Endpoint: failures reported at once by two workers count as one")
{
    SuspensionPolicy policy;  // 30 s, x2, up to 300 s
    int doubled = 0;
    for (int round = 0; round < 3000; ++round) {
        Endpoint e;
        std::atomic<int> ready{0};
        std::atomic<bool> go{false};
        std::int64_t results[2] = {-1, -1};
        std::thread other([&] {
            ready.fetch_add(1);
            while (!go.load()) {
            }
            results[1] = e.reportFailure(1000, 900, policy);
        });
        while (ready.load() < 1) {
        }
        go.store(true);
        results[0] = e.reportFailure(1000, 900, policy);
        other.join();
        const int counted = (results[0] != 0 ? 1 : 0) + (results[1] != 0 ? 1 : 0);
        if (counted != 1 || e.suspendedUntilMs() != 31000) {
            ++doubled;
        }
    }
    CHECK(doubled == 0);
}

TEST_CASE("Endpoint: an old attempt that ends after the suspension lapsed is still part of that suspension")
{
    // read_ms longer than initial_ms (the defaults: 60 s and 30 s): attempts of one stall time
    // out after the endpoint came back, and must not count as new failures, nor (when one ends
    // well) clear the back-off.
    SuspensionPolicy policy;
    policy.initialMs = 500;
    Endpoint e;
    CHECK(e.reportFailure(2000, 0, policy) == 500);  // the first of them times out at 2000
    CHECK(e.reportFailure(2600, 100, policy) == 0);  // lapsed at 2500, but began at 100
    CHECK(e.reportFailure(3900, 1900, policy) == 0);
    e.reportSuccess(4000, 1950);
    CHECK(e.reportFailure(4000, 3000, policy) == 1000);  // a new attempt: the back-off grows
}

TEST_CASE("Endpoint: the back-off saturates at max_ms, however large the factor or the time")
{
    SuspensionPolicy huge;
    huge.initialMs = 300;
    huge.maxMs = 86400000;
    huge.factor = 1e300;
    Endpoint e;
    CHECK(e.reportFailure(0, 0, huge) == 300);
    CHECK(e.reportFailure(300, 300, huge) == 86400000);
    CHECK(e.reportFailure(86400300, 86400300, huge) == 86400000);  // stays at the cap, never wraps to 0

    // A clock near the end of int64 saturates the end of the suspension instead of wrapping.
    Endpoint late;
    const std::int64_t almostEnd = std::numeric_limits<std::int64_t>::max() - 10;
    CHECK(late.reportFailure(almostEnd, almostEnd, huge) == 300);
    CHECK(late.suspendedUntilMs() == std::numeric_limits<std::int64_t>::max());
    CHECK_FALSE(late.available(almostEnd + 5));
}

TEST_CASE("EndpointSet: max_ms below initial_ms is a configuration error")
{
    ApiConfig api = apiOf({{"http://127.0.0.1:1", 1}});
    api.suspendInitialMs = 1500;
    api.suspendMaxMs = 500;
    std::vector<ConfigError> errors;
    EndpointSet::build(api, errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].pointer == "/suspension/max_ms");
    CHECK(errors[0].message.find("less than initial_ms 1500") != std::string::npos);
}

TEST_CASE("EndpointSet: an endpoint URL's path must be a plain path, as it goes in front of every canonical path")
{
    // The backend would get a path no route or policy saw: "/a/../b/x", "//b/x" (read as an
    // authority by some URL parsers), "/b%zz/x".
    for (const char* path : {"/a/../b", "/a/./b", "/%2e%2e/b", "/b%zz", "/b%00", "//b", "/b//c", "/b%2Fc"}) {
        CAPTURE(path);
        ApiConfig api = apiOf({{std::string("http://127.0.0.1:1") + path, 1}});
        std::vector<ConfigError> errors;
        EndpointSet::build(api, errors);
        REQUIRE(errors.size() == 1);
        CHECK(errors[0].pointer == "/endpoints/0/url");
        CHECK(errors[0].message.find(std::string("its path '") + path + "' is not a plain path") != std::string::npos);
    }
    for (const char* path : {"", "/", "/b", "/b/", "/b/c%20d", "/b~c/%C3%A9"}) {
        CAPTURE(path);
        std::vector<ConfigError> errors;
        EndpointSet::build(apiOf({{std::string("http://127.0.0.1:1") + path, 1}}), errors);
        CHECK(errors.empty());
    }
}

TEST_CASE("EndpointSet: the same backend listed twice is a configuration error")
{
    // They would share one suspension, and a retry could be spent on the same backend again.
    std::vector<ConfigError> errors;
    EndpointSet::build(apiOf({{"http://127.0.0.1:1/b", 1}, {"http://127.0.0.2:1/b", 1}, {"http://127.0.0.1:1/b/", 2}}),
                       errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].pointer == "/endpoints/2/url");
    CHECK(errors[0].message.find("the same backend as /endpoints/0") != std::string::npos);
    // Another port, path (its case too) or scheme is another backend.
    errors.clear();
    EndpointSet::build(apiOf({{"http://127.0.0.1:1/b", 1},
                              {"http://127.0.0.1:2/b", 1},
                              {"http://127.0.0.1:1/c", 1},
                              {"https://127.0.0.1:1/b", 1},
                              {"http://127.0.0.1:1/B", 1}}),
                       errors);
    CHECK(errors.empty());
}

TEST_CASE("EndpointSet: a reload keeps the suspension of the same endpoints, within the new policy")
{
    auto before = setOf(apiOf({{"http://127.0.0.1:1", 1}, {"http://127.0.0.1:2", 1}}));
    CHECK(before->endpoints()[0]->reportFailure(100, 100, before->suspension) == 30000);
    CHECK(before->endpoints()[0]->reportFailure(30100, 30100, before->suspension) == 60000);

    // The new configuration drops :2, adds :3 and keeps :1 (written with a trailing slash).
    auto after = setOf(apiOf({{"http://127.0.0.1:3", 1}, {"http://127.0.0.1:1/", 1}}));
    after->takeSuspensionFrom(*before, 30200);
    const Endpoint& kept = *after->endpoints()[1];
    CHECK(kept.suspendedUntilMs() == 90100);
    CHECK_FALSE(kept.available(90000));
    CHECK(after->endpoints()[0]->available(0));
    // The back-off level came along too: the next failure after it is back doubles again.
    CHECK(after->endpoints()[1]->reportFailure(90100, 90100, after->suspension) == 120000);

    // A new policy bounds what is carried: a shorter max_ms shortens it, initial_ms 0 drops it.
    ApiConfig shorter = apiOf({{"http://127.0.0.1:1", 1}});
    shorter.suspendInitialMs = 1000;
    shorter.suspendMaxMs = 2000;
    auto capped = setOf(shorter);
    capped->takeSuspensionFrom(*before, 30200);
    CHECK(capped->endpoints()[0]->suspendedUntilMs() == 32200);
    ApiConfig off = apiOf({{"http://127.0.0.1:1", 1}});
    off.suspendInitialMs = 0;
    off.suspendMaxMs = 0;
    auto none = setOf(off);
    none->takeSuspensionFrom(*before, 30200);
    CHECK(none->endpoints()[0]->available(30200));
}

TEST_CASE("Endpoint: retarget points new connections at another address, with a pool key of its own")
{
    auto set = setOf(apiOf({{"http://127.0.0.1:8080/base", 1}, {"http://localhost:8081", 1}}));
    Endpoint& literal = *set->endpoints()[0];
    Endpoint& named = *set->endpoints()[1];
    CHECK_FALSE(literal.hostIsName);
    CHECK(named.hostIsName);
    CHECK(literal.target().address.str() == "127.0.0.1:8080");
    CHECK(literal.target().poolKey == "http|127.0.0.1:8080|");

    std::string error;
    auto other = transport::resolve("127.0.0.2", 8080, error);
    REQUIRE(other.size() == 1);
    const EndpointTarget* first = &literal.target();
    CHECK_FALSE(literal.retarget(first->address));  // the current one: nothing changes
    CHECK(&literal.target() == first);
    CHECK(literal.retarget(other.front()));
    CHECK(literal.target().address.str() == "127.0.0.2:8080");
    CHECK(literal.target().poolKey == "http|127.0.0.2:8080|");
    // Back to an address it had: the same target as before (targets are kept, never freed while
    // the endpoint lives, so a worker holding a reference to one is never left dangling).
    const EndpointTarget* second = &literal.target();
    CHECK(literal.retarget(first->address));
    CHECK(&literal.target() == first);
    CHECK(second->address.str() == "127.0.0.2:8080");
}

TEST_CASE("isIpLiteral: addresses the resolver reads without a lookup")
{
    for (const char* literal : {"127.0.0.1", "::1", "[::1]", "10.1.2.3", "127.1", "2130706433"}) {
        CAPTURE(literal);
        CHECK(transport::isIpLiteral(literal));
    }
    for (const char* name : {"localhost", "backend.example", "127.0.0.1.example", ""}) {
        CAPTURE(name);
        CHECK_FALSE(transport::isIpLiteral(name));
    }
}

TEST_CASE("Address: equal when family, address and port are")
{
    std::string error;
    const auto a = transport::resolve("127.0.0.1", 80, error).front();
    CHECK(a == transport::resolve("127.1", 80, error).front());  // the same address written otherwise
    CHECK_FALSE(a == transport::resolve("127.0.0.1", 81, error).front());
    CHECK_FALSE(a == transport::resolve("127.0.0.2", 80, error).front());
    const auto v6 = transport::resolve("::1", 80, error).front();
    CHECK(v6 == transport::resolve("[::1]", 80, error).front());
    CHECK_FALSE(a == v6);
}
