#pragma once

// Media types as the JSON<->XML conversion classifies them.

#include <string>
#include <string_view>

namespace sluice::plugins::codec {

// "Application/Problem+JSON ; charset=utf-8" -> "application/problem+json": the type/subtype,
// trimmed and lower-cased, without parameters. "" when the header is not type/subtype.
std::string mediaTypeEssence(std::string_view contentType);

// application/json or any structured-syntax "+json" type (RFC 6839).
bool isJsonMediaType(std::string_view essence) noexcept;
// application/xml, text/xml or any "+xml" type.
bool isXmlMediaType(std::string_view essence) noexcept;

}  // namespace sluice::plugins::codec
