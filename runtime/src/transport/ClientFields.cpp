#include "sluice/runtime/transport/ClientFields.h"

#include <strings.h>

#include <algorithm>

#include "sluice/runtime/http/FormMethodScanner.h"
#include "sluice/runtime/http/HttpParser.h"
#include "sluice/sdk/HttpSyntax.hpp"

namespace sluice::runtime::transport {

using http::fieldNameEquals;

namespace {

// Whether `name` begins with `prefix` (lower case), as CGI-style servers read names (sdk::cgiFold).
bool beginsLikeField(std::string_view name, std::string_view prefix) noexcept
{
    if (name.size() < prefix.size()) {
        return false;
    }
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        if (sdk::cgiFold(name[i]) != prefix[i]) {
            return false;
        }
    }
    return true;
}

// Whether one name=value piece of a query is a `_method` parameter; `overrides` is set when its
// value names another method than `method`.
bool queryMethodParameter(std::string_view piece, std::string_view method, bool& overrides)
{
    const std::string_view name = piece.substr(0, piece.find('='));
    // Decoded only when escaped: the common query costs no allocation. As the frameworks decode:
    // a '%' that starts no escape stays as it is.
    const bool isOverride = name.find_first_of("%+") == std::string_view::npos
                                ? http::isMethodParameterName(name)
                                : http::isMethodParameterName(http::decodeFormComponent(name));
    if (isOverride) {
        const std::string_view value = name.size() < piece.size() ? piece.substr(name.size() + 1) : std::string_view();
        const std::string decoded = http::decodeFormComponent(value);
        overrides = overrides || decoded.size() != method.size() ||
                    ::strncasecmp(decoded.data(), method.data(), method.size()) != 0;
    }
    return isOverride;
}

}  // namespace

// Headers the transport owns on the way to the backend: framing, Host, and the forwarding
// headers it rebuilds itself (Forwarded is passed on only from a trusted proxy).
bool transportOwned(std::string_view name) noexcept
{
    return fieldNameEquals(name, "host") || fieldNameEquals(name, "content-length") ||
           fieldNameEquals(name, "expect") || fieldNameEquals(name, "x-forwarded-for") ||
           fieldNameEquals(name, "x-forwarded-proto") || fieldNameEquals(name, "x-forwarded-host") ||
           fieldNameEquals(name, "via") || fieldNameEquals(name, "forwarded");
}

// Fields in which proxies tell a backend about the client and the original request, beside the
// ones the gateway writes itself: frameworks take the scheme from them (Rack, Spring:
// X-Forwarded-Ssl, X-Forwarded-Scheme, Front-End-Https; Tornado: X-Scheme), the port and path prefix of the links
// they build (X-Forwarded-Port, X-Forwarded-Prefix), the client's address (X-Real-IP,
// True-Client-IP, Proxy-Client-IP, ...), the client certificate a TLS-terminating proxy verified
// (Envoy's X-Forwarded-Client-Cert, X-Client-Verify, and the families of clientCertificateField)
// or even the path and method to serve (X-Original-URL, X-Rewrite-URL, X-Forwarded-Method,
// X-Envoy-Original-Path, Kong's X-Forwarded-Path; gunicorn mounts the application at a
// SCRIPT_NAME field and serves what follows it, so a client's `SCRIPT_NAME: /public/x` in front
// of `/public/x/admin/y` would be served /admin/y). Sent by a client they are lies, so they are
// passed on only from a trusted proxy, as Forwarded is. So are the fields in which an
// authenticating proxy names the user it let in (oauth2-proxy's X-Auth-Request-User and
// X-Forwarded-User, Grafana's X-WEBAUTH-USER; more in authProxyField): an application behind
// such a proxy believes them. Next.js's X-Middleware-Subrequest is the framework's own mark of a
// request its middleware (often where its auth checks live) already ran for (CVE-2025-29927); no
// client has a reason to send it.
namespace {

// proxyInformationField for a name spelt with '-' only.
bool knownProxyInformation(std::string_view name) noexcept
{
    switch (name.size()) {
        case 6: return fieldNameEquals(name, "x-host");
        case 8: return fieldNameEquals(name, "x-scheme");  // Tornado's xheaders prefer it to X-Forwarded-Proto
        case 9:
            return fieldNameEquals(name, "x-real-ip") || fieldNameEquals(name, "client-ip") ||
                   fieldNameEquals(name, "path-info");
        case 11:
            return fieldNameEquals(name, "x-client-ip") || fieldNameEquals(name, "x-forwarded") ||
                   fieldNameEquals(name, "x-client-dn") || fieldNameEquals(name, "script-name") ||
                   fieldNameEquals(name, "request-uri");
        case 12: return fieldNameEquals(name, "x-url-scheme");
        case 13:
            return fieldNameEquals(name, "x-rewrite-url") || fieldNameEquals(name, "forwarded-for") ||
                   fieldNameEquals(name, "x-script-name") || fieldNameEquals(name, "x-request-uri") ||
                   fieldNameEquals(name, "x-remote-user");
        case 14:
            return fieldNameEquals(name, "x-forwarded-by") || fieldNameEquals(name, "true-client-ip") ||
                   fieldNameEquals(name, "x-original-url") || fieldNameEquals(name, "x-original-uri") ||
                   fieldNameEquals(name, "x-proxyuser-ip") || fieldNameEquals(name, "x-webauth-user") ||
                   fieldNameEquals(name, "x-override-url");
        case 15:
            return fieldNameEquals(name, "x-forwarded-ssl") || fieldNameEquals(name, "x-forwarded-uri") ||
                   fieldNameEquals(name, "front-end-https") || fieldNameEquals(name, "proxy-client-ip") ||
                   fieldNameEquals(name, "x-client-verify") || fieldNameEquals(name, "x-forwarded-url") ||
                   fieldNameEquals(name, "x-original-path") || fieldNameEquals(name, "x-original-host");
        case 16:
            return fieldNameEquals(name, "x-forwarded-port") || fieldNameEquals(name, "cf-connecting-ip") ||
                   fieldNameEquals(name, "fastly-client-ip") || fieldNameEquals(name, "x-originating-ip") ||
                   fieldNameEquals(name, "x-arr-clientcert") || fieldNameEquals(name, "x-forwarded-path") ||
                   fieldNameEquals(name, "x-forwarded-base") || fieldNameEquals(name, "x-forwarded-user");
        case 17: return fieldNameEquals(name, "x-original-method") || fieldNameEquals(name, "x-forwarded-email");
        case 18:
            return fieldNameEquals(name, "x-forwarded-scheme") || fieldNameEquals(name, "x-forwarded-prefix") ||
                   fieldNameEquals(name, "x-forwarded-server") || fieldNameEquals(name, "x-forwarded-method") ||
                   fieldNameEquals(name, "x-forwarded-groups");
        case 19: return fieldNameEquals(name, "x-cluster-client-ip") || fieldNameEquals(name, "x-auth-request-user");
        case 20:
            return fieldNameEquals(name, "x-forwarded-protocol") || fieldNameEquals(name, "x-forwarded-pathbase") ||
                   fieldNameEquals(name, "x-auth-request-email") || fieldNameEquals(name, "x-envoy-original-url");
        case 21:
            return fieldNameEquals(name, "x-envoy-original-path") || fieldNameEquals(name, "x-auth-request-groups") ||
                   fieldNameEquals(name, "x-http-destinationurl");
        case 23:
            return fieldNameEquals(name, "x-forwarded-client-cert") || fieldNameEquals(name, "x-middleware-subrequest");
        case 24:
            return fieldNameEquals(name, "x-envoy-external-address") ||
                   fieldNameEquals(name, "x-forwarded-access-token") ||
                   fieldNameEquals(name, "x-original-forwarded-for");
        case 27: return fieldNameEquals(name, "x-auth-request-access-token");
        case 30: return fieldNameEquals(name, "x-forwarded-preferred-username");
        case 33: return fieldNameEquals(name, "x-auth-request-preferred-username");
        default: return false;
    }
}

constexpr std::size_t kLongestProxyInformationName = 33;  // "x-auth-request-preferred-username"

}  // namespace

// In every CGI spelling ("X_Real_IP", "X.Real.IP"), which CGI-style servers read as the field.
bool proxyInformationField(std::string_view name) noexcept
{
    if (!sdk::hasCgiLookAlikeByte(name)) {
        return knownProxyInformation(name);
    }
    if (name.size() > kLongestProxyInformationName) {
        return false;
    }
    char dashed[kLongestProxyInformationName];
    std::transform(name.begin(), name.end(), dashed, sdk::cgiFold);
    return knownProxyInformation(std::string_view(dashed, name.size()));
}

// Families of fields in which TLS-terminating proxies pass on the client certificate they
// verified and the TLS session (an application server takes the request for HTTPS from them),
// matched by their beginning since each has many members: RFC 9440's Client-Cert and
// Client-Cert-Chain, ingress-nginx's ssl-client-*, the X-SSL-* of nginx and HAProxy setups,
// Google's load balancers' X-Client-Cert-*, Traefik's X-Forwarded-Tls-Client-Cert*, AWS ALB's
// X-Amzn-Mtls-*, Tomcat's SSLValve (ssl_cipher, ssl_session_id, ssl_cipher_usekeysize), Jetty's
// X-Proxied-Https, Proxy-ssl-id and Proxy-auth-cert (any of which makes isSecure() true behind
// its ForwardedRequestCustomizer), WebLogic's WL-Proxy-* (WL-Proxy-SSL, -Client-Cert, -Client-IP)
// and WebSphere's private $WS* fields ($WSIS: secure, $WSRA: remote address, $WSCC: certificate).
// (Every CGI spelling included.) Proxy information like the fields above.
bool clientCertificateField(std::string_view name) noexcept
{
    if (name.empty()) {
        return false;
    }
    switch (name[0]) {
        case 'c':
        case 'C':
            return (name.size() == 11 && beginsLikeField(name, "client-cert")) || beginsLikeField(name, "client-cert-");
        case 's':
        case 'S':
            return beginsLikeField(name, "ssl-client-") || beginsLikeField(name, "ssl-cipher") ||
                   beginsLikeField(name, "ssl-session-id");
        case 'p':
        case 'P': return beginsLikeField(name, "proxy-ssl-id") || beginsLikeField(name, "proxy-auth-cert");
        case 'w':
        case 'W': return beginsLikeField(name, "wl-proxy-");
        case '$': return beginsLikeField(name, "$ws");
        case 'x':
        case 'X':
            return (name.size() == 5 && beginsLikeField(name, "x-ssl")) || beginsLikeField(name, "x-ssl-") ||
                   beginsLikeField(name, "x-client-cert") || beginsLikeField(name, "x-forwarded-tls-client-cert") ||
                   beginsLikeField(name, "x-amzn-mtls-") || beginsLikeField(name, "x-proxied-https");
        default: return false;
    }
}

// Families of fields in which authenticating proxies tell an application who the user is:
// Authelia's Remote-User, -Groups, -Email, -Name; Authentik's X-Authentik-*; AWS ALB's
// X-Amzn-Oidc-*; Google IAP's X-Goog-Authenticated-User-*; Cloudflare Access's Cf-Access-*.
// ('_' spellings included.) Proxy information like the fields above.
bool authProxyField(std::string_view name) noexcept
{
    if (name.empty()) {
        return false;
    }
    switch (name[0]) {
        case 'r':
        case 'R':
            return http::sameCgiName(name, "remote-user") || http::sameCgiName(name, "remote-groups") ||
                   http::sameCgiName(name, "remote-email") || http::sameCgiName(name, "remote-name");
        case 'c':
        case 'C': return beginsLikeField(name, "cf-access-");
        case 'x':
        case 'X':
            return beginsLikeField(name, "x-authentik-") || beginsLikeField(name, "x-amzn-oidc-") ||
                   beginsLikeField(name, "x-goog-authenticated-user-");
        default: return false;
    }
}

// Proxy: CGI-style servers make it HTTP_PROXY, which HTTP libraries take for their outgoing
// proxy (httpoxy, CVE-2016-5385); no client, proxy or handler has a use for it.
bool httpoxyField(std::string_view name) noexcept { return fieldNameEquals(name, "proxy"); }

// A name with '_' or '.' that reads as a framing, hop-by-hop, forwarding or body-type field once
// they are taken for '-' ("X_Forwarded_For", "Transfer_Encoding", "Content_Type"). CGI-style
// servers map such spellings to one variable (HTTP_X_FORWARDED_FOR; PHP turns '.' into '_' too),
// so such a field would stand in for the one the gateway writes, or for the one it judged the
// body by (PHP's built-in server takes CONTENT_TYPE from "Content_Type"). It is dropped from
// everyone (nginx drops every name with '_' or '.' by default). Spellings of the proxy
// information fields are those fields: believed from trusted proxies only (Tomcat's SSLValve
// reads ssl_cipher, spelt so).
bool cgiLookAlike(std::string_view name) noexcept
{
    constexpr std::size_t kLongestOwnedName = 19;  // "proxy-authorization"
    if (!sdk::hasCgiLookAlikeByte(name) || name.size() > kLongestOwnedName) {
        return false;
    }
    char dashed[kLongestOwnedName];
    std::transform(name.begin(), name.end(), dashed, sdk::cgiFold);
    std::string_view text(dashed, name.size());
    return transportOwned(text) || http::isHopByHopName(text) || text == "content-type" || text == "content-encoding";
}

// X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override (Google, Microsoft and framework
// conventions), also spelt with '_': fields asking a backend to run another method than the
// request line's.
bool methodOverrideField(std::string_view name) noexcept
{
    if (name.empty() || (name[0] != 'x' && name[0] != 'X')) {
        return false;
    }
    return http::sameCgiName(name, "x-http-method") || http::sameCgiName(name, "x-method-override") ||
           http::sameCgiName(name, "x-http-method-override");
}

// A `_method` query parameter naming another method than `method` (Spring's
// HiddenHttpMethodFilter, Laravel and Symfony read it from the query too, upper-cased). Pairs
// end at '&', and at ';' where PHP's arg_separator.input says so (read with '&' alone, a value
// such as "POST;x" names no method). With `kept`, the query without the '&' pairs holding such a
// parameter is written there.
bool queryOverridesMethod(std::string_view query, std::string_view method, std::string* kept)
{
    bool overrides = false;
    std::size_t start = 0;
    while (start <= query.size()) {
        std::size_t end = query.find('&', start);
        if (end == std::string_view::npos) {
            end = query.size();
        }
        const std::string_view pair = query.substr(start, end - start);
        bool isOverride = false;
        for (std::size_t from = 0; from <= pair.size();) {
            const std::size_t to = std::min(pair.find(';', from), pair.size());
            isOverride = queryMethodParameter(pair.substr(from, to - from), method, overrides) || isOverride;
            from = to + 1;
        }
        if (kept != nullptr && !isOverride && !pair.empty()) {
            if (!kept->empty()) {
                kept->push_back('&');
            }
            kept->append(pair);
        }
        start = end + 1;
    }
    return overrides;
}

ClientField classifyClientField(std::string_view name) noexcept
{
    if (fieldNameEquals(name, "content-length") || fieldNameEquals(name, "expect") || httpoxyField(name) ||
        cgiLookAlike(name)) {
        return ClientField::Dropped;
    }
    if (methodOverrideField(name)) {
        return ClientField::MethodOverride;
    }
    if (proxyInformationField(name) || clientCertificateField(name) || authProxyField(name)) {
        return ClientField::ProxyInformation;
    }
    return ClientField::Kept;
}

}  // namespace sluice::runtime::transport
