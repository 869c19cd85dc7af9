#include "sluice/runtime/transport/LocationRewrite.h"

#include <doctest/doctest.h>

using sluice::runtime::transport::LocationOrigin;
using sluice::runtime::transport::rewriteLocation;

namespace {

const LocationOrigin kHttp{false, "10.0.0.5", 8080, "10.0.0.5:8080", "/b"};
const LocationOrigin kHttpsDefaultPort{true, "api.internal", 443, "api.internal", ""};
const LocationOrigin kV6{false, "::1", 9000, "[::1]:9000", "/svc"};

std::string rewritten(std::string_view value, const LocationOrigin& origin = kHttp,
                      std::string_view prefix = "/shop/v1")
{
    return rewriteLocation(value, origin, prefix).value_or("<unchanged>");
}

}  // namespace

TEST_CASE("LocationRewrite: the endpoint's absolute URLs and paths under its path become the API's")
{
    CHECK(rewritten("http://10.0.0.5:8080/b/orders/7") == "/shop/v1/orders/7");
    CHECK(rewritten("HTTP://10.0.0.5:8080/b/orders/7?x=1#top") == "/shop/v1/orders/7?x=1#top");
    CHECK(rewritten("http://10.0.0.5:8080/b") == "/shop/v1");
    CHECK(rewritten("http://10.0.0.5:8080/b/") == "/shop/v1/");
    CHECK(rewritten("http://10.0.0.5:8080/b?page=2") == "/shop/v1?page=2");
    CHECK(rewritten("/b/orders/7") == "/shop/v1/orders/7");
    CHECK(rewritten("/b") == "/shop/v1");
    // A trailing slash of the prefix is not doubled.
    CHECK(rewritten("/b/x", kHttp, "/shop/v1/") == "/shop/v1/x");
}

TEST_CASE("LocationRewrite: the authority matches by host case-insensitively and by port written or default")
{
    CHECK(rewritten("https://API.internal/x", kHttpsDefaultPort) == "/shop/v1/x");
    CHECK(rewritten("https://api.internal:443/x", kHttpsDefaultPort) == "/shop/v1/x");
    CHECK(rewritten("https://api.internal", kHttpsDefaultPort) == "/shop/v1");
    CHECK(rewritten("/", kHttpsDefaultPort) == "/shop/v1/");
    CHECK(rewritten("http://[::1]:9000/svc/a", kV6) == "/shop/v1/a");
    CHECK(rewritten("http://[::1]:9001/svc/a", kV6) == "<unchanged>");
}

TEST_CASE("LocationRewrite: a value already under the API's path is not given the prefix twice")
{
    const LocationOrigin root{false, "app", 8080, "app:8080", ""};
    CHECK(rewritten("/shop/v1/orders/7", root) == "<unchanged>");
    CHECK(rewritten("/shop/v1", root) == "<unchanged>");
    CHECK(rewritten("http://app:8080/shop/v1/orders/7?x", root) == "/shop/v1/orders/7?x");
    CHECK(rewritten("/shop/v10/x", root) == "/shop/v1/shop/v10/x");  // not under /shop/v1
    CHECK(rewritten("/orders/7", root) == "/shop/v1/orders/7");
    CHECK(rewritten("/shop/v1/x", root, "/shop/v1/") == "<unchanged>");
}

TEST_CASE("LocationRewrite: anything else passes unchanged")
{
    CHECK(rewritten("http://10.0.0.5:8081/b/x") == "<unchanged>");    // another port
    CHECK(rewritten("https://10.0.0.5:8080/b/x") == "<unchanged>");   // another scheme
    CHECK(rewritten("http://10.0.0.6:8080/b/x") == "<unchanged>");    // another host
    CHECK(rewritten("http://10.0.0.5/b/x") == "<unchanged>");         // port 80
    CHECK(rewritten("http://u@10.0.0.5:8080/b/x") == "<unchanged>");  // userinfo
    CHECK(rewritten("http://10.0.0.5:8080x/b/x") == "<unchanged>");   // not a port
    CHECK(rewritten("http://10.0.0.5:8080/bx") == "<unchanged>");     // not under /b
    CHECK(rewritten("/bx/y") == "<unchanged>");
    CHECK(rewritten("/other/x") == "<unchanged>");
    CHECK(rewritten("//10.0.0.5:8080/b/x") == "<unchanged>");  // network-path reference
    CHECK(rewritten("orders/7") == "<unchanged>");             // relative to the request
    CHECK(rewritten("https://www.example.com/b") == "<unchanged>");
    CHECK(rewritten("") == "<unchanged>");
    CHECK(rewritten("http://") == "<unchanged>");
    CHECK(rewritten("http://[::1/svc", kV6) == "<unchanged>");
}
