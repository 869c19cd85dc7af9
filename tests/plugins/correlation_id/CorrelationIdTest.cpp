#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <regex>
#include <string>

#include <sluice/sdk/testing/FakeHost.hpp>

using sluice::sdk::testing::FakeHost;

namespace {

const std::regex kUuid4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");

struct Fixture {
    FakeHost host;
    Fixture() { host.open(SLUICE_PLUGIN_PATH); }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "manifest describes one handler component")
{
    const sluice_component* c = host.find("correlation_id");
    REQUIRE(c != nullptr);
    CHECK(c->kind == SLUICE_KIND_HANDLER);
    CHECK(std::string(c->version) == "1.0.0");
    REQUIRE(c->config_schema != nullptr);
    CHECK(std::string(c->config_schema).find("\"trust_incoming\"") != std::string::npos);
}

TEST_CASE_FIXTURE(Fixture, "generates an ID when the client sends none and echoes it")
{
    auto h = host.create("correlation_id");
    auto ex = host.exchange();
    CHECK(host.request(*h, ex) == SLUICE_ACTION_CONTINUE);
    auto sent = ex.requestHeader("X-Correlation-ID");
    REQUIRE(sent);
    CHECK(std::regex_match(*sent, kUuid4));
    CHECK(ex.properties.at("correlation_id") == *sent);

    CHECK(host.response(*h, ex) == SLUICE_ACTION_CONTINUE);
    CHECK(ex.responseHeader("x-correlation-id") == sent);
}

TEST_CASE_FIXTURE(Fixture, "two exchanges get different IDs")
{
    auto h = host.create("correlation_id");
    auto a = host.exchange();
    auto b = host.exchange();
    host.request(*h, a);
    host.request(*h, b);
    CHECK(*a.requestHeader("X-Correlation-ID") != *b.requestHeader("X-Correlation-ID"));
}

TEST_CASE_FIXTURE(Fixture, "keeps a well-formed incoming ID")
{
    auto h = host.create("correlation_id");
    auto ex = host.exchange();
    ex.requestHeaders.push_back({"x-correlation-id", "order-42:retry.1"});
    host.request(*h, ex);
    CHECK(ex.requestHeader("X-Correlation-ID") == std::string("order-42:retry.1"));
    // set() replaced the client's header rather than adding a second one
    CHECK(ex.header(ex.requestHeaders, "X-Correlation-ID", 1) == std::nullopt);
}

TEST_CASE_FIXTURE(Fixture, "replaces a malformed or oversized incoming ID")
{
    auto h = host.create("correlation_id", R"({"max_length": 16})");
    for (std::string bad : {std::string("has space"), std::string("semi;colon"), std::string(17, 'a')}) {
        auto ex = host.exchange();
        ex.requestHeaders.push_back({"X-Correlation-ID", bad});
        host.request(*h, ex);
        auto id = ex.requestHeader("X-Correlation-ID");
        REQUIRE(id);
        CHECK(*id != bad);
        CHECK(std::regex_match(*id, kUuid4));
    }
}

TEST_CASE_FIXTURE(Fixture, "trust_incoming=false always generates")
{
    auto h = host.create("correlation_id", R"({"trust_incoming": false})");
    auto ex = host.exchange();
    ex.requestHeaders.push_back({"X-Correlation-ID", "client-chosen"});
    host.request(*h, ex);
    CHECK(*ex.requestHeader("X-Correlation-ID") != "client-chosen");
}

TEST_CASE_FIXTURE(Fixture, "custom header and property, no echo")
{
    auto h =
        host.create("correlation_id", R"({"header": "X-Request-ID", "property": "rid", "echo_in_response": false})");
    auto ex = host.exchange();
    host.request(*h, ex);
    REQUIRE(ex.requestHeader("X-Request-ID"));
    CHECK(ex.requestHeader("X-Correlation-ID") == std::nullopt);
    CHECK(ex.properties.at("rid") == *ex.requestHeader("X-Request-ID"));
    host.response(*h, ex);
    CHECK(ex.responseHeader("X-Request-ID") == std::nullopt);
}

TEST_CASE_FIXTURE(Fixture, "a local response produced before the handler ran still gets an ID")
{
    auto h = host.create("correlation_id");
    auto ex = host.exchange();
    CHECK(host.response(*h, ex) == SLUICE_ACTION_CONTINUE);
    auto id = ex.responseHeader("X-Correlation-ID");
    REQUIRE(id);
    CHECK(std::regex_match(*id, kUuid4));
}

TEST_CASE_FIXTURE(Fixture, "a host that refuses the header makes the hook fail, not crash")
{
    auto h = host.create("correlation_id");
    auto ex = host.exchange();
    // In the LOG phase the request is read-only: the fake host refuses set, as the runtime does.
    ex.phase = SLUICE_PHASE_LOG;
    const auto* vt = static_cast<const sluice_handler_vtable*>(h->component().vtable);
    CHECK(vt->on_request(h->get(), ex.handle()) == SLUICE_ACTION_ERROR);
    REQUIRE_FALSE(host.logs().empty());
    CHECK(host.logs().back().level == SLUICE_LOG_ERROR);
    CHECK(host.logs().back().logger == "plugin.correlation_id");
}
