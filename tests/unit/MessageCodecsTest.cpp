// Builders of ABI 1.0 and 1.1 side by side: the runtime calls build_message when a builder's
// table has it, with the message kind and the whole Content-Type, and build otherwise; every
// instance is told the configuration directory. Fixtures: tests/abi/fixtures/builder_1_*.c.
#include "sluice/runtime/MessageCodecs.h"

#include <map>
#include <string>

#include <doctest/doctest.h>

#include "sluice/runtime/HostApi.h"
#include "sluice/runtime/Logging.h"
#include "support/TestPaths.h"

using namespace sluice::runtime;
using sluice::test::fixtureDir;

namespace {

struct Codecs {
    PluginRegistry registry;
    std::shared_ptr<MessageCodecs> codecs;

    Codecs()
    {
        PluginLoader loader(hostApi(), Logging::get("loader"));
        loader.loadDirectory(fixtureDir("builder_1_0"), registry, true);
        loader.loadDirectory(fixtureDir("builder_1_1"), registry, true);
        REQUIRE(registry.problems().empty());
        std::vector<ConfigError> errors;
        codecs = MessageCodecs::create(registry, "/etc/sluice/sluice.json", "/etc/sluice", errors);
        REQUIRE(errors.empty());
        REQUIRE(codecs->builderCount() == 2);
    }
};

std::string text(sluice_str s) { return std::string(s.data, s.len); }

std::map<std::string, std::string> members(const sluice_value& object)
{
    REQUIRE(object.type == SLUICE_VALUE_OBJECT);
    std::map<std::string, std::string> out;
    for (std::size_t i = 0; i < object.count; ++i) {
        REQUIRE(object.members[i].value.type == SLUICE_VALUE_STRING);
        out[text(object.members[i].key)] = text(object.members[i].value.text);
    }
    return out;
}

}  // namespace

TEST_CASE("MessageCodecs: a 1.1 builder gets the message kind, the whole Content-Type and the config directory")
{
    Codecs c;
    Exchange ex;
    ex.requestHeaders.add("Content-Type", "Application/X-Sluice-V11; charset=\"latin1\"; q=1");
    ex.requestBody = std::string("<a/>");
    const sluice_value* value = nullptr;
    REQUIRE(c.codecs->build(ex, SLUICE_MSG_REQUEST, &value) == SLUICE_OK);
    auto m = members(*value);
    CHECK(m["message"] == "request");
    CHECK(m["media_type"] == "application/x-sluice-v11");
    CHECK(m["content_type"] == "Application/X-Sluice-V11; charset=\"latin1\"; q=1");
    CHECK(m["bytes"] == "<a/>");
    CHECK(m["config_dir"] == "/etc/sluice");

    ex.phase = SLUICE_PHASE_RESPONSE;
    ex.responseHeaders.add("Content-Type", "application/x-sluice-v11");
    ex.responseBody = std::string("out");
    REQUIRE(c.codecs->build(ex, SLUICE_MSG_RESPONSE, &value) == SLUICE_OK);
    m = members(*value);
    CHECK(m["message"] == "response");
    CHECK(m["content_type"] == "application/x-sluice-v11");
    CHECK(m["bytes"] == "out");
}

TEST_CASE("MessageCodecs: a message with two Content-Type fields is not built")
{
    Codecs c;
    Exchange ex;
    ex.requestHeaders.add("Content-Type", "application/x-sluice-v11; charset=utf-8");
    ex.requestHeaders.add("Content-Type", "application/x-sluice-v11; charset=utf-7");
    ex.requestBody = std::string("<a/>");
    const sluice_value* value = nullptr;
    CHECK(c.codecs->build(ex, SLUICE_MSG_REQUEST, &value) == SLUICE_E_INVALID);
    CHECK(value == nullptr);
}

TEST_CASE("MessageCodecs: a 1.0 builder loads and is called through build")
{
    Codecs c;
    const LoadedComponent* v10 = c.registry.find("builder_v10");
    REQUIRE(v10 != nullptr);
    CHECK(v10->plugin->abiMinor == 0);
    Exchange ex;
    ex.requestHeaders.add("Content-Type", "application/x-sluice-v10; charset=utf-8");
    ex.requestBody = std::string("abc");
    const sluice_value* value = nullptr;
    REQUIRE(c.codecs->build(ex, SLUICE_MSG_REQUEST, &value) == SLUICE_OK);
    REQUIRE(value->type == SLUICE_VALUE_STRING);
    CHECK(text(value->text) == "v10 application/x-sluice-v10 abc");
}
