// SchemaValidator reports each broken rule once, at the JSON pointer of the offending value.
#include "sluice/runtime/SchemaValidator.h"

#include <stdexcept>
#include <string>

#include <doctest/doctest.h>

#include "sluice/runtime/Json.h"

using namespace sluice::runtime;

namespace {

Poco::Dynamic::Var json(const std::string& text)
{
    std::string error;
    auto value = parseJson(text, error);
    REQUIRE_MESSAGE(value.has_value(), error);
    return *value;
}

const char* const kSchema = R"({
  "type": "object",
  "required": ["name"],
  "additionalProperties": false,
  "properties": {
    "name": {"type": "string", "minLength": 1},
    "a/b~c": {"type": "integer"},
    "listeners": {
      "type": "array",
      "items": {
        "type": "object",
        "properties": {
          "port": {"type": "integer", "minimum": 0, "maximum": 65535},
          "mode": {"enum": ["plain", "tls"]}
        }
      }
    },
    "nested": {"type": "object", "properties": {"deeper": {"type": "object", "properties": {"flag": {"type": "boolean"}}}}}
  }
})";

std::string describe(const std::vector<SchemaIssue>& issues)
{
    std::string out;
    for (const auto& i : issues) {
        out += i.pointer + ": " + i.rule + "\n";
    }
    return out;
}

}  // namespace

TEST_CASE("SchemaValidator: a valid document has no issues")
{
    SchemaValidator schema{std::string(kSchema)};
    auto issues = schema.validate(json(R"({"name": "x", "listeners": [{"port": 80, "mode": "tls"}]})"));
    CHECK(issues.empty());
}

TEST_CASE("SchemaValidator: each leaf error is reported once at its pointer with its rule")
{
    SchemaValidator schema{std::string(kSchema)};
    auto issues = schema.validate(json(R"({"name": "", "listeners": [{"port": 80}, {"port": 70000, "mode": "udp"}],
        "nested": {"deeper": {"flag": "yes"}}})"));
    INFO(describe(issues));
    REQUIRE(issues.size() == 4);  // no "failed to validate property/item" echoes
    auto at = [&](const std::string& pointer) -> const SchemaIssue* {
        for (const auto& i : issues) {
            if (i.pointer == pointer) {
                return &i;
            }
        }
        return nullptr;
    };
    REQUIRE(at("/name") != nullptr);
    REQUIRE(at("/listeners/1/port") != nullptr);
    REQUIRE(at("/listeners/1/mode") != nullptr);
    REQUIRE(at("/nested/deeper/flag") != nullptr);
    CHECK(at("/name")->rule.find("no fewer than 1 characters") != std::string::npos);
    CHECK(at("/listeners/1/port")->rule.find("less than or equal to 65535") != std::string::npos);
    CHECK(at("/listeners/1/mode")->rule.find("enum") != std::string::npos);
    CHECK(at("/nested/deeper/flag")->rule.find("type") != std::string::npos);
    for (const auto& i : issues) {
        CHECK(i.rule.rfind("Failed to validate against schema associated with property", 0) != 0);
        CHECK(i.rule.rfind("Failed to validate item #", 0) != 0);
    }
}

TEST_CASE("SchemaValidator: root-level rules point at the root and keys are escaped per RFC 6901")
{
    SchemaValidator schema{std::string(kSchema)};
    auto missing = schema.validate(json(R"({"a/b~c": 1})"));
    INFO(describe(missing));
    REQUIRE(missing.size() == 1);
    CHECK(missing[0].pointer == "/");
    CHECK(missing[0].rule.find("name") != std::string::npos);

    auto escaped = schema.validate(json(R"({"name": "x", "a/b~c": "one"})"));
    INFO(describe(escaped));
    REQUIRE(escaped.size() == 1);
    CHECK(escaped[0].pointer == "/a~1b~0c");
}

TEST_CASE("SchemaValidator: additional properties are reported")
{
    SchemaValidator schema{std::string(kSchema)};
    auto issues = schema.validate(json(R"({"name": "x", "surplus": true})"));
    INFO(describe(issues));
    REQUIRE_FALSE(issues.empty());
    bool mentioned = false;
    for (const auto& i : issues) {
        mentioned = mentioned || i.rule.find("surplus") != std::string::npos || i.pointer == "/surplus";
    }
    CHECK(mentioned);
}

TEST_CASE("SchemaValidator: a document of the wrong type at the root")
{
    SchemaValidator schema{std::string(kSchema)};
    auto issues = schema.validate(json("[1, 2]"));
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].pointer == "/");
    CHECK(issues[0].rule.find("type") != std::string::npos);
}

TEST_CASE("SchemaValidator: schema text that is not JSON is rejected")
{
    CHECK_THROWS_WITH_AS(SchemaValidator(std::string("{\"type\": ")),
                         doctest::Contains("JSON Schema is not valid JSON"), std::invalid_argument);
}

// A schema that is JSON but not a usable schema must be an exception the loader can report, not
// a crash of the process (valijson aborts unless built with VALIJSON_USE_EXCEPTIONS).
TEST_CASE("SchemaValidator: JSON that is not a usable schema is rejected with an exception")
{
    CHECK_THROWS_WITH_AS(SchemaValidator(std::string(R"({"type": 42})")), doctest::Contains("invalid JSON Schema"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(SchemaValidator(std::string(R"({"properties": {"a": {"$ref": "#/definitions/missing"}}})")),
                         doctest::Contains("invalid JSON Schema"), std::invalid_argument);
}

TEST_CASE("SchemaValidator: the compiled validator is reusable and movable")
{
    SchemaValidator first{std::string(R"({"type": "integer"})")};
    SchemaValidator moved = std::move(first);
    CHECK(moved.validate(json("[3]")).size() == 1);
    CHECK(moved.validate(Poco::Dynamic::Var(3)).empty());
}
