// A bad plugin that the configuration uses stops start-up with an error naming the component and
// the refused file; an unused bad plugin is only a warning. Component configuration is checked
// against the component's schema, and create() failures are reported with their reason.
#include "sluice/runtime/Snapshot.h"

#include <cstdlib>
#include <ostream>  // doctest prints a shared_ptr through operator<< of its pointer
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "sluice/runtime/Gateway.h"
#include "sluice/runtime/Json.h"
#include "sluice/runtime/Logging.h"
#include "support/TempDir.h"
#include "support/TestPaths.h"

using namespace sluice::runtime;
using sluice::test::fixtureDir;
using sluice::test::fixtureFile;
using sluice::test::TempDir;

namespace {

const std::string kConfigFile = "/etc/sluice-test/sluice.json";

Poco::Dynamic::Var json(const std::string& text)
{
    std::string error;
    auto value = parseJson(text, error);
    REQUIRE_MESSAGE(value.has_value(), error);
    return *value;
}

HandlerRef handler(const std::string& component, const std::string& config = "{}",
                   const std::string& file = kConfigFile, const std::string& pointer = "/handlers/0")
{
    HandlerRef ref;
    ref.component = component;
    ref.name = component;
    ref.config = json(config);
    ref.file = file;
    ref.pointer = pointer;
    return ref;
}

GatewayConfig gatewayWith(std::vector<HandlerRef> handlers)
{
    GatewayConfig config;
    config.file = kConfigFile;
    config.handlers = std::move(handlers);
    ApiConfig api;
    api.file = "/etc/sluice-test/apis/pets.json";
    api.name = "Pets";
    api.context = "/pets";
    api.version = "v1";
    api.endpoints.push_back(EndpointConfig{"http://127.0.0.1:9", 1, "", ""});
    api.resources.push_back(ResourceConfig{"/pets", {"GET"}, {}});
    config.apis.push_back(api);
    return config;
}

std::shared_ptr<const PluginRegistry> plugins(const std::vector<std::string>& cases)
{
    std::vector<std::string> dirs;
    for (const auto& c : cases) {
        dirs.push_back(fixtureDir(c));
    }
    return loadPlugins(dirs, Logging::get("loader"));
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("Snapshot: a refused plugin that the configuration uses stops start-up")
{
    auto registry = plugins({"newer_minor", "good_c"});
    SnapshotResult r = buildSnapshot(gatewayWith({handler("newer_minor")}), registry);
    CHECK(r.snapshot == nullptr);
    REQUIRE(r.errors.size() == 1);
    const ConfigError& e = r.errors.front();
    INFO(e.str());
    CHECK(e.file == kConfigFile);
    CHECK(e.pointer == "/handlers/0/component");
    CHECK(contains(e.message, "'newer_minor'"));
    CHECK(contains(e.message, fixtureFile("newer_minor", "newer_minor.so")));
    CHECK(contains(e.message, "newer minor"));
    CHECK(r.warnings.empty());
}

TEST_CASE("Snapshot: a refused plugin that the configuration does not use is only a warning")
{
    auto registry = plugins({"newer_minor", "bad_version", "good_c"});
    SnapshotResult r = buildSnapshot(gatewayWith({handler("good_c")}), registry);
    CHECK(r.errors.empty());
    REQUIRE(r.snapshot != nullptr);
    CHECK(r.snapshot->instanceCount == 1);
    REQUIRE(r.warnings.size() == 2);
    CHECK(r.warnings[0].file == fixtureFile("newer_minor", "newer_minor.so"));
    CHECK(r.warnings[1].file == fixtureFile("bad_version", "bad_version.so"));
    CHECK(contains(r.warnings[1].message, "invalid version string '1.x'"));
}

TEST_CASE("Snapshot: an unknown component names the plugin files that could not be loaded")
{
    auto registry = plugins({"no_entry", "good_c"});
    SnapshotResult r = buildSnapshot(gatewayWith({handler("mystery")}), registry);
    CHECK(r.snapshot == nullptr);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].pointer == "/handlers/0/component");
    CHECK(contains(r.errors[0].message, "no loaded plugin provides component 'mystery'"));
    CHECK(contains(r.errors[0].message, fixtureFile("no_entry", "no_entry.so")));
}

// "10.1.2.3/8" would trust all of 10.0.0.0/8: likely a typo for /32, so it is an error.
TEST_CASE("Snapshot: a trusted_proxies block with address bits beyond its prefix is an error")
{
    auto registry = plugins({"good_c"});
    GatewayConfig config = gatewayWith({});
    config.http.trustedProxies = {"10.0.0.0/8",    "10.1.2.3/8",     "192.168.1.7",
                                  "2001:DB8::/32", "2001:db8::1/32", "0.0.0.0/0"};
    SnapshotResult r = buildSnapshot(config, registry);
    REQUIRE(r.errors.size() == 2);
    CHECK(r.errors[0].pointer == "/http/trusted_proxies/1");
    CHECK(r.errors[0].message ==
          "'10.1.2.3/8' has address bits beyond its prefix: write 10.0.0.0/8 if that block is meant");
    CHECK(r.errors[1].pointer == "/http/trusted_proxies/4");
    CHECK(contains(r.errors[1].message, "write 2001:db8::/32 if that block is meant"));
}

TEST_CASE("Snapshot: a configuration rejected by the component's schema is reported at its pointer")
{
    auto registry = plugins({"strict_schema"});

    SUBCASE("wrong type in the global chain")
    {
        SnapshotResult r = buildSnapshot(gatewayWith({handler("strict_schema", R"({"limit": "ten"})")}), registry);
        CHECK(r.snapshot == nullptr);
        REQUIRE(r.errors.size() == 1);
        const ConfigError& e = r.errors.front();
        INFO(e.str());
        CHECK(e.file == kConfigFile);
        CHECK(e.pointer == "/handlers/0/config/limit");
        CHECK(contains(e.message, "type"));
        CHECK(contains(e.message, "component 'strict_schema'"));
        CHECK(contains(e.message, fixtureFile("strict_schema", "strict_schema.so")));
    }
    SUBCASE("a missing required member is reported at the config block itself")
    {
        SnapshotResult r = buildSnapshot(gatewayWith({handler("strict_schema", "{}")}), registry);
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].pointer == "/handlers/0/config");
        CHECK(contains(r.errors[0].message, "limit"));
    }
    SUBCASE("in an API's resource chain, with the API file")
    {
        GatewayConfig config = gatewayWith({});
        const std::string apiFile = config.apis[0].file;
        config.apis[0].resources[0].handlers.push_back(
            handler("strict_schema", R"({"limit": 500})", apiFile, "/resources/0/handlers/0"));
        SnapshotResult r = buildSnapshot(config, registry);
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].file == apiFile);
        CHECK(r.errors[0].pointer == "/resources/0/handlers/0/config/limit");
        CHECK(contains(r.errors[0].message, "less than or equal to 100"));
    }
    SUBCASE("a valid configuration creates the instance")
    {
        SnapshotResult r = buildSnapshot(gatewayWith({handler("strict_schema", R"({"limit": 10})")}), registry);
        CHECK(r.errors.empty());
        REQUIRE(r.snapshot != nullptr);
        CHECK(r.snapshot->instanceCount == 1);
        REQUIRE(r.snapshot->apis.size() == 1);
        CHECK(r.snapshot->apis[0].pipeline.handlers().size() == 1);
    }
}

TEST_CASE("Snapshot: a component that takes no configuration refuses one")
{
    auto registry = plugins({"create_fails"});
    SnapshotResult r = buildSnapshot(gatewayWith({handler("create_fails", R"({"secret": "x"})")}), registry);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].pointer == "/handlers/0/config");
    CHECK(contains(r.errors[0].message, "component 'create_fails' takes no configuration"));
}

TEST_CASE("Snapshot: a failing create() is reported with the plugin's reason and file")
{
    auto registry = plugins({"create_fails"});
    SnapshotResult r = buildSnapshot(gatewayWith({handler("create_fails")}), registry);
    CHECK(r.snapshot == nullptr);
    REQUIRE(r.errors.size() == 1);
    const ConfigError& e = r.errors.front();
    INFO(e.str());
    CHECK(e.file == kConfigFile);
    CHECK(e.pointer == "/handlers/0");
    CHECK(e.message == "create failed for component 'create_fails' from " +
                           fixtureFile("create_fails", "create_fails.so") +
                           ": fixture refuses to start: no secret configured");
}

TEST_CASE("Snapshot: every configuration error is reported in one build")
{
    auto registry = plugins({"strict_schema", "create_fails", "newer_minor"});
    GatewayConfig config = gatewayWith({handler("strict_schema", R"({"limit": true})", kConfigFile, "/handlers/0"),
                                        handler("create_fails", "{}", kConfigFile, "/handlers/1"),
                                        handler("newer_minor", "{}", kConfigFile, "/handlers/2")});
    SnapshotResult r = buildSnapshot(config, registry);
    CHECK(r.snapshot == nullptr);
    REQUIRE(r.errors.size() == 3);
    CHECK(r.errors[0].pointer == "/handlers/0/config/limit");
    CHECK(r.errors[1].pointer == "/handlers/1");
    CHECK(r.errors[2].pointer == "/handlers/2/component");
}

TEST_CASE("Snapshot: global handlers run by priority and an API's own chain after them in written order")
{
    auto registry = loadPlugins({fixtureDir("steer"), fixtureDir("good_c")}, Logging::get("loader"));
    GatewayConfig config = gatewayWith({handler("steer", R"({"tag": "s"})", kConfigFile, "/handlers/0"),
                                        handler("good_c", "{}", kConfigFile, "/handlers/1")});
    HandlerRef own = handler("steer", R"({"tag": "own"})", config.apis[0].file, "/handlers/0");
    own.name = "steer_own";
    config.apis[0].handlers.push_back(own);
    SnapshotResult r = buildSnapshot(config, registry);
    REQUIRE(r.snapshot != nullptr);
    const auto& chain = r.snapshot->apis[0].pipeline.handlers();
    REQUIRE(chain.size() == 3);
    CHECK(chain[0]->name() == "good_c");  // priority 50
    CHECK(chain[1]->name() == "steer");   // priority 10
    CHECK(chain[2]->name() == "steer_own");
    CHECK(r.snapshot->apis[0].resources.at(0).pipeline.handlers().size() == 3);
}

TEST_CASE("Gateway: a configured bad plugin stops loading and a bad reload keeps the running snapshot")
{
    ::setenv("SLUICE_BUNDLED_PLUGIN_DIR", sluice::test::bundledPluginDir().c_str(), 1);
    TempDir dir;
    const std::string api = R"({"name": "Pets", "context": "/pets", "version": "v1",
        "endpoints": [{"url": "http://127.0.0.1:9"}],
        "resources": [{"uri_template": "/pets", "methods": ["GET"]}]})";
    dir.write("apis/pets.json", api);
    const std::string good = R"({"listeners": [{"name": "http", "host": "127.0.0.1", "port": 0}],
        "handlers": [{"component": "correlation_id"}, {"component": "good_c", "config": {"value": "v"}}]})";
    const std::string bad = R"({"listeners": [{"name": "http", "host": "127.0.0.1", "port": 0}],
        "handlers": [{"component": "correlation_id"}, {"component": "newer_minor"}]})";
    const std::string config = dir.write("sluice.json", bad);
    Gateway gateway({config, {fixtureDir("good_c"), fixtureDir("newer_minor")}});

    SnapshotResult first = gateway.load();
    CHECK(first.snapshot == nullptr);
    CHECK(gateway.current() == nullptr);
    REQUIRE(first.errors.size() == 1);
    CHECK(first.errors[0].file == config);
    CHECK(first.errors[0].pointer == "/handlers/1/component");
    CHECK(contains(first.errors[0].message, fixtureFile("newer_minor", "newer_minor.so")));

    dir.write("sluice.json", good);
    SnapshotResult second = gateway.load();
    CHECK(second.errors.empty());
    REQUIRE(second.snapshot != nullptr);
    CHECK(second.snapshot->instanceCount == 2);
    REQUIRE(second.warnings.size() == 1);  // newer_minor is no longer used
    CHECK(second.warnings[0].file == fixtureFile("newer_minor", "newer_minor.so"));
    CHECK(gateway.current() == nullptr);  // loaded, not installed
    gateway.install(second.snapshot);
    auto running = gateway.current();
    CHECK(running == second.snapshot);

    dir.write("sluice.json", bad);
    SnapshotResult third = gateway.load();
    CHECK(third.snapshot == nullptr);
    CHECK_FALSE(third.errors.empty());
    CHECK(gateway.current() == running);
}

TEST_CASE("Snapshot: plugin directories are the bundled one, then configured, then extra, without repeats")
{
    ::setenv("SLUICE_BUNDLED_PLUGIN_DIR", "/opt/bundled", 1);
    GatewayConfig config;
    config.pluginDirectories = {"/srv/plugins", "/opt/bundled"};
    auto dirs = pluginDirectories(&config, {"/extra", "/srv/plugins"});
    ::unsetenv("SLUICE_BUNDLED_PLUGIN_DIR");
    CHECK(dirs == std::vector<std::string>{"/opt/bundled", "/srv/plugins", "/extra"});
}
