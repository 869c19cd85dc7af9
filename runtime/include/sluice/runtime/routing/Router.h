#pragma once

// Routes a normalised path + method to an API and a resource. Built once per configuration
// snapshot (all parsing of contexts and URI templates happens here), then read-only and shared
// by all workers.
//
// APIs. An API with context "/pets" and version "v1" serves "/pets/v1<resource path>"; with
// default_version also "/pets<resource path>". Prefixes match whole segments only ("/petsx" is not
// under "/pets"). When several APIs could serve a path, the longest context wins; for equal
// contexts the versioned form beats the default-version one; remaining ties go to the order of
// `apis`. The API is chosen by prefix alone: when none of its resources matches, the answer is
// 404/405 from that API, never a fallback to an API with a shorter context.
//
// A ".." segment may move within an API's resource paths, and back into its own prefix, but
// never into another API (see route()).
//
// Resources. URI templates are made of literal segments (compared exactly, case-sensitively,
// after the same normalisation as request paths, so "%7e" and "~" are equal), "{name}" (one whole
// non-empty segment, captured as a path parameter) and a trailing "/*" (any remainder, including
// nothing). One trailing slash is insignificant on both sides: "/pets/" matches "/pets" (so that it
// reaches the same resource, and its policies, as the backend will treat it as), and the template
// "/pets/" is the same as "/pets". Among the resources that match a path, literal segments beat
// parameters, which beat the wildcard, compared segment by segment from the left; an exact end
// beats a wildcard that would match nothing; ties go to the order written. The first resource in
// that order that allows the method wins (HEAD is allowed wherever GET is); when the path matches
// but no matching resource allows the method, the result is MethodNotAllowed with the union of
// their methods.
//
// Names (of context, version and literal template segments) are compared percent-decoded: the
// escapes a canonical path still has are of reserved and non-ASCII bytes, and Tomcat, Spring,
// nginx and Go decode those before matching, so "/%24metadata" is the resource "/$metadata" and
// "/a%3Ab/v1" the context "/a:b". A literal ';' is cut off first, so "%3B" stays data.
//
// Hot path: route() does no regex, no parsing and no allocation other than the strings and the
// vector of the RouteMatch it returns (and the decoded first segment when that one has escapes).

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/runtime/routing/PathNormalizer.h"

namespace sluice::runtime {
struct ApiRuntime;
struct ResourceRuntime;
}  // namespace sluice::runtime

namespace sluice::runtime::routing {

// Escaped: a ".." segment of the request reached into the prefix (context and version) of the API
// the resolved path would go to; no API is chosen. Meant to be answered 400 (a caller that knows
// only the other statuses answers it like NotFound: still no API and no backend is reached).
// PrefixParameter: a segment of the API's prefix carries ';' path parameters ("/shop;x/v1/...").
// Routing would ignore them and the backend would never see them (the prefix is replaced by the
// endpoint's path), but the path handlers see would have them, so a policy deciding on that path
// could be passed by. No API is chosen; meant to be answered 400.
enum class RouteStatus { Matched, NotFound, MethodNotAllowed, Escaped, PrefixParameter };

struct RouteMatch {
    RouteStatus status = RouteStatus::NotFound;
    // The API chosen by prefix: set for Matched, MethodNotAllowed, and NotFound inside an API (no
    // resource matched); null when no API matched.
    const ApiRuntime* api = nullptr;
    // Set for Matched only.
    const ResourceRuntime* resource = nullptr;
    // The "{name}" captures in template order; values still percent-encoded (as in the path).
    std::vector<std::pair<std::string, std::string>> pathParams;
    // The path after context and version, what is appended to the endpoint ("/" when nothing
    // follows, a trailing slash kept); set whenever `api` is.
    std::string resourcePath;
    // Nothing, not even a slash, followed the API prefix ("/petstore/v1"): the "/" above stands
    // for it, and the backend gets the endpoint's path as its URL was written ("/base" or
    // "/base/").
    bool nothingAfterPrefix = false;
    // Set for Matched when the API was reached by its default-version form: the path with the
    // version put back after the context ("/shop/items" -> "/shop/v1/items", "/shop" ->
    // "/shop/v1"), the one path handlers see for both forms. Empty otherwise (the normalised path
    // is that path), and also when the versioned path would be another API's (see versionedForm).
    std::string canonicalPath;
    // For 405: the Allow header, sorted and ", "-joined, e.g. "GET, HEAD, POST".
    std::string allowedMethods;
};

class Router {
public:
    // `apis` must outlive the router and must not be resized (both live in the same Snapshot).
    // ApiRuntime::resources[i] belongs to config.resources[i]. Invalid contexts, versions and
    // templates (see the validate* functions) are skipped, as is a resource without its runtime.
    explicit Router(const std::vector<ApiRuntime>& apis);
    ~Router();
    Router(const Router&) = delete;
    Router& operator=(const Router&) = delete;

    // `normalizedPath` is the output of normalizePath(). `method` is case-sensitive ("GET").
    // `info` is the NormalizeInfo of that normalisation. The answer is Escaped when a ".." segment
    // removed the whole prefix (a context, plus the version unless it is the default-version
    // form) of an API other than the one the resolved path goes to, or when a ".." removed a
    // segment of the resolved API's prefix and some ".." left a path outside that API. So
    // "/api/v1/../../admin" reaches neither "/api" nor "/admin", "/api/admin/v1/../../x" does not
    // reach an enclosing "/api", while "/api/v1/a/../b" is "/api/v1/b", and, when "/api" has a
    // default version, "/api/v1/../v1/b" is "/api/v1/b" and "/api/v1/../v2" is "/api/v2" of it. The
    // two-argument form is for paths known to contain no ".." segment (configuration-time
    // lookups and tests).
    //
    // Segments are compared up to their first literal ';': "/admin;x" is the resource "/admin"
    // (Tomcat, Jetty and Spring drop such path parameters), never a catch-all next to it. The
    // parameters stay in the path sent to the backend and in captured path parameters.
    RouteMatch route(std::string_view method, std::string_view normalizedPath) const;
    RouteMatch route(std::string_view method, std::string_view normalizedPath, const NormalizeInfo& info) const;

    // Config-time checks, one message per problem (empty when valid), for reporting as config
    // errors with the file and JSON pointer of the field.
    // A URI template: starts with '/'; no query or fragment; no empty segment ("//") except one
    // trailing slash; no "." or ".." segment; literal segments are valid path segments; a
    // parameter is a whole segment "{name}" with name [A-Za-z0-9_][A-Za-z0-9_.-]* (at most 64
    // characters), unique within the template; '*' only as the whole last segment (write %2A for a
    // literal '*').
    static std::vector<std::string> validateTemplate(std::string_view uriTemplate);
    // A context: a valid path without "." / ".." or empty segments (one trailing slash is fine).
    static std::vector<std::string> validateContext(std::string_view context);
    // A version: one valid, non-empty path segment other than "." and "..".
    static std::vector<std::string> validateVersion(std::string_view version);

    // The prefixes an API is reached by, as the router compares them: its context and version,
    // then (with `defaultVersion`) its context alone, each as "/"-joined canonical, decoded
    // segments ("" for the root context). Two APIs that share a key would shadow one another
    // ("/enc" and "/%65nc", "/shop" and "/shop/", "/x" v1 and the default form of "/x/v1").
    // Empty when the context or version is invalid (the validate* functions say why).
    static std::vector<std::string> routeKeys(std::string_view context, std::string_view version, bool defaultVersion);

private:
    struct Impl;
    std::unique_ptr<Impl> _impl;
};

}  // namespace sluice::runtime::routing
