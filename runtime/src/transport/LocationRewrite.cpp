#include "sluice/runtime/transport/LocationRewrite.h"

#include <charconv>

#include "sluice/runtime/http/HttpParser.h"

namespace sluice::runtime::transport {

namespace {

// ASCII case-insensitive (the parser refuses NULs in field values, at which strncasecmp stops).
using http::fieldNameEquals;

bool startsWithIgnoreCase(std::string_view s, std::string_view prefix) noexcept
{
    return s.size() >= prefix.size() && fieldNameEquals(s.substr(0, prefix.size()), prefix);
}

// Whether `authority` ("host", "host:port", "[v6]:port") names the origin.
bool sameAuthority(std::string_view authority, const LocationOrigin& origin) noexcept
{
    if (authority.empty() || authority.find('@') != std::string_view::npos) {
        return false;  // no host, or userinfo: not a form the backend writes for itself
    }
    if (fieldNameEquals(authority, origin.hostHeader)) {
        return true;
    }
    std::string_view host = authority;
    std::string_view portText;
    if (authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        host = authority.substr(1, close - 1);
        std::string_view rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return false;
            }
            portText = rest.substr(1);
        }
    } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        portText = authority.substr(colon + 1);
    }
    int port = origin.tls ? 443 : 80;
    if (!portText.empty()) {
        const auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
        if (ec != std::errc() || end != portText.data() + portText.size()) {
            return false;
        }
    }
    return port == origin.port && fieldNameEquals(host, origin.host);
}

// `path` (with what follows it) under `base`: the rest after `base`, which is empty or starts with
// '/', '?' or '#'.
std::optional<std::string_view> under(std::string_view path, std::string_view base) noexcept
{
    if (path.substr(0, base.size()) != base) {
        return std::nullopt;
    }
    std::string_view rest = path.substr(base.size());
    if (!rest.empty() && rest.front() != '/' && rest.front() != '?' && rest.front() != '#') {
        return std::nullopt;  // "/bx" is not under "/b"
    }
    return rest;
}

}  // namespace

std::optional<std::string> rewriteLocation(std::string_view value, const LocationOrigin& origin,
                                           std::string_view publicPrefix)
{
    std::string_view path;
    if (value.size() >= 1 && value.front() == '/') {
        if (value.size() >= 2 && value[1] == '/') {
            return std::nullopt;  // a network-path reference: another authority
        }
        path = value;
    } else {
        const std::string_view scheme = origin.tls ? "https://" : "http://";
        if (!startsWithIgnoreCase(value, scheme)) {
            return std::nullopt;
        }
        std::string_view afterScheme = value.substr(scheme.size());
        const std::size_t end = afterScheme.find_first_of("/?#");
        const std::string_view authority = afterScheme.substr(0, end);
        if (!sameAuthority(authority, origin)) {
            return std::nullopt;
        }
        path = end == std::string_view::npos ? std::string_view() : afterScheme.substr(end);
    }
    // Already in the API's URL space (a backend that knows its public prefix, or a value a
    // handler wrote): a path stays as it is, an absolute URL of the backend loses its authority.
    std::string_view publicBase = publicPrefix;
    while (!publicBase.empty() && publicBase.back() == '/') {
        publicBase.remove_suffix(1);
    }
    if (!publicBase.empty() && under(path, publicBase)) {
        if (value.front() == '/') {
            return std::nullopt;
        }
        return std::string(path);
    }
    const std::optional<std::string_view> rest = under(path, origin.basePath);
    if (!rest) {
        return std::nullopt;
    }
    std::string out(publicPrefix);
    if (rest->empty() || rest->front() != '/') {
        // The endpoint's own path (with a query or fragment): the API's prefix. A prefix of "/"
        // alone would double the slash below.
        if (out.empty()) {
            out = "/";
        }
    } else if (!out.empty() && out.back() == '/') {
        out.pop_back();
    }
    out.append(*rest);
    return out;
}

}  // namespace sluice::runtime::transport
