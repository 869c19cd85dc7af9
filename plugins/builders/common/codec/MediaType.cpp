#include "codec/MediaType.h"

namespace sluice::plugins::codec {

namespace {

bool isTokenChar(char c) noexcept
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool endsWith(std::string_view s, std::string_view suffix) noexcept
{
    return s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string mediaTypeEssence(std::string_view contentType)
{
    std::size_t end = contentType.find(';');
    std::string_view essence = contentType.substr(0, end);
    while (!essence.empty() && (essence.front() == ' ' || essence.front() == '\t')) {
        essence.remove_prefix(1);
    }
    while (!essence.empty() && (essence.back() == ' ' || essence.back() == '\t')) {
        essence.remove_suffix(1);
    }
    std::size_t slash = essence.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == essence.size()) {
        return {};
    }
    std::string out;
    out.reserve(essence.size());
    for (std::size_t i = 0; i < essence.size(); ++i) {
        char c = essence[i];
        if (i != slash && !isTokenChar(c)) {
            return {};
        }
        out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c);
    }
    return out;
}

bool isJsonMediaType(std::string_view essence) noexcept
{
    return essence == "application/json" || endsWith(essence, "+json");
}

bool isXmlMediaType(std::string_view essence) noexcept
{
    return essence == "application/xml" || essence == "text/xml" || endsWith(essence, "+xml");
}

}  // namespace sluice::plugins::codec
