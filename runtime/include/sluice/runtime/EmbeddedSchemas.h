#pragma once

#include <string_view>

namespace sluice::runtime {

// The JSON Schemas of conf/schema/, compiled into the binary so that validation never depends on
// where (or whether) the schema files are installed. The files themselves ship for editors.
std::string_view gatewaySchemaText();
std::string_view apiSchemaText();

}  // namespace sluice::runtime
