#include "codec/XmlNames.h"

#include "codec/Utf8.h"

namespace sluice::plugins::codec {

bool isXmlChar(char32_t c) noexcept
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
           (c >= 0x10000 && c <= 0x10FFFF);
}

bool isNameStartChar(char32_t c) noexcept
{
    return c == ':' || (c >= 'A' && c <= 'Z') || c == '_' || (c >= 'a' && c <= 'z') || (c >= 0xC0 && c <= 0xD6) ||
           (c >= 0xD8 && c <= 0xF6) || (c >= 0xF8 && c <= 0x2FF) || (c >= 0x370 && c <= 0x37D) ||
           (c >= 0x37F && c <= 0x1FFF) || (c >= 0x200C && c <= 0x200D) || (c >= 0x2070 && c <= 0x218F) ||
           (c >= 0x2C00 && c <= 0x2FEF) || (c >= 0x3001 && c <= 0xD7FF) || (c >= 0xF900 && c <= 0xFDCF) ||
           (c >= 0xFDF0 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0xEFFFF);
}

bool isNameChar(char32_t c) noexcept
{
    return isNameStartChar(c) || c == '-' || c == '.' || (c >= '0' && c <= '9') || c == 0xB7 ||
           (c >= 0x300 && c <= 0x36F) || (c >= 0x203F && c <= 0x2040);
}

bool isNCName(std::string_view utf8) noexcept
{
    if (utf8.empty()) {
        return false;
    }
    std::size_t pos = 0;
    bool first = true;
    while (pos < utf8.size()) {
        char32_t c = decodeUtf8(utf8, pos);
        if (c == kInvalidCodePoint || c == ':' || !(first ? isNameStartChar(c) : isNameChar(c))) {
            return false;
        }
        first = false;
    }
    return true;
}

bool isQName(std::string_view utf8) noexcept
{
    std::size_t colon = utf8.find(':');
    if (colon == std::string_view::npos) {
        return isNCName(utf8);
    }
    return isNCName(utf8.substr(0, colon)) && isNCName(utf8.substr(colon + 1));
}

std::string_view qnamePrefix(std::string_view qname) noexcept
{
    std::size_t colon = qname.find(':');
    return colon == std::string_view::npos ? std::string_view{} : qname.substr(0, colon);
}

std::string_view qnameLocal(std::string_view qname) noexcept
{
    std::size_t colon = qname.find(':');
    return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

}  // namespace sluice::plugins::codec
