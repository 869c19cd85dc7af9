#include "sluice/runtime/SchemaValidator.h"

#include <algorithm>
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

bool huge(const Poco::Dynamic::Var& node)
{
    return node.type() == typeid(Poco::UInt64) &&
           node.extract<Poco::UInt64>() > static_cast<Poco::UInt64>(std::numeric_limits<std::int64_t>::max());
}

// Integers beyond int64 (Poco holds them as UInt64): valijson's Poco adapter throws on them, so
// they are reported, with their pointers, instead of being validated.
void hugeIntegers(const Poco::Dynamic::Var& node, const std::string& pointer, std::vector<SchemaIssue>& out)
{
    if (node.type() == typeid(Poco::JSON::Object::Ptr)) {
        const auto& object = node.extract<Poco::JSON::Object::Ptr>();
        for (const auto& key : object->getNames()) {
            hugeIntegers(object->get(key), pointer + "/" + jsonPointerToken(key), out);
        }
    } else if (node.type() == typeid(Poco::JSON::Array::Ptr)) {
        const auto& array = node.extract<Poco::JSON::Array::Ptr>();
        for (unsigned i = 0; i < array->size(); ++i) {
            hugeIntegers(array->get(i), pointer + "/" + std::to_string(i), out);
        }
    } else if (huge(node)) {
        out.push_back(SchemaIssue{pointer.empty() ? "/" : pointer, "number out of range"});
    }
}

// A copy of `node` in which those integers are the largest int64, so that the rest of the
// document can still be validated (and every error found at once). Every object and array is
// copied; it runs only for a document that has such an integer.
Poco::Dynamic::Var clamped(const Poco::Dynamic::Var& node)
{
    if (node.type() == typeid(Poco::JSON::Object::Ptr)) {
        const auto& object = node.extract<Poco::JSON::Object::Ptr>();
        Poco::JSON::Object::Ptr copy = new Poco::JSON::Object(*object);
        for (const auto& key : object->getNames()) {
            copy->set(key, clamped(object->get(key)));
        }
        return copy;
    }
    if (node.type() == typeid(Poco::JSON::Array::Ptr)) {
        const auto& array = node.extract<Poco::JSON::Array::Ptr>();
        Poco::JSON::Array::Ptr copy = new Poco::JSON::Array(*array);
        for (unsigned i = 0; i < array->size(); ++i) {
            copy->set(i, clamped(array->get(i)));
        }
        return copy;
    }
    return huge(node) ? Poco::Dynamic::Var(std::numeric_limits<Poco::Int64>::max()) : node;
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
    const Poco::Dynamic::Var readable = issues.empty() ? document : clamped(document);
    valijson::Validator validator;
    valijson::ValidationResults results;
    valijson::adapters::PocoJsonAdapter adapter(readable);
    try {
        if (validator.validate(*_schema, adapter, &results)) {
            return issues;
        }
    } catch (const std::exception& e) {
        issues.push_back(SchemaIssue{"/", std::string("cannot be validated: ") + e.what()});
        return issues;
    }
    const std::size_t outOfRange = issues.size();
    valijson::ValidationResults::Error error;
    while (results.popError(error)) {
        const std::string pointer = toPointer(error.context);
        const bool reported = std::any_of(issues.begin(), issues.begin() + static_cast<std::ptrdiff_t>(outOfRange),
                                          [&pointer](const SchemaIssue& i) { return i.pointer == pointer; });
        if (!isEcho(error.description) && !reported) {
            issues.push_back(SchemaIssue{pointer, error.description});
        }
    }
    if (issues.empty()) {
        issues.push_back(SchemaIssue{"/", "document does not match the schema"});
    }
    return issues;
}

}  // namespace sluice::runtime
