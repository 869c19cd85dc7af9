#include "sluice/runtime/routing/Router.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/runtime/Snapshot.h"
#include "sluice/runtime/routing/PathNormalizer.h"

using sluice::runtime::ApiRuntime;
using sluice::runtime::ResourceConfig;
using sluice::runtime::ResourceRuntime;
using sluice::runtime::routing::RouteMatch;
using sluice::runtime::routing::Router;
using sluice::runtime::routing::RouteStatus;

namespace {

struct ResourceSpec {
    std::string uriTemplate;
    std::vector<std::string> methods;
};

ApiRuntime makeApi(std::string name, std::string context, std::string version, bool defaultVersion,
                   const std::vector<ResourceSpec>& resources)
{
    ApiRuntime api;
    api.config.name = std::move(name);
    api.config.context = std::move(context);
    api.config.version = std::move(version);
    api.config.defaultVersion = defaultVersion;
    for (const ResourceSpec& spec : resources) {
        ResourceConfig resource;
        resource.uriTemplate = spec.uriTemplate;
        resource.methods = spec.methods;
        api.config.resources.push_back(resource);
        ResourceRuntime runtime;
        runtime.config = resource;
        api.resources.push_back(std::move(runtime));
    }
    return api;
}

// The API name and the template of the resource a route chose ("" when none).
std::string apiOf(const RouteMatch& match) { return match.api == nullptr ? std::string() : match.api->config.name; }

// Normalises `raw` and routes the result (GET) with what normalisation says about its ".." segments.
RouteMatch routeNormalized(const Router& router, std::string_view raw)
{
    std::string error;
    sluice::runtime::routing::NormalizeInfo info;
    std::optional<std::string> path = sluice::runtime::routing::normalizePath(raw, error, info);
    REQUIRE(path.has_value());
    return router.route("GET", *path, info);
}

std::string templateOf(const RouteMatch& match)
{
    return match.resource == nullptr ? std::string() : match.resource->config.uriTemplate;
}

using Params = std::vector<std::pair<std::string, std::string>>;

const std::vector<std::string> kAll = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

}  // namespace

TEST_CASE("router: versioned and default-version APIs")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("pets", "/pets", "v1", false, {{"/items", {"GET"}}, {"/items/{id}", {"GET"}}}));
    apis.push_back(makeApi("shop", "/shop", "2.0", true, {{"/orders", {"GET"}}, {"/*", {"GET"}}}));
    Router router(apis);

    RouteMatch m = router.route("GET", "/pets/v1/items");
    CHECK(m.status == RouteStatus::Matched);
    CHECK(m.api == &apis[0]);
    CHECK(m.resource == &apis[0].resources[0]);
    CHECK(m.resourcePath == "/items");
    CHECK(m.pathParams.empty());
    CHECK(m.allowedMethods.empty());

    // not default_version: the context alone is not enough
    m = router.route("GET", "/pets/items");
    CHECK(m.status == RouteStatus::NotFound);
    CHECK(m.api == nullptr);

    m = router.route("GET", "/shop/2.0/orders");
    CHECK(m.status == RouteStatus::Matched);
    CHECK(m.resource == &apis[1].resources[0]);
    CHECK(m.resourcePath == "/orders");

    CHECK(m.canonicalPath.empty());  // the path routed is the path handlers see

    m = router.route("GET", "/shop/orders");
    CHECK(m.status == RouteStatus::Matched);
    CHECK(m.resource == &apis[1].resources[0]);
    CHECK(m.resourcePath == "/orders");
    // Handlers see one path for both forms: the version is put back.
    CHECK(m.canonicalPath == "/shop/2.0/orders");

    // both forms could match: the versioned one wins ("/2.0/orders" would go to "/*")
    m = router.route("GET", "/shop/2.0/orders");
    CHECK(templateOf(m) == "/orders");

    // another version segment is just part of the resource path of the default version
    m = router.route("GET", "/shop/3.0/orders");
    CHECK(templateOf(m) == "/*");
    CHECK(m.resourcePath == "/3.0/orders");
    CHECK(m.canonicalPath == "/shop/2.0/3.0/orders");
}

TEST_CASE("router: a default-version path whose versioned form is another API's keeps its own path")
{
    // "/shop/admin/v1/users" is shop's "/admin/v1/users"; "/shop/v1/admin/v1/users" would be the
    // other API's "/users". Handlers must not see the one as the other.
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("shop", "/shop", "v1", true, {{"/*", {"GET"}}}));
    apis.push_back(makeApi("shop-admin", "/shop/v1/admin", "v1", false, {{"/*", {"GET"}}}));
    apis.push_back(makeApi("root", "/", "n", true, {{"/*", {"GET"}}}));
    apis.push_back(makeApi("n", "/n", "v1", false, {{"/*", {"GET"}}}));
    Router router(apis);

    RouteMatch m = router.route("GET", "/shop/admin/v1/users");
    CHECK(apiOf(m) == "shop");
    CHECK(m.resourcePath == "/admin/v1/users");
    CHECK(m.canonicalPath.empty());
    CHECK(apiOf(router.route("GET", "/shop/v1/admin/v1/users")) == "shop-admin");
    // The same under the root API: "/v1/x" is root's, "/n/v1/x" is n's.
    m = router.route("GET", "/v1/x");
    CHECK(apiOf(m) == "root");
    CHECK(m.canonicalPath.empty());
    // Paths that do not collide still get their version.
    CHECK(router.route("GET", "/shop/items").canonicalPath == "/shop/v1/items");
    CHECK(router.route("GET", "/other").canonicalPath == "/n/other");
    // Only a match has one: a 405 or 404 answer needs none.
    CHECK(router.route("POST", "/shop/items").canonicalPath.empty());
}

TEST_CASE("router: the resource path")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("pets", "/pets", "v1", true, {{"/*", {"GET"}}}));
    Router router(apis);

    CHECK(router.route("GET", "/pets/v1").resourcePath == "/");
    CHECK(router.route("GET", "/pets/v1/").resourcePath == "/");
    CHECK(router.route("GET", "/pets").resourcePath == "/");
    CHECK(router.route("GET", "/pets/").resourcePath == "/");
    CHECK(router.route("GET", "/pets/v1/a/b").resourcePath == "/a/b");
    CHECK(router.route("GET", "/pets/v1/a/b/").resourcePath == "/a/b/");
    CHECK(router.route("GET", "/pets/v1/a;x=1/%C3%A9").resourcePath == "/a;x=1/%C3%A9");
    CHECK(router.route("GET", "/pets/a").resourcePath == "/a");

    // The default-version form's path as handlers see it, with the version.
    CHECK(router.route("GET", "/pets").canonicalPath == "/pets/v1");
    CHECK(router.route("GET", "/pets/").canonicalPath == "/pets/v1/");
    CHECK(router.route("GET", "/pets/a;x=1/b/").canonicalPath == "/pets/v1/a;x=1/b/");
    CHECK(router.route("GET", "/pets/v1/a").canonicalPath.empty());

    // Only where nothing, not even a slash, followed the prefix does the backend get the
    // endpoint's path alone.
    CHECK(router.route("GET", "/pets/v1").nothingAfterPrefix);
    CHECK(router.route("GET", "/pets").nothingAfterPrefix);
    CHECK_FALSE(router.route("GET", "/pets/v1/").nothingAfterPrefix);
    CHECK_FALSE(router.route("GET", "/pets/").nothingAfterPrefix);
    CHECK_FALSE(router.route("GET", "/pets/v1/a").nothingAfterPrefix);
}

TEST_CASE("router: contexts match whole segments")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("pets", "/pets", "v1", false, {{"/*", {"GET"}}}));
    apis.push_back(makeApi("cats", "/cats", "v1", true, {{"/*", {"GET"}}}));
    Router router(apis);

    CHECK(router.route("GET", "/pets/v1/x").status == RouteStatus::Matched);
    CHECK(router.route("GET", "/petsx/v1/x").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/pet/v1/x").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/pets/v1x/x").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/pets/v/x").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/pets").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/catsx").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/Cats/v1").status == RouteStatus::NotFound);

    RouteMatch m = router.route("GET", "/cats/v1x/y");
    CHECK(apiOf(m) == "cats");
    CHECK(m.resourcePath == "/v1x/y");
}

TEST_CASE("router: the longest context wins when contexts nest")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("outer", "/a", "v1", true, {{"/*", {"GET"}}}));
    apis.push_back(makeApi("inner", "/a/b", "v1", false, {{"/*", {"GET"}}}));
    apis.push_back(makeApi("deep", "/a/b/c", "v9", true, {{"/*", {"GET"}}}));
    Router router(apis);

    RouteMatch m = router.route("GET", "/a/b/v1/x");
    CHECK(apiOf(m) == "inner");
    CHECK(m.resourcePath == "/x");

    m = router.route("GET", "/a/v1/b/x");
    CHECK(apiOf(m) == "outer");
    CHECK(m.resourcePath == "/b/x");

    // "inner" is not default_version, so "/a/b/x" belongs to the outer API's default version
    m = router.route("GET", "/a/b/x");
    CHECK(apiOf(m) == "outer");
    CHECK(m.resourcePath == "/b/x");

    m = router.route("GET", "/a/b/c/x");
    CHECK(apiOf(m) == "deep");
    CHECK(m.resourcePath == "/x");

    m = router.route("GET", "/a/b/c");
    CHECK(apiOf(m) == "deep");
    CHECK(m.resourcePath == "/");

    m = router.route("GET", "/a/b/cd");
    CHECK(apiOf(m) == "outer");
    CHECK(m.resourcePath == "/b/cd");
}

TEST_CASE("router: nesting precedence does not depend on configuration order")
{
    auto build = [](bool innerFirst) {
        std::vector<ApiRuntime> apis;
        ApiRuntime outer = makeApi("outer", "/a", "b", true, {{"/*", {"GET"}}});
        ApiRuntime inner = makeApi("inner", "/a/b", "v1", true, {{"/*", {"GET"}}});
        if (innerFirst) {
            apis.push_back(std::move(inner));
            apis.push_back(std::move(outer));
        } else {
            apis.push_back(std::move(outer));
            apis.push_back(std::move(inner));
        }
        return apis;
    };
    for (bool innerFirst : {true, false}) {
        CAPTURE(innerFirst);
        std::vector<ApiRuntime> apis = build(innerFirst);
        Router router(apis);
        // "/a" + version "b" and "/a/b" (default version) both cover "/a/b/x": the longer context wins
        RouteMatch m = router.route("GET", "/a/b/x");
        CHECK(apiOf(m) == "inner");
        CHECK(m.resourcePath == "/x");
        CHECK(apiOf(router.route("GET", "/a/x")) == "outer");
        CHECK(apiOf(router.route("GET", "/a/b/v1/x")) == "inner");
    }
}

TEST_CASE("router: the same context and version twice: the first API wins")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("first", "/dup", "v1", true, {{"/*", {"GET"}}}));
    apis.push_back(makeApi("second", "/dup", "v1", true, {{"/*", {"GET"}}}));
    Router router(apis);
    CHECK(apiOf(router.route("GET", "/dup/v1/x")) == "first");
    CHECK(apiOf(router.route("GET", "/dup/x")) == "first");
}

TEST_CASE("router: the root context")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("root", "/", "v1", true, {{"/*", {"GET"}}}));
    apis.push_back(makeApi("pets", "/pets", "v1", false, {{"/*", {"GET"}}}));
    Router router(apis);

    RouteMatch m = router.route("GET", "/v1/x");
    CHECK(apiOf(m) == "root");
    CHECK(m.resourcePath == "/x");

    CHECK(m.canonicalPath.empty());

    m = router.route("GET", "/anything/else");
    CHECK(apiOf(m) == "root");
    CHECK(m.resourcePath == "/anything/else");
    CHECK(m.canonicalPath == "/v1/anything/else");

    m = router.route("GET", "/");
    CHECK(apiOf(m) == "root");
    CHECK(m.resourcePath == "/");
    CHECK(m.canonicalPath == "/v1/");

    CHECK(apiOf(router.route("GET", "/pets/v1/x")) == "pets");
    // not under "pets" (not default_version): falls to the root API
    CHECK(apiOf(router.route("GET", "/pets/x")) == "root");
}

TEST_CASE("router: literal beats parameter beats wildcard, segment by segment")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("api", "/api", "v1", false,
                           {
                               {"/items/*", {"GET"}},
                               {"/items/{id}", {"GET"}},
                               {"/items/{a}/{b}", {"GET"}},
                               {"/items/{id}/details", {"GET"}},
                               {"/items/special", {"GET"}},
                               {"/{kind}/static", {"GET"}},
                               {"/items/{id}/*", {"GET"}},
                               {"/t/{x}", {"GET"}},
                               {"/t/{y}", {"GET"}},
                               {"/u/*", {"GET"}},
                               {"/u", {"GET"}},
                           }));
    Router router(apis);

    struct Expect {
        std::string path;
        std::string templ;
        Params params;
    };
    const std::vector<Expect> expectations = {
        {"/api/v1/items/special", "/items/special", {}},
        {"/api/v1/items/42", "/items/{id}", {{"id", "42"}}},
        {"/api/v1/items/42/details", "/items/{id}/details", {{"id", "42"}}},
        {"/api/v1/items/42/other", "/items/{a}/{b}", {{"a", "42"}, {"b", "other"}}},
        {"/api/v1/items/42/x/y", "/items/{id}/*", {{"id", "42"}}},
        {"/api/v1/items", "/items/*", {}},
        {"/api/v1/items/", "/items/*", {}},
        // first segment decides: literal "items" beats {kind}
        {"/api/v1/items/static", "/items/{id}", {{"id", "static"}}},
        {"/api/v1/things/static", "/{kind}/static", {{"kind", "things"}}},
        // ties go to the order written
        {"/api/v1/t/1", "/t/{x}", {{"x", "1"}}},
        // an exact end beats a wildcard that would match nothing
        {"/api/v1/u", "/u", {}},
        {"/api/v1/u/", "/u", {}},
        {"/api/v1/u/v", "/u/*", {}},
    };
    for (const Expect& e : expectations) {
        CAPTURE(e.path);
        RouteMatch m = router.route("GET", e.path);
        REQUIRE(m.status == RouteStatus::Matched);
        CHECK(templateOf(m) == e.templ);
        CHECK(m.pathParams == e.params);
    }
    // the resource pointer is the ResourceRuntime at the template's configured index
    CHECK(router.route("GET", "/api/v1/items/special").resource == &apis[0].resources[4]);
}

TEST_CASE("router: path parameters")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(
        makeApi("api", "/api", "v1", false, {{"/users/{user}/repos/{repo}", {"GET"}}, {"/files/{name}/*", {"GET"}}}));
    Router router(apis);

    RouteMatch m = router.route("GET", "/api/v1/users/al%20ice/repos/r;v=2");
    REQUIRE(m.status == RouteStatus::Matched);
    CHECK(m.pathParams == Params{{"user", "al%20ice"}, {"repo", "r;v=2"}});

    m = router.route("GET", "/api/v1/users/%C3%A9/repos/x/");
    REQUIRE(m.status == RouteStatus::Matched);
    CHECK(m.pathParams == Params{{"user", "%C3%A9"}, {"repo", "x"}});

    m = router.route("GET", "/api/v1/files/a.txt/deep/er");
    REQUIRE(m.status == RouteStatus::Matched);
    CHECK(m.pathParams == Params{{"name", "a.txt"}});

    // a parameter never matches an empty segment or more than one segment
    CHECK(router.route("GET", "/api/v1/users/x/repos").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/api/v1/users/x/repos/a/b").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/api/v1/files").status == RouteStatus::NotFound);
}

TEST_CASE("router: trailing slashes")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("api", "/api", "v1", false,
                           {{"/", {"GET"}}, {"/pets", {"GET"}}, {"/owners/", {"GET"}}, {"/*", {"POST"}}}));
    Router router(apis);

    CHECK(templateOf(router.route("GET", "/api/v1")) == "/");
    CHECK(templateOf(router.route("GET", "/api/v1/")) == "/");
    CHECK(templateOf(router.route("GET", "/api/v1/pets")) == "/pets");
    RouteMatch m = router.route("GET", "/api/v1/pets/");
    CHECK(templateOf(m) == "/pets");
    CHECK(m.resourcePath == "/pets/");
    CHECK(templateOf(router.route("GET", "/api/v1/owners")) == "/owners/");
    CHECK(templateOf(router.route("GET", "/api/v1/owners/")) == "/owners/");
}

TEST_CASE("router: methods, HEAD via GET and 405 with Allow")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("api", "/api", "v1", false,
                           {
                               {"/items/{id}", {"PUT", "GET"}},
                               {"/items/*", {"POST"}},
                               {"/items/new", {"POST"}},
                               {"/only-post", {"POST"}},
                               {"/head", {"HEAD"}},
                               {"/all", kAll},
                           }));
    Router router(apis);

    CHECK(router.route("GET", "/api/v1/items/1").status == RouteStatus::Matched);
    CHECK(router.route("PUT", "/api/v1/items/1").status == RouteStatus::Matched);

    RouteMatch m = router.route("HEAD", "/api/v1/items/1");
    CHECK(m.status == RouteStatus::Matched);
    CHECK(templateOf(m) == "/items/{id}");

    // a less specific resource that allows the method is used
    m = router.route("POST", "/api/v1/items/1");
    CHECK(m.status == RouteStatus::Matched);
    CHECK(templateOf(m) == "/items/*");

    // and a more specific one that does not allow it is skipped
    m = router.route("GET", "/api/v1/items/new");
    CHECK(m.status == RouteStatus::Matched);
    CHECK(templateOf(m) == "/items/{id}");

    // 405: the union over every resource that matched the path, sorted
    m = router.route("DELETE", "/api/v1/items/1");
    CHECK(m.status == RouteStatus::MethodNotAllowed);
    CHECK(m.api == &apis[0]);
    CHECK(m.resource == nullptr);
    CHECK(m.allowedMethods == "GET, HEAD, POST, PUT");
    CHECK(m.resourcePath == "/items/1");

    m = router.route("HEAD", "/api/v1/only-post");
    CHECK(m.status == RouteStatus::MethodNotAllowed);
    CHECK(m.allowedMethods == "POST");

    // HEAD alone does not allow GET
    CHECK(router.route("HEAD", "/api/v1/head").status == RouteStatus::Matched);
    m = router.route("GET", "/api/v1/head");
    CHECK(m.status == RouteStatus::MethodNotAllowed);
    CHECK(m.allowedMethods == "HEAD");

    // methods are case-sensitive; unknown ones are never allowed
    m = router.route("get", "/api/v1/all");
    CHECK(m.status == RouteStatus::MethodNotAllowed);
    CHECK(m.allowedMethods == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT");
    CHECK(router.route("TRACE", "/api/v1/all").status == RouteStatus::MethodNotAllowed);
    CHECK(router.route("", "/api/v1/all").status == RouteStatus::MethodNotAllowed);
    for (const std::string& method : kAll) {
        CHECK(router.route(method, "/api/v1/all").status == RouteStatus::Matched);
    }
}

TEST_CASE("router: 404")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("api", "/api", "v1", false, {{"/items", {"GET"}}, {"/items/{id}", {"GET"}}}));
    Router router(apis);

    // inside the API: NotFound, but the API is known (for the error and analytics)
    RouteMatch m = router.route("GET", "/api/v1/nothing");
    CHECK(m.status == RouteStatus::NotFound);
    CHECK(m.api == &apis[0]);
    CHECK(m.resource == nullptr);
    CHECK(m.resourcePath == "/nothing");
    CHECK(m.allowedMethods.empty());
    CHECK(router.route("GET", "/api/v1/items/1/2").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/api/v1/Items").status == RouteStatus::NotFound);

    // outside every API
    m = router.route("GET", "/other/v1/items");
    CHECK(m.status == RouteStatus::NotFound);
    CHECK(m.api == nullptr);
    CHECK(m.resourcePath.empty());

    // not a normalised path: nothing, and nothing breaks
    CHECK(router.route("GET", "").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "api/v1/items").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "//api/v1/items").status == RouteStatus::NotFound);

    std::vector<ApiRuntime> none;
    Router empty(none);
    CHECK(empty.route("GET", "/").status == RouteStatus::NotFound);
}

TEST_CASE("router: contexts and templates are normalised at configuration time")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("api", "/p%65ts/", "v1", false,
                           {{"/%7euser/%c3%a9", {"GET"}}, {"/a/b/", {"GET"}}, {"/semi%3bv=1", {"GET"}}}));
    Router router(apis);

    CHECK(templateOf(router.route("GET", "/pets/v1/~user/%C3%A9")) == "/%7euser/%c3%a9");
    CHECK(templateOf(router.route("GET", "/pets/v1/a/b")) == "/a/b/");
    CHECK(templateOf(router.route("GET", "/pets/v1/semi%3Bv=1")) == "/semi%3bv=1");
    CHECK(router.route("GET", "/pets/v1/semi").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/pets/v1/semi;v=1").status == RouteStatus::NotFound);
    // A literal ';' in a template, context or version is a configuration error.
    CHECK_FALSE(Router::validateTemplate("/semi;v=1").empty());
    CHECK_FALSE(Router::validateContext("/a;b").empty());
    CHECK_FALSE(Router::validateVersion("v1;x").empty());
}

TEST_CASE("router: invalid templates, contexts and versions are skipped")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("api", "/api", "v1", false,
                           {{"/a/{}", {"GET"}}, {"/a/{x}/{x}", {"GET"}}, {"/b/*/c", {"GET"}}, {"/ok", {"GET"}}}));
    apis.push_back(makeApi("bad-context", "/x/../y", "v1", true, {{"/*", {"GET"}}}));
    apis.push_back(makeApi("bad-version", "/z", "..", true, {{"/*", {"GET"}}}));
    Router router(apis);

    CHECK(router.route("GET", "/api/v1/a/1").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/api/v1/a/1/2").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/api/v1/b/1/c").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/api/v1/ok").status == RouteStatus::Matched);
    CHECK(router.route("GET", "/y/x").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/x/y").status == RouteStatus::NotFound);
    CHECK(router.route("GET", "/z/x").status == RouteStatus::NotFound);
}

TEST_CASE("router: a resource without its runtime is skipped")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("api", "/api", "v1", false, {{"/a", {"GET"}}, {"/b", {"GET"}}}));
    apis[0].resources.pop_back();
    Router router(apis);
    CHECK(router.route("GET", "/api/v1/a").resource == &apis[0].resources[0]);
    CHECK(router.route("GET", "/api/v1/b").status == RouteStatus::NotFound);
}

TEST_CASE("router: validateTemplate")
{
    for (const char* valid : {"/", "/a", "/a/b/c", "/a/", "/a/{id}", "/a/{id}/b/{other_id}", "/a/{id}/*", "/*",
                              "/a/%7E", "/{a.b-c_1}", "/%2A", "/a/...", "/@:!$&'()+,="}) {
        CAPTURE(valid);
        CHECK(Router::validateTemplate(valid).empty());
    }
    for (const char* invalid :
         {"",          "a",          "*",       "/a/{}",       "/a/{x}{y}", "/a/x{y}", "/a/{x}y", "/a/{x",
          "/a/x}",     "/a/{x}/{x}", "/a/{+x}", "/a/{.x}",     "/a/{x y}",  "/a/*/b",  "/*/",     "/a*",
          "/a/*.json", "/a//b",      "//",      "/a/../b",     "/a/.",      "/a/%2e",  "/a/%2F",  "/a/%zz",
          "/a?x={x}",  "/a#f",       "/a b",    "/a/\xc3\xa9", "/a/..;/b",  "/a;v=1",  "/@;"}) {
        CAPTURE(invalid);
        std::vector<std::string> problems = Router::validateTemplate(invalid);
        CHECK_FALSE(problems.empty());
        for (const std::string& problem : problems) {
            CHECK_FALSE(problem.empty());
        }
    }
    std::vector<std::string> problems = Router::validateTemplate("/a/{x}/b/{x}/{}");
    REQUIRE(problems.size() == 2);
    CHECK(problems[0].find("duplicate parameter name 'x'") != std::string::npos);
    CHECK(problems[0].find("segment 4") != std::string::npos);
    CHECK(problems[1].find("segment 5") != std::string::npos);

    std::string longName(65, 'n');
    CHECK_FALSE(Router::validateTemplate("/{" + longName + "}").empty());
    CHECK(Router::validateTemplate("/{" + longName.substr(1) + "}").empty());
}

TEST_CASE("router: validateContext and validateVersion")
{
    for (const char* valid : {"/", "/pets", "/pets/", "/a/b/c", "/p%65ts", "/t~"}) {
        CAPTURE(valid);
        CHECK(Router::validateContext(valid).empty());
    }
    for (const char* invalid :
         {"", "pets", "/a//b", "/a/./b", "/a/..", "/..", "/a/%zz", "/a b", "/a%2Fb", "/a/{x}", "/a;b"}) {
        CAPTURE(invalid);
        CHECK_FALSE(Router::validateContext(invalid).empty());
    }
    for (const char* valid : {"v1", "1.0.0", "2.0-beta", "v_1", "..."}) {
        CAPTURE(valid);
        CHECK(Router::validateVersion(valid).empty());
    }
    for (const char* invalid : {"", ".", "..", "%2e", "a/b", "v%2F1", "v 1", "%", "v1;x", "v{1}"}) {
        CAPTURE(invalid);
        CHECK_FALSE(Router::validateVersion(invalid).empty());
    }
}

TEST_CASE("router: a '..' never carries a request across an API prefix")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("public", "/api", "v1", true, {{"/*", kAll}}));
    apis.push_back(makeApi("public-v2", "/api", "v2", false, {{"/*", kAll}}));
    apis.push_back(makeApi("admin", "/admin", "v1", true, {{"/*", kAll}}));
    apis.push_back(makeApi("root", "/", "r1", true, {{"/*", kAll}}));
    Router router(apis);

    auto routeRaw = [&router](std::string_view raw) { return routeNormalized(router, raw); };

    // Climbing out of /api/v1 into another API, or into another version of the same one.
    for (const char* raw :
         {"/api/v1/../../admin/v1/users", "/api/v1/../../admin/users", "/api/v1/%2e%2e/%2E%2E/admin", "/api/v1/../v2/x",
          "/api/../admin/x", "/api/v1/x/../../../admin/y", "/api/v1/../../api/v1/x"}) {
        CAPTURE(raw);
        RouteMatch m = routeRaw(raw);
        CHECK(m.status == RouteStatus::Escaped);
        CHECK(m.api == nullptr);
        CHECK(m.resource == nullptr);
    }
    // Moving inside an API's resource path is fine.
    RouteMatch inside = routeRaw("/api/v1/a/b/../c");
    CHECK(inside.status == RouteStatus::Matched);
    CHECK(apiOf(inside) == "public");
    CHECK(inside.resourcePath == "/a/c");
    RouteMatch upToPrefix = routeRaw("/api/v1/a/..");
    CHECK(upToPrefix.status == RouteStatus::Matched);
    CHECK(upToPrefix.resourcePath == "/");
    RouteMatch defaultForm = routeRaw("/api/a/../b");
    CHECK(apiOf(defaultForm) == "public");
    CHECK(defaultForm.resourcePath == "/b");
    // Climbing out of an API into the root API (whose prefix is empty) is refused too: the
    // request was written under /api/v1.
    CHECK(routeRaw("/api/v1/../../other").status == RouteStatus::Escaped);
    CHECK(routeRaw("/admin/v1/../../x").status == RouteStatus::Escaped);
    // Within one API, from its versioned to its default-version form, is not leaving it.
    RouteMatch sameApi = routeRaw("/admin/v1/../x");
    CHECK(sameApi.status == RouteStatus::Matched);
    CHECK(apiOf(sameApi) == "admin");
    CHECK(sameApi.resourcePath == "/x");
    CHECK(routeRaw("/admin/..").status == RouteStatus::Escaped);
    // ... and back: every step stays in the API ("/admin" is its default-version form).
    RouteMatch back = routeRaw("/admin/v1/../v1/users");
    CHECK(back.status == RouteStatus::Matched);
    CHECK(apiOf(back) == "admin");
    CHECK(back.resourcePath == "/users");
    CHECK(back.canonicalPath.empty());
    CHECK(apiOf(routeRaw("/api/v1/x/../../v1/y")) == "public");
    // Not when a step left the API: "/api/v1/../../api/v1/x" stood at "/" (the root API).
    CHECK(routeRaw("/api/v1/../../api/v1/x").status == RouteStatus::Escaped);
    // Inside the root API a '..' may move freely, as long as it never removes a prefix segment.
    RouteMatch inRoot = routeRaw("/other/a/../b");
    CHECK(inRoot.status == RouteStatus::Matched);
    CHECK(apiOf(inRoot) == "root");
    CHECK(inRoot.resourcePath == "/other/b");

    // A '..' that pops a segment from a path longer than any request may resolve to leaves no
    // prefix behind it to check, so the root API (empty prefix) must not count as left: the
    // path stays inside /api/v1.
    const std::string longSegment(sluice::runtime::routing::kMaxNormalizedPathBytes + 100, 'a');
    RouteMatch pastLong = routeRaw("/api/v1/" + longSegment + "/../x");
    CHECK(pastLong.status == RouteStatus::Matched);
    CHECK(apiOf(pastLong) == "public");
    CHECK(pastLong.resourcePath == "/x");
    CHECK(routeRaw("/api/v1/" + longSegment + "/../../../admin/x").status == RouteStatus::Escaped);

    // Without any '..' nothing changes, also right after a path that had one.
    CHECK(routeRaw("/api/v1/../../admin/v1/users").status == RouteStatus::Escaped);
    RouteMatch direct = routeRaw("/admin/v1/users");
    CHECK(direct.status == RouteStatus::Matched);
    CHECK(apiOf(direct) == "admin");
    CHECK(router.route("GET", "/admin/v1/users").status == RouteStatus::Matched);
}

TEST_CASE("router: a '..' may not climb out of a nested API into the enclosing one")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("outer", "/api", "v1", true, {{"/*", kAll}}));
    apis.push_back(makeApi("inner", "/api/admin", "v1", true, {{"/*", kAll}}));
    Router router(apis);
    auto routeRaw = [&router](std::string_view raw) { return routeNormalized(router, raw); };
    for (const char* raw : {"/api/admin/v1/../../x", "/api/admin/../x", "/api/admin/v1/a/../../../x"}) {
        CAPTURE(raw);
        CHECK(routeRaw(raw).status == RouteStatus::Escaped);
    }
    // Moving within the outer API, through a segment that is not a prefix, stays allowed.
    RouteMatch outer = routeRaw("/api/v1/admin2/../x");
    CHECK(outer.status == RouteStatus::Matched);
    CHECK(apiOf(outer) == "outer");
    CHECK(outer.resourcePath == "/x");
    RouteMatch inner = routeRaw("/api/admin/v1/a/../b");
    CHECK(apiOf(inner) == "inner");
    CHECK(inner.resourcePath == "/b");
}

TEST_CASE("router: path parameters after a semicolon do not change which API or resource a segment names")
{
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("svc", "/svc", "v1", false, {{"/admin", kAll}, {"/pets/{id}", kAll}, {"/*", kAll}}));
    Router router(apis);
    for (const char* path :
         {"/svc/v1/admin;x", "/svc/v1/admin;", "/svc/v1/admin;jsessionid=1", "/svc/v1/admin;a;b=c"}) {
        CAPTURE(path);
        RouteMatch m = router.route("GET", path);
        REQUIRE(m.status == RouteStatus::Matched);
        REQUIRE(m.resource != nullptr);
        CHECK(templateOf(m) == "/admin");
        CHECK(m.resourcePath.rfind("/admin;", 0) == 0);  // the parameters go on to the backend
    }
    RouteMatch pet = router.route("GET", "/svc/v1/pets/7;color=red");
    REQUIRE(pet.status == RouteStatus::Matched);
    REQUIRE(pet.pathParams.size() == 1);
    CHECK(pet.pathParams[0].second == "7;color=red");
    // An escaped ';' is data: "admin%3Bx" is another segment.
    RouteMatch escaped = router.route("GET", "/svc/v1/admin%3Bx");
    REQUIRE(escaped.status == RouteStatus::Matched);
    CHECK(templateOf(escaped) == "/*");
}

TEST_CASE("router: path parameters on a segment of an API's context or version are refused")
{
    // The backend never gets them (the prefix becomes the endpoint's path), and handlers would see
    // a path that a policy written for "/svc/v1/..." or "/svc/admin/..." does not recognise.
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("svc", "/svc", "v1", true, {{"/admin", kAll}, {"/*", kAll}}));
    apis.push_back(makeApi("inner", "/svc/admin", "v2", false, {{"/*", kAll}}));
    Router router(apis);
    for (const char* path : {"/svc;a/v1/admin", "/svc/v1;b/admin", "/svc;/v1/x", "/svc;a/admin", "/svc/admin;x/v2/y",
                             "/svc/admin/v2;jsessionid=1/y", "/svc;a/v1;b/admin;c"}) {
        CAPTURE(path);
        RouteMatch m = router.route("GET", path);
        CHECK(m.status == RouteStatus::PrefixParameter);
        CHECK(m.api == nullptr);
    }
    // After the prefix they are the resource's, as above; an escaped ';' is data everywhere.
    CHECK(router.route("GET", "/svc/v1/admin;x").status == RouteStatus::Matched);
    CHECK(router.route("GET", "/svc/admin/v2/y;x").status == RouteStatus::Matched);
    RouteMatch escaped = router.route("GET", "/svc%3Bx/v1/admin");
    CHECK(escaped.status != RouteStatus::PrefixParameter);
}

TEST_CASE("router: names compare percent-decoded, so an escaped reserved character is the character")
{
    // Tomcat, Spring, nginx and Go decode "%24" before matching: "/%24metadata" is "/$metadata".
    std::vector<ApiRuntime> apis;
    apis.push_back(makeApi("odd", "/a:b", "v$1", false,
                           {{"/$metadata", kAll}, {"/users/@me", kAll}, {"/x%3By", kAll}, {"/*", kAll}}));
    apis.push_back(makeApi("root", "/", "v1", true, {{"/*", kAll}}));
    Router router(apis);
    for (const char* path :
         {"/a:b/v$1/$metadata", "/a%3Ab/v$1/$metadata", "/a:b/v%241/%24metadata", "/a%3Ab/v%241/%24metadata;r"}) {
        CAPTURE(path);
        RouteMatch m = router.route("GET", path);
        CHECK(apiOf(m) == "odd");
        CHECK(templateOf(m) == "/$metadata");
    }
    CHECK(router.route("GET", "/a%3Ab;p/v%241;q/%24metadata;r").status == RouteStatus::PrefixParameter);
    CHECK(templateOf(router.route("GET", "/a:b/v$1/users/%40me")) == "/users/@me");
    // A decoded "%3B" is data, a literal ';' starts parameters.
    CHECK(templateOf(router.route("GET", "/a:b/v$1/x%3By")) == "/x%3By");
    CHECK(templateOf(router.route("GET", "/a:b/v$1/x;y")) == "/*");
    CHECK(apiOf(router.route("GET", "/a%3Bb/v$1/x")) == "root");
    // Decoded once only.
    CHECK(templateOf(router.route("GET", "/a:b/v$1/%2524metadata")) == "/*");
    CHECK(apiOf(router.route("GET", "/a%253Ab/v$1/x")) == "root");
}
