#pragma once

#include <memory>
#include <string>
#include <vector>

#include <Poco/Dynamic/Var.h>

namespace valijson {
class Schema;
}

namespace sluice::runtime {

// One broken rule: where (JSON pointer into the validated document) and what.
struct SchemaIssue {
    std::string pointer;
    std::string rule;
};

// A compiled JSON Schema (draft 7, via valijson). Compile once, validate many times.
class SchemaValidator {
public:
    // Throws std::invalid_argument naming what is wrong when `schemaJson` is not a usable schema.
    explicit SchemaValidator(const std::string& schemaJson);
    explicit SchemaValidator(const Poco::Dynamic::Var& schema);
    ~SchemaValidator();
    SchemaValidator(SchemaValidator&&) noexcept;
    SchemaValidator& operator=(SchemaValidator&&) noexcept;

    // Every broken rule, leaf causes only (not the "failed to validate property x" echoes).
    std::vector<SchemaIssue> validate(const Poco::Dynamic::Var& document) const;

private:
    std::unique_ptr<valijson::Schema> _schema;
};

}  // namespace sluice::runtime
