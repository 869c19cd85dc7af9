// http.max_connections: the shared count of client connections, its automatic value from the
// open-file limit, and the configuration value.
#include "sluice/runtime/transport/ConnectionBudget.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "sluice/runtime/Config.h"
#include "support/TempDir.h"

using sluice::runtime::ConfigLoader;
using sluice::runtime::ConfigLoadResult;
using sluice::runtime::transport::ConnectionBudget;
using sluice::test::TempDir;

TEST_CASE("ConnectionBudget: places are taken up to the limit and given back")
{
    ConnectionBudget budget(3);
    CHECK(budget.limit(0) == 3);  // 0: the automatic limit
    CHECK(budget.limit(5) == 5);
    CHECK(budget.take(2));
    CHECK(budget.take(2));
    CHECK_FALSE(budget.take(2));
    CHECK(budget.open() == 2);  // a refusal leaves the count as it was
    CHECK(budget.take(3));      // a reload raised the limit
    CHECK_FALSE(budget.take(3));
    budget.give();
    CHECK(budget.open() == 2);
    CHECK(budget.take(3));
}

TEST_CASE("ConnectionBudget: workers taking places at once never pass the limit together")
{
    ConnectionBudget budget(0);
    constexpr std::size_t kLimit = 1000;
    std::atomic<std::size_t> taken{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w) {
        workers.emplace_back([&] {
            for (int i = 0; i < 5000; ++i) {
                if (budget.take(kLimit)) {
                    ++taken;
                }
            }
        });
    }
    for (auto& t : workers) {
        t.join();
    }
    CHECK(taken.load() == kLimit);
    CHECK(budget.open() == kLimit);
}

TEST_CASE("ConnectionBudget: the automatic limit leaves a reserve and a backend descriptor per client")
{
    CHECK(ConnectionBudget::automaticLimit(1024) == 480);
    CHECK(ConnectionBudget::automaticLimit(65536) == 32736);
    CHECK(ConnectionBudget::automaticLimit(129) == 32);
    CHECK(ConnectionBudget::automaticLimit(128) == 32);  // small limits: a quarter
    CHECK(ConnectionBudget::automaticLimit(64) == 16);
    CHECK(ConnectionBudget::automaticLimit(3) == 1);
    CHECK(ConnectionBudget::automaticLimit(0) == 1);
}

TEST_CASE("ConfigLoader: http.max_connections is read, 0 by default, and must not be negative")
{
    TempDir dir;
    dir.write("apis/a.json", R"({"name": "A", "context": "/a", "version": "v1",
        "endpoints": [{"url": "http://127.0.0.1:9"}], "resources": [{"uri_template": "/", "methods": ["GET"]}]})");
    const std::string plain = dir.write("plain.json", R"({"listeners": [{"name": "http", "port": 0}]})");
    ConfigLoadResult defaults = ConfigLoader::load(plain);
    REQUIRE(defaults.config.has_value());
    CHECK(defaults.config->http.maxConnections == 0);

    const std::string set =
        dir.write("set.json", R"({"listeners": [{"name": "http", "port": 0}], "http": {"max_connections": 20000}})");
    ConfigLoadResult r = ConfigLoader::load(set);
    REQUIRE(r.config.has_value());
    CHECK(r.config->http.maxConnections == 20000);

    const std::string negative =
        dir.write("negative.json", R"({"listeners": [{"name": "http", "port": 0}], "http": {"max_connections": -1}})");
    ConfigLoadResult bad = ConfigLoader::load(negative);
    CHECK_FALSE(bad.config.has_value());
    bool named = false;
    for (const auto& e : bad.errors) {
        named = named || (e.file == negative && e.pointer == "/http/max_connections");
    }
    CHECK(named);
}
