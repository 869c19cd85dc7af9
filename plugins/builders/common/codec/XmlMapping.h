#pragma once

// The names of the one JSON<->XML mapping (docs/message-mapping.md). The XML builder, the XML
// formatter and the json_xml handler all read them from here.

#include <string_view>

namespace sluice::plugins::codec {

// Members whose key starts with '@' are attributes: "@id", "@xml:lang", "@xmlns:p".
inline constexpr char kAttributeMark = '@';
// Text of an element that also has attributes or child elements.
inline constexpr std::string_view kTextKey = "#text";
// JSON null <-> <e xsi:nil="true"/>.
inline constexpr std::string_view kXsiNamespace = "http://www.w3.org/2001/XMLSchema-instance";
inline constexpr std::string_view kXsiPrefix = "xsi";
inline constexpr std::string_view kNilLocalName = "nil";
// The prefixes Namespaces in XML 1.0 binds by itself.
inline constexpr std::string_view kXmlNamespace = "http://www.w3.org/XML/1998/namespace";
inline constexpr std::string_view kXmlnsNamespace = "http://www.w3.org/2000/xmlns/";
// Name of the repeated child that carries the items of a top-level JSON array.
inline constexpr std::string_view kArrayItemName = "item";

}  // namespace sluice::plugins::codec
