#pragma once

// Location and Content-Location of a backend's answer, rewritten from the backend's URL space
// to the gateway's (nginx's `proxy_redirect default` with `absolute_redirect off`): a backend
// behind a gateway names its own address and path in redirects and created resources, which a
// client can neither reach nor should see.

#include <optional>
#include <string>
#include <string_view>

namespace sluice::runtime::transport {

// The endpoint that answered: its URL's scheme, host, port and path.
struct LocationOrigin {
    bool tls = false;
    std::string_view host;  // as in the URL, no brackets for IPv6
    int port = 80;
    std::string_view hostHeader;  // what the backend was sent as Host (host[:port])
    std::string_view basePath;    // the URL's path without a trailing '/', "" for none
};

// `value` rewritten, or nullopt when it does not point into the endpoint's URL space. It points
// there when it is an absolute URL with the endpoint's scheme and authority (host case-insensitive,
// a default port written or not) whose path is the endpoint's path or under it, or a path-absolute
// reference ("/...", not "//...") under the endpoint's path; the endpoint's scheme, authority and
// path are then replaced by `publicPrefix` (the path the client used for the API, e.g.
// "/petstore/v1"), keeping what follows (path, query, fragment). A value already under
// `publicPrefix` is left as it is (an absolute URL of the endpoint only loses its scheme and
// authority): a backend that knows its public prefix is not given it twice. The result is a relative
// reference (RFC 9110 section 10.2.2 allows one), so it stays right behind a TLS-terminating
// proxy whatever scheme and host the client used.
std::optional<std::string> rewriteLocation(std::string_view value, const LocationOrigin& origin,
                                           std::string_view publicPrefix);

}  // namespace sluice::runtime::transport
