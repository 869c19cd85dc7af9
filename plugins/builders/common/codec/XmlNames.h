#pragma once

// XML 1.0 (fifth edition) characters and names, and Namespaces in XML 1.0 qualified names.

#include <string_view>

namespace sluice::plugins::codec {

// Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
bool isXmlChar(char32_t c) noexcept;
bool isNameStartChar(char32_t c) noexcept;
bool isNameChar(char32_t c) noexcept;

// Name without ':' (a namespace "non-colonised" name), given as UTF-8.
bool isNCName(std::string_view utf8) noexcept;
// NCName or NCName ':' NCName.
bool isQName(std::string_view utf8) noexcept;

// The prefix of a qualified name ("" when it has none) and its local part.
std::string_view qnamePrefix(std::string_view qname) noexcept;
std::string_view qnameLocal(std::string_view qname) noexcept;

}  // namespace sluice::plugins::codec
