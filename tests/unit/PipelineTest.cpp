// The handler chain: request hooks in order, short-circuit on Respond, the standard 500 on Error,
// response hooks in reverse order (also for local responses), log hooks last. Driven through real
// plugins: the steer fixture (C++ SDK), the good_c fixture (C) and the bundled correlation_id.
#include "sluice/runtime/Pipeline.h"

#include <memory>
#include <string>
#include <vector>

#include <Poco/JSON/Object.h>
#include <doctest/doctest.h>

#include "sluice/runtime/Json.h"
#include "sluice/runtime/Logging.h"
#include "sluice/runtime/Snapshot.h"
#include "support/TestPaths.h"

using namespace sluice::runtime;

namespace {

// Loaded once per process: instances refer to the registry's components.
const PluginRegistry& plugins()
{
    static const std::shared_ptr<PluginRegistry> registry = loadPlugins(
        {sluice::test::fixtureDir("steer"), sluice::test::fixtureDir("good_c"), sluice::test::bundledPluginDir()},
        Logging::get("loader"));
    return *registry;
}

std::shared_ptr<ComponentInstance> instance(const std::string& component, const std::string& name,
                                            const std::string& config)
{
    const LoadedComponent* c = plugins().find(component);
    REQUIRE_MESSAGE(c != nullptr, "component " << component << " is not loaded");
    std::string error;
    auto parsed = parseJson(config, error);
    REQUIRE_MESSAGE(parsed.has_value(), error);
    HandlerRef ref;
    ref.component = component;
    ref.name = name;
    ref.config = *parsed;
    ref.file = "pipeline-test.json";
    ref.pointer = "/handlers/0";
    std::vector<ConfigError> errors;
    auto created = ComponentInstance::create(*c, ref, "", errors);
    for (const auto& e : errors) {
        FAIL_CHECK(e.str());
    }
    REQUIRE(created != nullptr);
    return created;
}

std::shared_ptr<ComponentInstance> steer(const std::string& tag, const std::string& action = "continue")
{
    return instance("steer", "steer_" + tag, R"({"tag": ")" + tag + R"(", "action": ")" + action + R"("})");
}

std::vector<std::string> values(const HeaderList& headers, const std::string& name)
{
    std::vector<std::string> out;
    for (std::size_t i = 0; auto v = headers.get(name, i); ++i) {
        out.emplace_back(*v);
    }
    return out;
}

using Strings = std::vector<std::string>;

void checkStandard500(const Exchange& ex)
{
    REQUIRE(ex.localResponse.has_value());
    CHECK(ex.localResponse->status == 500);
    CHECK(ex.localResponse->contentType == "application/json");
    std::string error;
    auto body = parseJson(ex.localResponse->body, error);
    REQUIRE_MESSAGE(body.has_value(), error);
    auto obj = body->extract<Poco::JSON::Object::Ptr>();
    CHECK(obj->getValue<long>("code") == 101500);
    CHECK(obj->getValue<std::string>("message") == "Internal Server Error");
    CHECK_FALSE(obj->getValue<std::string>("description").empty());
}

}  // namespace

TEST_CASE("Pipeline: Continue runs every request hook in order and response hooks in reverse")
{
    Pipeline pipeline({steer("A"), steer("B"), steer("C")});
    Exchange ex;
    ChainResult request = pipeline.runRequest(ex);
    CHECK(request.outcome == ChainOutcome::Continue);
    CHECK(request.index == 3);
    CHECK(ex.phase == SLUICE_PHASE_REQUEST);
    CHECK(values(ex.requestHeaders, "x-trace") == Strings{"A", "B", "C"});
    CHECK_FALSE(ex.localResponse.has_value());

    ChainResult response = pipeline.runResponse(ex, request.index);
    CHECK(response.outcome == ChainOutcome::Continue);
    CHECK(ex.phase == SLUICE_PHASE_RESPONSE);
    CHECK(values(ex.responseHeaders, "X-Order") == Strings{"C", "B", "A"});

    pipeline.runLog(ex);
    CHECK(ex.phase == SLUICE_PHASE_LOG);
}

TEST_CASE("Pipeline: Respond short-circuits and only the handlers that ran see the response")
{
    Pipeline pipeline({steer("A"), steer("B", "respond"), steer("C")});
    Exchange ex;
    ChainResult request = pipeline.runRequest(ex);
    CHECK(request.outcome == ChainOutcome::Respond);
    CHECK(request.index == 1);
    CHECK(values(ex.requestHeaders, "X-Trace") == Strings{"A", "B"});  // C never ran
    REQUIRE(ex.localResponse.has_value());
    CHECK(ex.localResponse->status == 403);
    CHECK(ex.localResponse->contentType == "text/plain");
    CHECK(ex.localResponse->body == "denied by B");

    pipeline.runResponse(ex, request.index + 1);
    CHECK(values(ex.responseHeaders, "X-Order") == Strings{"B", "A"});
}

TEST_CASE("Pipeline: Error stops the chain with the standard 500 error")
{
    Pipeline pipeline({steer("A"), steer("E", "error"), steer("C")});
    Exchange ex;
    ChainResult request = pipeline.runRequest(ex);
    CHECK(request.outcome == ChainOutcome::Error);
    CHECK(request.index == 1);
    CHECK(values(ex.requestHeaders, "X-Trace") == Strings{"A", "E"});
    checkStandard500(ex);
}

TEST_CASE("Pipeline: a thrown exception in a C++ hook becomes the standard 500 error")
{
    Pipeline pipeline({steer("T", "throw"), steer("C")});
    Exchange ex;
    ChainResult request = pipeline.runRequest(ex);
    CHECK(request.outcome == ChainOutcome::Error);
    CHECK(request.index == 0);
    checkStandard500(ex);
}

TEST_CASE("Pipeline: Respond without a prepared response is treated as an error")
{
    Pipeline pipeline({steer("U", "respond_unprepared"), steer("C")});
    Exchange ex;
    ChainResult request = pipeline.runRequest(ex);
    CHECK(request.outcome == ChainOutcome::Error);
    CHECK(request.index == 0);
    checkStandard500(ex);
}

TEST_CASE("Pipeline: runRequest can start from a later handler")
{
    Pipeline pipeline({steer("A"), steer("B"), steer("C")});
    Exchange ex;
    ChainResult request = pipeline.runRequest(ex, 1);
    CHECK(request.outcome == ChainOutcome::Continue);
    CHECK(values(ex.requestHeaders, "X-Trace") == Strings{"B", "C"});
}

TEST_CASE("Pipeline: an empty chain continues")
{
    Pipeline pipeline;
    Exchange ex;
    CHECK(pipeline.runRequest(ex).outcome == ChainOutcome::Continue);
    CHECK(pipeline.runResponse(ex, 0).outcome == ChainOutcome::Continue);
    CHECK_FALSE(ex.localResponse.has_value());
}

TEST_CASE("Pipeline: the C99 plugin sets headers both ways and is refused a late request change")
{
    Pipeline pipeline({instance("good_c", "good_c", R"({"value": "from-config"})"), steer("A")});
    Exchange ex;
    REQUIRE(pipeline.runRequest(ex).outcome == ChainOutcome::Continue);
    CHECK(values(ex.requestHeaders, "x-good-c") == Strings{"from-config"});
    REQUIRE(pipeline.runResponse(ex, 2).outcome == ChainOutcome::Continue);
    CHECK(values(ex.responseHeaders, "X-Order") == Strings{"A"});
    CHECK(values(ex.responseHeaders, "X-Good-C") == Strings{"from-config"});
    CHECK(values(ex.responseHeaders, "X-Good-C-Phase") == Strings{"wrong_phase"});
    CHECK_FALSE(ex.requestHeaders.get("X-Too-Late").has_value());
}

TEST_CASE("Pipeline: the bundled correlation_id keeps a well-formed incoming ID and generates one otherwise")
{
    Pipeline pipeline({instance("correlation_id", "cid", R"({"header": "X-Request-ID"})")});

    SUBCASE("incoming ID kept and echoed")
    {
        Exchange ex;
        ex.requestHeaders.add("x-request-id", "abc-123");
        REQUIRE(pipeline.runRequest(ex).outcome == ChainOutcome::Continue);
        CHECK(values(ex.requestHeaders, "X-Request-ID") == Strings{"abc-123"});
        CHECK(ex.properties.get("correlation_id") == "abc-123");
        REQUIRE(pipeline.runResponse(ex, 1).outcome == ChainOutcome::Continue);
        CHECK(values(ex.responseHeaders, "X-Request-ID") == Strings{"abc-123"});
    }
    SUBCASE("malformed incoming ID replaced by a UUID")
    {
        Exchange ex;
        ex.requestHeaders.add("X-Request-ID", "bad id; rm -rf");
        REQUIRE(pipeline.runRequest(ex).outcome == ChainOutcome::Continue);
        auto id = values(ex.requestHeaders, "X-Request-ID");
        REQUIRE(id.size() == 1);
        CHECK(id[0].size() == 36);
        CHECK(id[0][14] == '4');
        CHECK(ex.properties.get("correlation_id") == id[0]);
        REQUIRE(pipeline.runResponse(ex, 1).outcome == ChainOutcome::Continue);
        CHECK(values(ex.responseHeaders, "X-Request-ID") == id);
    }
}
