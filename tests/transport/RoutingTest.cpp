// Routing as the transport applies it: 404 and 405 answers, the default version, the normalised
// path that reaches the backend, and paths refused outright.
#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

GatewaySpec routedGateway(const ScriptedBackend& backend)
{
    GatewaySpec spec;
    spec.apis.emplace_back("catalog",
                           apiJson("/catalog", endpointList({backend.url("/api")}), R"("default_version": true)",
                                   R"([{"uri_template": "/items", "methods": ["GET"]},
                               {"uri_template": "/items/{id}", "methods": ["GET", "PUT", "DELETE"]},
                               {"uri_template": "/files/*", "methods": ["GET", "POST"]}])"));
    return spec;
}

}  // namespace

TEST_CASE("routing: 404 and 405 are JSON errors, 405 lists the allowed methods")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(routedGateway(backend));
    RawClient client(gw.port());

    auto unknown = client.exchange(getRequest("/nothing/here"));
    REQUIRE_MESSAGE(unknown, client.error());
    CHECK(unknown->status == 404);
    CHECK(unknown->errorCode() == 900906);
    CHECK(unknown->header("Content-Type") == "application/json");
    CHECK(unknown->body.find("\"message\"") != std::string::npos);
    CHECK_FALSE(unknown->hasToken("Connection", "close"));

    auto noResource = client.exchange(getRequest("/catalog/v1/unknown"));
    REQUIRE_MESSAGE(noResource, client.error());
    CHECK(noResource->status == 404);
    CHECK(noResource->errorCode() == 900906);

    auto wrongMethod = client.exchange(bodyRequest("POST", "/catalog/v1/items", ""));
    REQUIRE_MESSAGE(wrongMethod, client.error());
    CHECK(wrongMethod->status == 405);
    CHECK(wrongMethod->errorCode() == 900907);
    CHECK(wrongMethod->header("Allow") == "GET, HEAD");

    auto wrongOnItem = client.exchange(getRequest("/catalog/v1/items/7", {}, "PATCH"));
    REQUIRE_MESSAGE(wrongOnItem, client.error());
    CHECK(wrongOnItem->status == 405);
    CHECK(wrongOnItem->header("Allow") == "DELETE, GET, HEAD, PUT");

    // The connection survived every refusal, and nothing reached the backend.
    auto ok = client.exchange(getRequest("/catalog/v1/items"));
    REQUIRE_MESSAGE(ok, client.error());
    CHECK(ok->status == 200);
    REQUIRE(backend.waitForRequests(1, 2s));
    CHECK(backend.requestCount() == 1);
}

TEST_CASE("routing: the default version, and the normalised path with its query reach the backend")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(routedGateway(backend));
    RawClient client(gw.port());
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"/catalog/items", "/api/items"},  // default version
        {"/catalog/v1/items/42", "/api/items/42"},
        {"/catalog/v1/files/a/./b/../c", "/api/files/a/c"},                     // dot segments resolved
        {"/catalog/v1/files//x///y", "/api/files/x/y"},                         // empty segments dropped
        {"/catalog/v1/files/%7Euser/%41b", "/api/files/~user/Ab"},              // unreserved escapes decoded
        {"/catalog/v1/files/a%20b", "/api/files/a%20b"},                        // others kept escaped
        {"/catalog/v1/files/q?x=1&y=%2F..%2F", "/api/files/q?x=1&y=%2F..%2F"},  // the query is untouched
        {"/catalog/v1/x/../files/z", "/api/files/z"},                           // resolved before routing
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& [sent, expected] = cases[i];
        CAPTURE(sent);
        auto r = client.exchange(getRequest(sent));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 200);
        REQUIRE(backend.waitForRequests(i + 1, 2s));
        CHECK(backend.request(i).target == expected);
    }
}

TEST_CASE("routing: encoded separators and paths above the root are refused with 400")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(routedGateway(backend));
    for (const char* path :
         {"/catalog/v1/files/a%2Fb", "/catalog/v1/files/a%2fb", "/catalog/v1/files/a%5Cb", "/catalog/v1/files/a%00b",
          "/../catalog/v1/items", "/catalog/v1/../../../etc/passwd", "/catalog/v1/files/%zz"}) {
        CAPTURE(path);
        RawClient client(gw.port());
        auto r = client.exchange(getRequest(path));
        REQUIRE_MESSAGE(r, client.error());
        CHECK(r->status == 400);
        CHECK(r->errorCode() == 101400);
        CHECK(r->header("Content-Type") == "application/json");
    }
    CHECK(backend.requestCount() == 0);
}
