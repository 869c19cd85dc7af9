#include "sluice/runtime/SchemaValidator.h"

#include <cstdint>
#include <limits>
#include <stdexcept>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <valijson/adapters/poco_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "sluice/runtime/Json.h"

namespace sluice::runtime {

namespace {

// valijson context entries look like "<root>", "[name]" or "[3]".
std::string toPointer(const std::vector<std::string>& context)
{
    std::string pointer;
    for (const auto& part : context) {
        if (part == "<root>") {
            continue;
        }
        std::string token = part;
        if (token.size() >= 2 && token.front() == '[' && token.back() == ']') {
            token = token.substr(1, token.size() - 2);
        }
        pointer += "/" + jsonPointerToken(token);
    }
    return pointer.empty() ? "/" : pointer;
}

// valijson reports a failure once at the leaf and again at every enclosing level; the echoes
// add nothing for a reader.
bool isEcho(const std::string& description)
{
    static const char* const kEchoes[] = {
        "Failed to validate against schema associated with property name",
        "Failed to validate item #",
        "Failed to validate against child schema",
        "Failed to validate against additional properties schema",
        "Failed to validate against dependent schema",
        "Failed to validate against schema associated with pattern",
        "Failed to validate additional property",
    };
    for (const char* echo : kEchoes) {
        if (description.rfind(echo, 0) == 0) {
            return true;
        }
    }
    return false;
}

std::unique_ptr<valijson::Schema> compile(const Poco::Dynamic::Var& schemaDoc)
{
    auto schema = std::make_unique<valijson::Schema>();
    try {
        valijson::SchemaParser parser;
        valijson::adapters::PocoJsonAdapter adapter(schemaDoc);
        parser.populateSchema(adapter, *schema);
    } catch (const std::exception& e) {
        throw std::invalid_argument(std::string("invalid JSON Schema: ") + e.what());
    }
    return schema;
}

// Integers beyond int64 (Poco holds them as UInt64): valijson's Poco adapter throws on them, so
// they are reported, with their pointers, instead of being validated.
void hugeIntegers(const Poco::Dynamic::Var& node, const std::string& pointer, std::vector<SchemaIssue>& out)
{
    if (node.type() == typeid(Poco::JSON::Object::Ptr)) {
        const auto object = node.extract<Poco::JSON::Object::Ptr>();
        for (const auto& key : object->getNames()) {
            hugeIntegers(object->get(key), pointer + "/" + jsonPointerToken(key), out);
        }
    } else if (node.type() == typeid(Poco::JSON::Array::Ptr)) {
        const auto array = node.extract<Poco::JSON::Array::Ptr>();
        for (unsigned i = 0; i < array->size(); ++i) {
            hugeIntegers(array->get(i), pointer + "/" + std::to_string(i), out);
        }
    } else if (node.type() == typeid(Poco::UInt64) &&
               node.extract<Poco::UInt64>() > static_cast<Poco::UInt64>(std::numeric_limits<std::int64_t>::max())) {
        out.push_back(SchemaIssue{pointer.empty() ? "/" : pointer, "number out of range"});
    }
}

}  // namespace

SchemaValidator::SchemaValidator(const std::string& schemaJson)
{
    std::string error;
    auto doc = parseJson(schemaJson, error);
    if (!doc) {
        throw std::invalid_argument("JSON Schema is not valid JSON: " + error);
    }
    _schema = compile(*doc);
}

SchemaValidator::SchemaValidator(const Poco::Dynamic::Var& schema) : _schema(compile(schema)) {}

SchemaValidator::~SchemaValidator() = default;
SchemaValidator::SchemaValidator(SchemaValidator&&) noexcept = default;
SchemaValidator& SchemaValidator::operator=(SchemaValidator&&) noexcept = default;

std::vector<SchemaIssue> SchemaValidator::validate(const Poco::Dynamic::Var& document) const
{
    std::vector<SchemaIssue> issues;
    hugeIntegers(document, "", issues);
    if (!issues.empty()) {
        return issues;
    }
    valijson::Validator validator;
    valijson::ValidationResults results;
    valijson::adapters::PocoJsonAdapter adapter(document);
    try {
        if (validator.validate(*_schema, adapter, &results)) {
            return issues;
        }
    } catch (const std::exception& e) {
        issues.push_back(SchemaIssue{"/", std::string("cannot be validated: ") + e.what()});
        return issues;
    }
    valijson::ValidationResults::Error error;
    while (results.popError(error)) {
        if (!isEcho(error.description)) {
            issues.push_back(SchemaIssue{toPointer(error.context), error.description});
        }
    }
    if (issues.empty()) {
        issues.push_back(SchemaIssue{"/", "document does not match the schema"});
    }
    return issues;
}

}  // namespace sluice::runtime
