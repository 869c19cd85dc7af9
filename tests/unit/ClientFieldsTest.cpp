#include "sluice/runtime/transport/ClientFields.h"

#include <doctest/doctest.h>

#include <string>

using sluice::runtime::transport::classifyClientField;
using sluice::runtime::transport::ClientField;
using sluice::runtime::transport::queryOverridesMethod;
using sluice::runtime::transport::transportOwned;

TEST_CASE("ClientFields: what the transport does with a client's field, by its name")
{
    // Dropped from everyone: framing the gateway writes, httpoxy, and '_'/'.' spellings of
    // framing, hop-by-hop, forwarding and body-type fields (CGI-style servers read them as those).
    for (const char* name : {"Content-Length", "EXPECT", "Proxy", "Transfer_Encoding", "Content_Length",
                             "X_Forwarded_For", "X.Forwarded.For", "x.forwarded-host", "Content_Type", "Content.Type",
                             "content_encoding", "Keep_Alive", "Proxy_Authorization", "proxy.authenticate"}) {
        CAPTURE(name);
        CHECK(classifyClientField(name) == ClientField::Dropped);
    }
    // Method overrides in any CGI spelling.
    for (const char* name : {"X-HTTP-Method-Override", "x-http-method", "X-Method-Override", "X_HTTP_Method_Override",
                             "X.HTTP.Method.Override", "x.method_override"}) {
        CAPTURE(name);
        CHECK(classifyClientField(name) == ClientField::MethodOverride);
    }
    // Proxy information: believed from trusted proxies only, in every CGI spelling (Tomcat's
    // SSLValve reads ssl_cipher spelt so).
    for (const char* name :
         {"X-Real-IP", "X-Forwarded-Port", "X-Original-URL", "Script-Name", "Client-Cert", "ssl-client-cert",
          "X-SSL-Subject", "Remote-User", "X-Auth-Request-User", "X-Middleware-Subrequest", "X-Forwarded-Prefix",
          "Cf-Access-Authenticated-User-Email",
          // TLS details that Tomcat, Jetty, WebLogic and WebSphere believe ('_' spellings: above)
          "Ssl-Cipher", "SSL-CIPHER-USEKEYSIZE", "ssl-session-id", "X-Proxied-Https", "Proxy-ssl-id", "Proxy-auth-cert",
          "WL-Proxy-SSL", "WL-Proxy-Client-IP", "wl-proxy-client-cert", "$WSIS", "$WSRA", "$wscc", "X_Real_IP",
          "X.Real.IP", "Client_Cert", "ssl.client.verify", "Remote.User", "X_Authentik_Groups", "ssl_cipher",
          "SSL_CIPHER_USEKEYSIZE", "ssl_session_id", "X_Proxied_Https", "WL_Proxy_SSL",
          // Tornado's xheaders take the scheme from X-Scheme before X-Forwarded-Proto
          "X-Scheme", "x_scheme", "X.Scheme"}) {
        CAPTURE(name);
        CHECK(classifyClientField(name) == ClientField::ProxyInformation);
    }
    // Anything else is kept, '_' and '.' included when they stand for nothing the gateway owns.
    for (const char* name : {"Accept", "X-Api-Key", "X_Api_Key", "Some.Thing", "Content-Type", "Authorization",
                             "X-Forwarded-Ssl-X", "Remote-Username", "X-Client-Id", "Client-Certainty", "Via.X",
                             "Connection_", "Upgrade.", "X-Schemes"}) {  // one byte more than an owned name
        CAPTURE(name);
        CHECK(classifyClientField(name) == ClientField::Kept);
    }
}

TEST_CASE("ClientFields: the fields the transport writes itself")
{
    for (const char* name : {"Host", "content-length", "Expect", "X-Forwarded-For", "x-forwarded-proto",
                             "X-Forwarded-Host", "Via", "Forwarded"}) {
        CAPTURE(name);
        CHECK(transportOwned(name));
    }
    for (const char* name : {"X_Forwarded_For", "Hosts", "X-Forwarded-Port", ""}) {
        CAPTURE(name);
        CHECK_FALSE(transportOwned(name));
    }
}

TEST_CASE("ClientFields: a _method query parameter naming another method, and the query without it")
{
    std::string kept;
    CHECK(queryOverridesMethod("a=1&_method=DELETE&b=2", "POST", &kept));
    CHECK(kept == "a=1&b=2");
    kept.clear();
    CHECK_FALSE(queryOverridesMethod("_method=post&x=1", "POST", &kept));  // its own method, any case
    CHECK(kept == "x=1");
    CHECK(queryOverridesMethod("%5Fmethod=PUT", "GET", nullptr));
    CHECK(queryOverridesMethod("a=1;_method=PATCH", "GET", nullptr));  // PHP's ';' separator
    CHECK(queryOverridesMethod(".method=PUT", "GET", nullptr));        // PHP reads '.' as '_'
    CHECK_FALSE(queryOverridesMethod("x_method=PUT&method=PUT", "GET", nullptr));
    CHECK_FALSE(queryOverridesMethod("", "GET", nullptr));
}
