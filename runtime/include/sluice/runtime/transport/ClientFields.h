#pragma once

#include <string>
#include <string_view>

// Which fields of a client's request the gateway keeps from the backend, and why: the rules the
// transport applies to every request head (ClientFields.cpp says what each family is and which
// backends read it). Names compare case-insensitively; the look-alike rules read '_' and '.' as
// '-', as CGI-style servers do (sdk::cgiFold).
namespace sluice::runtime::transport {

// What the transport does with one field of a client's request, by its name alone (hop-by-hop
// fields and look-alikes of another field of the message need the whole head: HopByHopFilter,
// CgiLookAlikes). One call per field on the request path.
enum class ClientField {
    Kept,
    Dropped,           // Content-Length, Expect, Proxy, and '_'/'.' look-alikes (cgiLookAlike)
    MethodOverride,    // methodOverrideField: refused, stripped or passed on per method_override
    ProxyInformation,  // proxyInformationField, clientCertificateField, authProxyField: trusted proxies only
};
ClientField classifyClientField(std::string_view name) noexcept;

// Fields the transport writes itself on the way to the backend: framing, Host, Expect, the
// X-Forwarded-* it rebuilds, Via and Forwarded.
bool transportOwned(std::string_view name) noexcept;

// Fields in which proxies tell a backend about the client or the original request (X-Real-IP,
// X-Forwarded-Port, X-Original-URL, SCRIPT_NAME, ...), in any CGI spelling: believed only from a
// trusted proxy.
bool proxyInformationField(std::string_view name) noexcept;

// Families of fields in which a TLS-terminating proxy passes on the client certificate and the
// TLS session (Tomcat, Jetty, WebLogic, WebSphere included).
bool clientCertificateField(std::string_view name) noexcept;

// Families of fields in which an authenticating proxy names the user.
bool authProxyField(std::string_view name) noexcept;

// Proxy (httpoxy): dropped from everyone.
bool httpoxyField(std::string_view name) noexcept;

// A name with '_' or '.' that reads as a framing, hop-by-hop, forwarding or body-type field.
bool cgiLookAlike(std::string_view name) noexcept;

// X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override in any CGI spelling.
bool methodOverrideField(std::string_view name) noexcept;

// Whether `query` has a `_method` parameter naming another method than `method`; with `kept`,
// the query without the pairs holding such a parameter is written there.
bool queryOverridesMethod(std::string_view query, std::string_view method, std::string* kept);

}  // namespace sluice::runtime::transport
