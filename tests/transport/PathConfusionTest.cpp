// Path confusion through the real transport: request targets whose spelling could make the
// gateway route, police or forward a path other than the one the backend serves.
//
// One API "/svc" (version v1) in front of a backend at "/base". Guarded resources answer 403 from a
// Lua step; the wildcard "/*" is open; "/items/{id}" tags the request with the path and the
// parameter its policies saw, so each case can compare that with the target the backend received.
// Backends that matter for the comparison: Tomcat/Spring (decode once, drop ";..." path parameters
// before decoding, collapse "//", resolve dot segments), nginx (decodes every escape, merges
// slashes, resolves dot segments), Go's ServeMux and most others (match on the decoded path).
#include <string>
#include <string_view>
#include <vector>

#include "TransportTest.h"

using namespace sluice::transport_test;

namespace {

constexpr const char* kGuard =
    R"({"component": "lua_mediation", "config": {"source": "function on_request(ctx) ctx.respond(403, 'guarded', {['Content-Type'] = 'text/plain'}) end"}})";
constexpr const char* kTagger =
    R"({"component": "lua_mediation", "config": {"source": "function on_request(ctx) ctx.request.set_header('X-Seen-Path', ctx.request.get_path()) ctx.request.set_header('X-Seen-Id', ctx.request.get_path_param('id') or '') end"}})";

// Refuses a `role` query parameter other than "user", reading the first one as policies do.
constexpr const char* kRoleGuard =
    R"({"component": "lua_mediation", "config": {"source": "function on_request(ctx) local r = ctx.request.get_query_arg('role') if r ~= nil and r ~= 'user' then ctx.respond(403, 'role ' .. r, {['Content-Type'] = 'text/plain'}) end end"}})";

std::string resources()
{
    std::string guard = kGuard;
    return R"([{"uri_template": "/admin", "methods": ["GET"], "handlers": [)" + guard + R"(]},
               {"uri_template": "/roles", "methods": ["GET"], "handlers": [)" +
           std::string(kRoleGuard) + R"(]},
               {"uri_template": "/$metadata", "methods": ["GET"], "handlers": [)" +
           guard + R"(]},
               {"uri_template": "/jobs:cancel", "methods": ["GET"], "handlers": [)" +
           guard + R"(]},
               {"uri_template": "/users/@me", "methods": ["GET"], "handlers": [)" +
           guard + R"(]},
               {"uri_template": "/items/{id}", "methods": ["GET"], "handlers": [)" +
           std::string(kTagger) + R"(]},
               {"uri_template": "/*", "methods": ["GET", "OPTIONS"]}])";
}

GatewaySpec pathGateway(const ScriptedBackend& backend)
{
    GatewaySpec spec;
    spec.apis.emplace_back("svc", apiJson("/svc", endpointList({backend.url("/base")}), "", resources()));
    return spec;
}

// "<start line>\r\n<fields>\r\n\r\n", nothing added.
std::string rawRequest(std::string_view startLine, const std::vector<std::string>& fields = {"Host: gateway.test"})
{
    std::string text = std::string(startLine) + "\r\n";
    for (const auto& f : fields) {
        text += f + "\r\n";
    }
    return text + "\r\n";
}

// Sends `request` on a fresh connection and returns the answer (REQUIREs one).
HttpResponse send(int port, const std::string& request)
{
    RawClient client(port);
    auto r = client.exchange(request);
    REQUIRE_MESSAGE(r, client.error());
    return *r;
}

// The gateway's own 400 for a request target or path it refuses.
void expectRefused(int port, const std::string& request, int status = 400)
{
    CAPTURE(request);
    HttpResponse r = send(port, request);
    CHECK(r.status == status);
    CHECK(r.header("Content-Type") == "application/json");
}

}  // namespace

// ---- path parameters ------------------------------------------------------------------------------

TEST_CASE("path confusion: a segment that is nothing but a path parameter is refused")
{
    // Tomcat and Spring drop ";..." before matching, so "/base/;x/admin" is "/base//admin", which
    // they collapse to "/base/admin", and "/base/admin/;x" is "/base/admin/", which Spring matches as
    // "/admin". The gateway saw an extra segment (";x") and took the open wildcard: the guard of
    // "/admin" was skipped. Such a segment has no name to route on: refused, like "..;".
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    for (const char* path : {"/svc/v1/;/admin", "/svc/v1/;x/admin", "/svc/v1/;jsessionid=1/admin", "/svc/v1/admin/;x",
                             "/svc/v1/admin/;", "/svc/v1/;x/;y/admin", "/svc/;x/v1/admin", "/svc/v1/x/;/../admin"}) {
        expectRefused(gw.port(), getRequest(path));
    }
    // On the API's context or version, parameters would reach no backend (the prefix becomes the
    // endpoint's path) while handlers saw them: a policy on "/svc/v1/..." would not recognise
    // "/svc;x/v1/...". Refused.
    for (const char* path : {"/svc;x/v1/admin", "/svc/v1;x/admin", "/svc;/v1/admin", "/svc/v1;jsessionid=1/x"}) {
        CAPTURE(path);
        HttpResponse r = send(gw.port(), getRequest(path));
        CHECK(r.status == 400);
        CHECK(r.body.find("context or version") != std::string::npos);
    }
    // A parameter on a named segment is fine and keeps routing on that name.
    CHECK(send(gw.port(), getRequest("/svc/v1/admin;x")).status == 403);
    CHECK(send(gw.port(), getRequest("/svc/v1/x;/../admin")).status == 403);
    CHECK(backend.requestCount() == 0);
    // An escaped ';' is data within a name (Tomcat splits parameters off before decoding), but a
    // backend that decodes first reads "%3Bx" as a parameter with no name, and "..%3B" as "..;":
    // refused like the literal forms.
    for (const char* path :
         {"/svc/v1/%3Bx/admin", "/svc/v1/%3bx/admin", "/svc/v1/x/..%3B/admin", "/svc/v1/x/%2E%2E%3b/admin"}) {
        CAPTURE(path);
        CHECK(send(gw.port(), getRequest(path)).status == 400);
    }
    HttpResponse escaped = send(gw.port(), getRequest("/svc/v1/a%3Bx/admin"));
    CHECK(escaped.status == 200);
    CHECK(escaped.body == "backend GET /base/a%3Bx/admin");
}

// ---- escapes of reserved characters ---------------------------------------------------------------

TEST_CASE("path confusion: an escaped reserved character names the same resource as the character itself")
{
    // "/%24metadata" is "/$metadata" to Tomcat, Spring, nginx and Go, which all decode before
    // matching. The gateway must not take it for another resource (the open wildcard).
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    for (const char* path : {"/svc/v1/$metadata", "/svc/v1/%24metadata", "/svc/v1/%24%6Detadata", "/svc/v1/jobs:cancel",
                             "/svc/v1/jobs%3Acancel", "/svc/v1/jobs%3acancel", "/svc/v1/users/@me",
                             "/svc/v1/users/%40me", "/svc/v1/users/%40me/", "/svc/v1/%24metadata;x"}) {
        CAPTURE(path);
        HttpResponse r = send(gw.port(), getRequest(path));
        CHECK(r.status == 403);
        CHECK(r.body == "guarded");
    }
    // Neighbours that are really other names stay open, and reach the backend as written.
    for (const auto& [path, target] : std::vector<std::pair<std::string, std::string>>{
             {"/svc/v1/%2524metadata", "/base/%2524metadata"},  // "%24metadata" once decoded
             {"/svc/v1/jobs%3Bcancel", "/base/jobs%3Bcancel"},  // ';' as data
             {"/svc/v1/jobs:cancel2", "/base/jobs:cancel2"},
             {"/svc/v1/users/%40me%40", "/base/users/%40me%40"}}) {
        CAPTURE(path);
        HttpResponse r = send(gw.port(), getRequest(path));
        CHECK(r.status == 200);
        CHECK(r.body == "backend GET " + target);
    }
}

TEST_CASE("path confusion: characters that browsers send unescaped reach the backend escaped")
{
    // '[', ']', '|' and '^' come unescaped from browsers (and '[' and ']' from Python and Go),
    // '{', '}' and '`' from scripts. They are outside RFC 3986, and servers differ on them
    // (Tomcat refuses them unescaped), so the one canonical form is the escaped one: routing,
    // policies and the backend all see that.
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    for (const auto& [path, target] :
         std::vector<std::pair<std::string, std::string>>{{"/svc/v1/items[0]", "/base/items%5B0%5D"},
                                                          {"/svc/v1/items%5B0%5D", "/base/items%5B0%5D"},
                                                          {"/svc/v1/a|b^c", "/base/a%7Cb%5Ec"},
                                                          {"/svc/v1/{x}/`y`", "/base/%7Bx%7D/%60y%60"},
                                                          {"/svc/v1/[a]/../b", "/base/b"}}) {
        CAPTURE(path);
        HttpResponse r = send(gw.port(), getRequest(path));
        CHECK(r.status == 200);
        CHECK(r.body == "backend GET " + target);
    }
    // Still guarded: "[" does not make a new name of a guarded one.
    CHECK(send(gw.port(), getRequest("/svc/v1/admin")).status == 403);
    CHECK(send(gw.port(), getRequest("/svc/v1/[x]/../admin")).status == 403);
    for (const char* path : {"/svc/v1/a\"b", "/svc/v1/<x>", "/svc/v1/a\\b"}) {
        expectRefused(gw.port(), getRequest(path));
    }
}

TEST_CASE("path confusion: an escaped reserved character in the context or version routes like the character")
{
    ScriptedBackend plain(echo("plain"));
    ScriptedBackend odd(echo("odd"));
    GatewaySpec spec;
    spec.apis.emplace_back("plain", apiJson("/", endpointList({plain.url("/p")}), R"("default_version": true)"));
    spec.apis.emplace_back("odd", R"({"name": "Odd", "context": "/a:b", "version": "v1", "endpoints": )" +
                                      endpointList({odd.url("/o")}) +
                                      R"(, "resources": [{"uri_template": "/*", "methods": ["GET"]}]})");
    SluicedProcess gw(spec);
    for (const char* path : {"/a:b/v1/x", "/a%3Ab/v1/x", "/a%3ab/v1/x"}) {
        CAPTURE(path);
        HttpResponse r = send(gw.port(), getRequest(path));
        CHECK(r.status == 200);
        CHECK(r.header("X-Backend") == "odd");
    }
    // "/a%3Bb" is another name; the catch-all API takes it and passes it on as written.
    HttpResponse other = send(gw.port(), getRequest("/a%3Bb/v1/x"));
    CHECK(other.body == "plain GET /p/a%3Bb/v1/x");
}

// ---- separators, dots and encodings ---------------------------------------------------------------

TEST_CASE("path confusion: encoded separators, backslashes, NUL and overlong forms are refused in every position")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    for (const char* path : {
             "/svc/v1/admin%2F",
             "/svc%2Fv1/admin",
             "/svc/v1%2fadmin",
             "/%2Fsvc/v1/admin",
             "/svc/v1/x%2F..%2Fadmin",
             "/svc/v1/x/..%2fadmin",
             "/svc/v1/x%5C..%5Cadmin",
             "/svc/v1/x%5c",
             "/svc/v1/admin%00",
             "/svc/v1/%00/x",
             "/svc/v1/x/%C0%AE%C0%AE/admin",
             "/svc/v1/%c0%af",
             "/svc/v1/%E0%80%AE",
             "/svc/v1/%F0%80%80%AE",
             "/svc/v1/x/%c1%9c..",
             "/svc/v1/%",
             "/svc/v1/%4",
             "/svc/v1/%4g",
             "/svc/v1/x%%32%65",
         }) {
        expectRefused(gw.port(), getRequest(path));
    }
    // Literal bytes the parser refuses before any routing: backslash, raw controls and raw
    // non-ASCII, each with the same 400.
    for (std::string_view path : {std::string_view("/svc/v1\\admin"), std::string_view("/svc/v1/x\\..\\admin"),
                                  std::string_view("/svc/v1/a\x01"), std::string_view("/svc/v1/a\x7f"),
                                  std::string_view("/svc/v1/\xc3\xa9"), std::string_view("/svc/v1/\xc0\xae\xc0\xae"),
                                  std::string_view("/svc/v1/a\tb"), std::string_view("/svc/v1/a\0b", 11)}) {
        expectRefused(gw.port(), rawRequest("GET " + std::string(path) + " HTTP/1.1"));
    }
    CHECK(backend.requestCount() == 0);
}

TEST_CASE("path confusion: encoded dots in any case resolve like dots and cannot leave the API")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    for (const char* path :
         {"/svc/v1/x/%2e%2e/admin", "/svc/v1/x/%2E%2E/admin", "/svc/v1/x/.%2e/admin", "/svc/v1/x/%2E./admin",
          "/svc/v1/%2e/admin", "/svc/v1/x/y/%2e%2E/%2E%2e/admin", "/svc/v1/%61dmin"}) {
        CAPTURE(path);
        CHECK(send(gw.port(), getRequest(path)).status == 403);
    }
    for (const char* path : {"/svc/v1/%2e%2e/%2e%2e/etc/passwd", "/svc/v1/%2E%2E", "/svc/v1/x/%2e%2e;/admin",
                             "/svc/v1/%2e;x/admin", "/svc/v1/%2e%2e/v1/admin", "/svc/%2e%2e/svc/v1/admin"}) {
        expectRefused(gw.port(), getRequest(path));
    }
    // Dots before the version that resolve to a path of no API.
    CHECK(send(gw.port(), getRequest("/svc/%2e%2e/other/v1/admin")).status == 404);
    CHECK(backend.requestCount() == 0);
    // Three dots, dots with other characters, and double-encoded dots are names, not dot segments,
    // and reach the backend exactly as routed (decoded once; the backend decodes them once more to
    // "%2e%2e", never to "..").
    for (const auto& [path, target] : std::vector<std::pair<std::string, std::string>>{
             {"/svc/v1/x/.../admin", "/base/x/.../admin"},
             {"/svc/v1/x/%2e%2e%2e", "/base/x/..."},
             {"/svc/v1/x/%252e%252e/admin", "/base/x/%252e%252e/admin"},
             {"/svc/v1/x/%252E%252E%252Fadmin", "/base/x/%252E%252E%252Fadmin"},
             {"/svc/v1/admin.", "/base/admin."},
             {"/svc/v1/.admin", "/base/.admin"}}) {
        CAPTURE(path);
        HttpResponse r = send(gw.port(), getRequest(path));
        CHECK(r.status == 200);
        CHECK(r.body == "backend GET " + target);
    }
}

TEST_CASE("path confusion: repeated and trailing slashes reach the same resource and the backend path is canonical")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    for (const char* path : {"//svc/v1/admin", "/svc//v1/admin", "/svc/v1//admin", "/svc/v1/admin/", "/svc/v1/admin//",
                             "///svc///v1///admin///", "/svc/v1/./admin/."}) {
        CAPTURE(path);
        CHECK(send(gw.port(), getRequest(path)).status == 403);
    }
    for (const auto& [path, target] : std::vector<std::pair<std::string, std::string>>{
             {"//svc/v1/x", "/base/x"},
             {"/svc/v1", "/base"},  // nothing after the prefix: the endpoint path alone
             {"/svc/v1/", "/base/"},
             {"/svc/v1//", "/base/"},
             {"/svc/v1/x//y/", "/base/x/y/"},
             {"/svc/v1/x/..", "/base/"}}) {
        CAPTURE(path);
        HttpResponse r = send(gw.port(), getRequest(path));
        CHECK(r.status == 200);
        CHECK(r.body == "backend GET " + target);
    }
    // An endpoint URL written with a trailing slash is what the bare prefix maps to.
    GatewaySpec slashSpec;
    slashSpec.apis.emplace_back("svc", apiJson("/svc", endpointList({backend.url("/base/")}), "", resources()));
    SluicedProcess slash(slashSpec);
    for (const auto& [path, target] : std::vector<std::pair<std::string, std::string>>{
             {"/svc/v1", "/base/"}, {"/svc/v1/", "/base/"}, {"/svc/v1/x", "/base/x"}}) {
        CAPTURE(path);
        HttpResponse r = send(slash.port(), getRequest(path));
        CHECK(r.status == 200);
        CHECK(r.body == "backend GET " + target);
    }
}

TEST_CASE("path confusion: escaped non-ASCII bytes are opaque and reach the backend as one canonical spelling")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    for (const auto& [path, target] : std::vector<std::pair<std::string, std::string>>{
             {"/svc/v1/caf%c3%a9", "/base/caf%C3%A9"},
             {"/svc/v1/%ff%fe", "/base/%FF%FE"},                          // not UTF-8: still opaque
             {"/svc/v1/%e2%80%ae", "/base/%E2%80%AE"},                    // RIGHT-TO-LEFT OVERRIDE
             {"/svc/v1/%ef%bc%8e%ef%bc%8e", "/base/%EF%BC%8E%EF%BC%8E"},  // fullwidth dots, not dots
             {"/svc/v1/a%20b", "/base/a%20b"},
             {"/svc/v1/a%0d%0aX-Injected:%201", "/base/a%0D%0AX-Injected:%201"},
             {"/svc/v1/a%23b", "/base/a%23b"},
             {"/svc/v1/a%3fb", "/base/a%3Fb"}}) {
        CAPTURE(path);
        HttpResponse r = send(gw.port(), getRequest(path));
        CHECK(r.status == 200);
        CHECK(r.body == "backend GET " + target);
    }
    // The escaped CR LF stayed escaped: the backend saw no injected field.
    for (const auto& up : backend.requests()) {
        CHECK_FALSE(up.header("X-Injected"));
    }
}

// ---- path parameters ({id}) -----------------------------------------------------------------------

TEST_CASE(
    "path confusion: a path parameter never captures a separator or a dot segment, and policies see the backend's path")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    struct Case {
        const char* path;
        const char* target;    // what the backend receives
        const char* seenPath;  // what the resource's policy saw
        const char* seenId;
    };
    for (const Case& c : {
             Case{"/svc/v1/items/7", "/base/items/7", "/svc/v1/items/7", "7"},
             Case{"/svc/v1/items/%37", "/base/items/7", "/svc/v1/items/7", "7"},
             Case{"/svc/v1/items/a%3bb", "/base/items/a%3Bb", "/svc/v1/items/a%3Bb", "a%3Bb"},
             Case{"/svc/v1/items/7;v=2", "/base/items/7;v=2", "/svc/v1/items/7;v=2", "7;v=2"},
             Case{"/svc/v1/items/%252e%252e", "/base/items/%252e%252e", "/svc/v1/items/%252e%252e", "%252e%252e"},
             Case{"/svc/v1/items/x/../8", "/base/items/8", "/svc/v1/items/8", "8"},
             Case{"/svc/v1/items/...", "/base/items/...", "/svc/v1/items/...", "..."},
             Case{"/svc/v1/items//9/", "/base/items/9/", "/svc/v1/items/9/", "9"},
         }) {
        CAPTURE(c.path);
        HttpResponse r = send(gw.port(), getRequest(c.path));
        CHECK(r.status == 200);
        CHECK(r.body == std::string("backend GET ") + c.target);
        const ReceivedRequest up = backend.requests().back();
        CHECK(up.target == c.target);
        CHECK(up.header("X-Seen-Path") == c.seenPath);
        CHECK(up.header("X-Seen-Id") == c.seenId);
    }
    // Separators and dot segments with parameters never become a parameter value.
    for (const char* path : {"/svc/v1/items/..%2Fadmin", "/svc/v1/items/a%2Fb", "/svc/v1/items/..;",
                             "/svc/v1/items/a%5Cb", "/svc/v1/items/%2e%2e%2f"}) {
        expectRefused(gw.port(), getRequest(path));
    }
    // "{id}" with a '..' value resolved away is the parent, which the open wildcard serves.
    HttpResponse parent = send(gw.port(), getRequest("/svc/v1/items/%2e%2e"));
    CHECK(parent.status == 200);
    CHECK(parent.body == "backend GET /base/");
}

TEST_CASE("path confusion: policies see a default-version request's path with its version, one path for both forms")
{
    // A policy that decides on the path ("/svc/v1/items/...") must not be passed by the same
    // request written without its version ("/svc/items/...", or "/svc/v1/../items/..."): the
    // backend gets one path for all of them, and so do handlers.
    ScriptedBackend backend(echo());
    GatewaySpec spec;
    spec.apis.emplace_back(
        "svc", apiJson("/svc", endpointList({backend.url("/base")}), R"("default_version": true)", resources()));
    SluicedProcess gw(spec);
    for (const char* path :
         {"/svc/v1/items/7", "/svc/items/7", "/svc/v1/../items/7", "/svc/v1/../v1/items/7", "/svc//items/x/../7"}) {
        CAPTURE(path);
        HttpResponse r = send(gw.port(), getRequest(path));
        CHECK(r.status == 200);
        CHECK(r.body == "backend GET /base/items/7");
        const ReceivedRequest up = backend.requests().back();
        CHECK(up.header("X-Seen-Path") == "/svc/v1/items/7");
        CHECK(up.header("X-Seen-Id") == "7");
    }
    // The guard holds for each form; a step above the API is still refused.
    for (const char* path : {"/svc/v1/admin", "/svc/admin", "/svc/v1/../admin", "/svc/v1/../v1/admin"}) {
        CAPTURE(path);
        CHECK(send(gw.port(), getRequest(path)).status == 403);
    }
    expectRefused(gw.port(), getRequest("/svc/v1/../../svc/v1/items/7"));
}

// ---- query, fragment, case ------------------------------------------------------------------------

TEST_CASE("path confusion: a query with slashes and dots stays a query, a fragment is refused")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    for (const auto& [target, upstream] : std::vector<std::pair<std::string, std::string>>{
             {"/svc/v1/x?/../admin", "/base/x?/../admin"},
             {"/svc/v1/x?a=/../../admin&b=%2F..%2F", "/base/x?a=/../../admin&b=%2F..%2F"},
             {"/svc/v1/x?", "/base/x"},
             {"/svc/v1/x??a", "/base/x??a"},
             {"/svc/v1/x?;/admin", "/base/x?;/admin"},
             {"/svc/v1/x?\\..\\admin", "/base/x?\\..\\admin"}}) {
        CAPTURE(target);
        HttpResponse r = send(gw.port(), getRequest(target));
        CHECK(r.status == 200);
        CHECK(r.body == "backend GET " + upstream);
    }
    // The path before '?' decides, whatever the query says.
    CHECK(send(gw.port(), getRequest("/svc/v1/admin?x=/../public")).status == 403);
    for (const char* target : {"/svc/v1/x#frag", "/svc/v1/admin#/../x", "/svc/v1/x?a#b", "/svc/v1/#"}) {
        expectRefused(gw.port(), getRequest(target));
    }
}

TEST_CASE("path confusion: a query whose escapes do not decode is refused, so policies read what the backend reads")
{
    // Go and Tomcat skip a pair that does not decode, PHP, Python and Node keep it literally:
    // a policy reading "role" must never see nothing where the backend sees "admin".
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    CHECK(send(gw.port(), getRequest("/svc/v1/roles?role=admin")).status == 403);
    HttpResponse user = send(gw.port(), getRequest("/svc/v1/roles?role=user&q=100%25+sure&x=%E2%82%AC"));
    CHECK(user.status == 200);
    CHECK(user.body == "backend GET /base/roles?role=user&q=100%25+sure&x=%E2%82%AC");
    HttpResponse percent = send(gw.port(), getRequest("/svc/v1/roles?role=100%25"));
    CHECK(percent.status == 403);
    CHECK(percent.body == "role 100%");
    for (const char* target : {"/svc/v1/roles?role=%&role=admin", "/svc/v1/roles?role=%zz&role=admin",
                               "/svc/v1/roles?role=admin%", "/svc/v1/roles?role=admin%4", "/svc/v1/roles?ro%zle=admin",
                               "/svc/v1/roles?role=user%00admin", "/svc/v1/nowhere?a=%"}) {
        expectRefused(gw.port(), getRequest(target));
    }
    CHECK(backend.requestCount() == 1);
}

TEST_CASE("path confusion: context, version and resource names compare case-sensitively")
{
    // Documented: letter case is significant, as in Tomcat, Spring and nginx. A case-insensitive
    // backend (IIS, ASP.NET) would serve "/ADMIN" as "/admin": that one needs its own guard.
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    for (const char* path : {"/SVC/v1/admin", "/Svc/v1/admin", "/svc/V1/admin", "/svc/%76%31x/admin"}) {
        CAPTURE(path);
        HttpResponse r = send(gw.port(), getRequest(path));
        CHECK(r.status == 404);
        CHECK(r.errorCode() == 900906);
    }
    HttpResponse upper = send(gw.port(), getRequest("/svc/v1/ADMIN"));
    CHECK(upper.status == 200);
    CHECK(upper.body == "backend GET /base/ADMIN");
    CHECK(send(gw.port(), getRequest("/svc/%76%31/admin")).status == 403);  // "%76%31" is "v1"
}

// ---- request-target forms and Host ----------------------------------------------------------------

TEST_CASE("path confusion: an absolute-form target routes on its own path, its authority wins over Host")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    // The path of the absolute form is normalised and policed like any other.
    for (const char* start :
         {"GET http://other.test/svc/v1/admin HTTP/1.1", "GET HTTP://other.test/svc/v1/admin HTTP/1.1",
          "GET http://other.test//svc/v1/x/../admin HTTP/1.1",
          "GET https://other.test:8443/svc/v1/%61dmin/ HTTP/1.1"}) {
        CAPTURE(start);
        CHECK(send(gw.port(), rawRequest(start)).status == 403);
    }
    HttpResponse r =
        send(gw.port(), rawRequest("GET http://Other.Test.:81/svc/v1/x?q=1 HTTP/1.1", {"Host: gateway.test"}));
    CHECK(r.status == 200);
    CHECK(r.body == "backend GET /base/x?q=1");
    REQUIRE(backend.waitForRequests(1, 2s));
    const ReceivedRequest up = backend.requests().back();
    CHECK(up.header("X-Forwarded-Host") == "Other.Test.:81");
    CHECK(up.header("Host") != "Other.Test.:81");
    CHECK(up.header("Host") != "gateway.test");
    // Refused absolute forms: userinfo, no authority, another scheme, a path the normaliser refuses,
    // an authority-only target that would resolve to "/" of no API.
    for (const char* start :
         {"GET http://user@other.test/svc/v1/x HTTP/1.1", "GET http://user:pw@other.test/svc/v1/x HTTP/1.1",
          "GET http:///svc/v1/x HTTP/1.1", "GET http:/svc/v1/x HTTP/1.1", "GET ftp://other.test/svc/v1/x HTTP/1.1",
          "GET //other.test@/svc/v1/x HTTP/1.1", "GET http://other.test\\@evil/svc/v1/x HTTP/1.1",
          "GET http://other.test/svc/v1/a%2fb HTTP/1.1", "GET http://other.test:99999/svc/v1/x HTTP/1.1",
          "GET http://[::1/svc/v1/x HTTP/1.1"}) {
        CAPTURE(start);
        HttpResponse refused = send(gw.port(), rawRequest(start));
        CHECK(refused.status >= 400);
        CHECK(refused.status != 403);
        CHECK(refused.status < 500);
    }
    HttpResponse root = send(gw.port(), rawRequest("GET http://other.test HTTP/1.1"));
    CHECK(root.status == 404);
    CHECK(backend.requestCount() == 1);
}

TEST_CASE("path confusion: authority-form, asterisk-form and CONNECT are refused")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    expectRefused(gw.port(), rawRequest("GET other.test:80 HTTP/1.1"));
    expectRefused(gw.port(), rawRequest("GET svc/v1/x HTTP/1.1"));
    expectRefused(gw.port(), rawRequest("GET * HTTP/1.1"));
    expectRefused(gw.port(), rawRequest("POST * HTTP/1.1", {"Host: gateway.test", "Content-Length: 0"}));
    expectRefused(gw.port(), rawRequest("OPTIONS *x HTTP/1.1"));
    expectRefused(gw.port(), rawRequest("CONNECT other.test:443 HTTP/1.1"), 501);
    // OPTIONS * is valid HTTP but names no API: the gateway answers it itself, never the backend.
    HttpResponse star = send(gw.port(), rawRequest("OPTIONS * HTTP/1.1"));
    CHECK(star.status == 400);
    CHECK(backend.requestCount() == 0);
}

TEST_CASE("path confusion: Host is checked but never routes, and reaches the backend only as X-Forwarded-Host")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    for (const std::vector<std::string>& fields :
         std::vector<std::vector<std::string>>{{"Host: a.test", "Host: b.test"},
                                               {"Host: a.test", "host: a.test"},
                                               {"Host: user@a.test"},
                                               {"Host: a.test/svc/v1/admin"},
                                               {"Host: a.test:"},
                                               {"Host: a.test:80x"},
                                               {"Host: a.test:65536"},
                                               {"Host: :80"},
                                               {"Host: a.test\\b"},
                                               {"Host: [::1"},
                                               {"Host: a test"},
                                               {}}) {
        CAPTURE(fields.size());
        expectRefused(gw.port(), rawRequest("GET /svc/v1/x HTTP/1.1", fields));
    }
    for (const std::string host : {"A.TEST", "a.test.", "a.test:8080", "[::1]:8080", "127.0.0.1"}) {
        CAPTURE(host);
        HttpResponse r = send(gw.port(), rawRequest("GET /svc/v1/x HTTP/1.1", {"Host: " + host}));
        CHECK(r.status == 200);
        CHECK(r.body == "backend GET /base/x");
        REQUIRE(backend.waitForRequests(1, 2s));
        const ReceivedRequest up = backend.requests().back();
        CHECK(up.header("X-Forwarded-Host") == host);
        CHECK(up.header("Host") != host);
    }
    CHECK(send(gw.port(), rawRequest("GET /svc/v1/admin HTTP/1.1", {"Host: public.test"})).status == 403);
    // HTTP/1.0 without Host is still routed by its path.
    CHECK(send(gw.port(), rawRequest("GET /svc/v1/admin HTTP/1.0", {})).status == 403);
}

// ---- sizes ----------------------------------------------------------------------------------------

TEST_CASE("path confusion: very long segments, many segments and many dot segments")
{
    ScriptedBackend backend(echo());
    SluicedProcess gw(pathGateway(backend));
    // Many short segments within the request-line limit: routed and forwarded whole.
    std::string many = "/svc/v1";
    for (int i = 0; i < 1000; ++i) {
        many += "/a";
    }
    HttpResponse r = send(gw.port(), getRequest(many));
    CHECK(r.status == 200);
    CHECK(r.body == "backend GET /base" + many.substr(7));
    // Many '..' that stay inside the API, then one too many of them.
    std::string deep = "/svc/v1";
    for (int i = 0; i < 32; ++i) {
        deep += "/d";
    }
    for (int i = 0; i < 32; ++i) {
        deep += "/..";
    }
    CHECK(send(gw.port(), getRequest(deep + "/admin")).status == 403);
    expectRefused(gw.port(), getRequest(deep + "/d/../../admin"));
    // A segment longer than the request line: 414, and no half of it reaches the backend.
    HttpResponse longLine = send(gw.port(), getRequest("/svc/v1/" + std::string(9000, 'a')));
    CHECK(longLine.status == 414);
    // Escapes that expand nothing: a long run of %41 (decoded to "A") still fits.
    std::string escaped = "/svc/v1/";
    for (int i = 0; i < 2000; ++i) {
        escaped += "%41";
    }
    HttpResponse expanded = send(gw.port(), getRequest(escaped));
    CHECK(expanded.status == 200);
    CHECK(expanded.body == "backend GET /base/" + std::string(2000, 'A'));
    CHECK(backend.requestCount() == 2);
}
