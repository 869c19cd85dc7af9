#include "sluice/runtime/routing/Router.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <optional>

#include "sluice/runtime/Snapshot.h"
#include "sluice/runtime/routing/PathNormalizer.h"
#include "sluice/sdk/HttpSyntax.hpp"

namespace sluice::runtime::routing {
namespace {

// ---- methods ---------------------------------------------------------------------------------

// In alphabetical order, so that walking the bits in order yields a sorted Allow header.
constexpr std::array<std::string_view, 7> kMethodNames = {"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"};
constexpr unsigned kGetBit = 1U << 1;
constexpr unsigned kHeadBit = 1U << 2;

unsigned methodBit(std::string_view method)
{
    for (std::size_t i = 0; i < kMethodNames.size(); ++i) {
        if (kMethodNames[i] == method) {
            return 1U << i;
        }
    }
    return 0;  // anything else is never allowed
}

std::string allowHeader(unsigned methods)
{
    std::string out;
    for (std::size_t i = 0; i < kMethodNames.size(); ++i) {
        if ((methods & (1U << i)) != 0) {
            if (!out.empty()) {
                out += ", ";
            }
            out += kMethodNames[i];
        }
    }
    return out;
}

// ---- segments --------------------------------------------------------------------------------

// What a segment is compared by: its text before the first literal ';' (path parameters).
std::string_view segmentName(std::string_view segment) noexcept { return segment.substr(0, segment.find(';')); }

// Escapes that survive normalisation are of reserved and non-ASCII bytes ("%24", "%3A", "%C3").
// Tomcat, Spring, nginx and Go all decode them before matching, so "%24metadata" names the same
// resource as "$metadata" there; names are therefore compared decoded. A literal ';' has been cut
// off by then, so a decoded "%3B" compares as data, as it is to those servers.
// The byte at text[i], decoding an escape there; advances i past what was read. A '%' that does
// not start a valid escape (never the case in a normalised path) stands for itself.
char nextDecoded(std::string_view text, std::size_t& i) noexcept
{
    if (text[i] == '%' && text.size() - i >= 3) {
        const int high = sdk::hexValue(text[i + 1]);
        const int low = sdk::hexValue(text[i + 2]);
        if (high >= 0 && low >= 0) {
            i += 3;
            return static_cast<char>(high * 16 + low);
        }
    }
    return text[i++];
}

std::string decodeName(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        out.push_back(nextDecoded(text, i));
    }
    return out;
}

// `name` (as in a path) decodes to `decoded`, without allocating.
bool sameName(std::string_view name, std::string_view decoded) noexcept
{
    std::size_t i = 0;
    for (char expected : decoded) {
        if (i >= name.size() || nextDecoded(name, i) != expected) {
            return false;
        }
    }
    return i == name.size();
}

// Reads the segment after the '/' at path[pos] and moves pos to the next '/' or the end.
bool nextSegment(std::string_view path, std::size_t& pos, std::string_view& segment)
{
    if (pos >= path.size()) {
        return false;
    }
    std::size_t start = pos + 1;
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
        end = path.size();
    }
    segment = path.substr(start, end - start);
    pos = end;
    return true;
}

// Splits "/a/b/" (one trailing slash ignored; "/" has no segment) into its raw segments; callers
// pass non-empty strings starting with '/'.
std::vector<std::string_view> splitRaw(std::string_view path)
{
    std::vector<std::string_view> segments;
    if (path == "/") {
        return segments;
    }
    if (path.back() == '/') {
        path.remove_suffix(1);  // "//" becomes "/": one empty segment
    }
    std::size_t pos = 0;
    std::string_view segment;
    while (nextSegment(path, pos, segment)) {
        segments.push_back(segment);
    }
    return segments;
}

// The canonical form of one literal segment (as normalizePath writes it), or nullopt with a
// problem: invalid characters or escapes, empty, a dot segment, or a literal ';' (requests are
// matched without their path parameters, so such a segment could never match).
std::optional<std::string> canonicalSegment(std::string_view raw, std::string& problem)
{
    if (raw.empty()) {
        problem = "empty segment (\"//\")";
        return std::nullopt;
    }
    if (raw.find(';') != std::string_view::npos) {
        problem = "';' starts path parameters, which routing ignores (write %3B for a literal ';')";
        return std::nullopt;
    }
    if (raw.find_first_of("{}") != std::string_view::npos) {
        problem = "'{' and '}' mark parameters, which only URI templates have (write %7B and %7D for literal ones)";
        return std::nullopt;
    }
    std::string error;
    std::string probe = "/s/";
    probe += raw;
    std::optional<std::string> normalized = normalizePath(probe, error);
    if (!normalized) {
        problem = error;
        return std::nullopt;
    }
    // A dot segment resolves away: "/s/." -> "/s/", "/s/.." -> "/".
    if (normalized->size() <= 3 || normalized->compare(0, 3, "/s/") != 0 || normalized->back() == '/') {
        problem = "'.' or '..' segment";
        return std::nullopt;
    }
    return normalized->substr(3);
}

bool isValidParameterName(std::string_view name)
{
    if (name.empty() || name.size() > 64) {
        return false;
    }
    auto isWordChar = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    };
    if (!isWordChar(name[0])) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [&](char c) { return isWordChar(c) || c == '.' || c == '-'; });
}

std::string segmentLabel(std::size_t index) { return "segment " + std::to_string(index + 1) + ": "; }

// ---- templates -------------------------------------------------------------------------------

// The order of the values is the precedence: at the first position where two templates differ,
// the smaller kind wins. End marks where a template without wildcard stops.
enum class SegmentType : std::uint8_t { Literal = 0, Param = 1, End = 2, Wildcard = 3 };

struct TemplateSegment {
    SegmentType type = SegmentType::Literal;
    std::string text;  // the literal, canonical and then decoded (see sameName), or the parameter name
};

// Parses a URI template; on any problem returns nullopt with the problems appended.
std::optional<std::vector<TemplateSegment>> parseTemplate(std::string_view uriTemplate,
                                                          std::vector<std::string>& problems)
{
    std::size_t before = problems.size();
    if (uriTemplate.empty() || uriTemplate[0] != '/') {
        problems.emplace_back("URI template must start with '/'");
        return std::nullopt;
    }
    if (uriTemplate.find_first_of("?#") != std::string_view::npos) {
        problems.emplace_back("query and fragment parts are not supported in a URI template");
        return std::nullopt;
    }
    std::vector<std::string_view> raw = splitRaw(uriTemplate);
    std::vector<TemplateSegment> segments;
    segments.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        std::string_view segment = raw[i];
        std::string label = segmentLabel(i);
        if (segment == "*") {
            if (i + 1 != raw.size() || uriTemplate.back() == '/') {
                problems.push_back(label + "'*' must be the last segment");
            }
            segments.push_back({SegmentType::Wildcard, {}});
            continue;
        }
        if (segment.find('*') != std::string_view::npos) {
            problems.push_back(label + "'*' is only allowed as the whole last segment (write %2A for a literal '*')");
            continue;
        }
        if (segment.size() >= 2 && segment.front() == '{' && segment.back() == '}') {
            std::string_view name = segment.substr(1, segment.size() - 2);
            if (name.empty()) {
                problems.push_back(label + "empty parameter name \"{}\"");
            } else if (name.find_first_of("{}") != std::string_view::npos) {
                problems.push_back(label + "a parameter must be a whole segment \"{name}\"");
            } else if (!isValidParameterName(name)) {
                problems.push_back(label + "invalid parameter name (allowed: [A-Za-z0-9_][A-Za-z0-9_.-]*, at most 64)");
            } else {
                bool duplicate = std::any_of(segments.begin(), segments.end(), [&](const TemplateSegment& s) {
                    return s.type == SegmentType::Param && s.text == name;
                });
                if (duplicate) {
                    problems.push_back(label + "duplicate parameter name '" + std::string(name) + "'");
                }
                segments.push_back({SegmentType::Param, std::string(name)});
            }
            continue;
        }
        if (segment.find_first_of("{}") != std::string_view::npos) {
            problems.push_back(label + "a parameter must be a whole segment \"{name}\"");
            continue;
        }
        std::string problem;
        std::optional<std::string> literal = canonicalSegment(segment, problem);
        if (!literal) {
            problems.push_back(label + problem);
            continue;
        }
        segments.push_back({SegmentType::Literal, decodeName(*literal)});
    }
    if (problems.size() != before) {
        return std::nullopt;
    }
    return segments;
}

// Parses a context into its segments, canonical and then decoded ("/" has none).
std::optional<std::vector<std::string>> parseContext(std::string_view context, std::vector<std::string>& problems)
{
    std::size_t before = problems.size();
    if (context.empty() || context[0] != '/') {
        problems.emplace_back("context must start with '/'");
        return std::nullopt;
    }
    std::vector<std::string> segments;
    std::vector<std::string_view> raw = splitRaw(context);
    for (std::size_t i = 0; i < raw.size(); ++i) {
        std::string problem;
        std::optional<std::string> literal = canonicalSegment(raw[i], problem);
        if (!literal) {
            problems.push_back(segmentLabel(i) + problem);
            continue;
        }
        segments.push_back(decodeName(*literal));
    }
    if (problems.size() != before) {
        return std::nullopt;
    }
    return segments;
}

std::optional<std::string> parseVersion(std::string_view version, std::vector<std::string>& problems)
{
    if (version.empty()) {
        problems.emplace_back("version is empty");
        return std::nullopt;
    }
    if (version.find('/') != std::string_view::npos) {
        problems.emplace_back("version must be a single path segment (no '/')");
        return std::nullopt;
    }
    std::string problem;
    std::optional<std::string> canonical = canonicalSegment(version, problem);
    if (!canonical) {
        problems.push_back("version: " + problem);
        return std::nullopt;
    }
    return decodeName(*canonical);
}

std::string joinSegments(const std::vector<std::string>& segments)
{
    std::string key;
    for (const std::string& segment : segments) {
        key.push_back('/');
        key.append(segment);
    }
    return key;
}

}  // namespace

// ---- the compiled routing table ------------------------------------------------------------------

struct Router::Impl {
    struct Resource {
        std::vector<TemplateSegment> segments;  // the last one may be the wildcard
        std::vector<SegmentType> rank;          // segment types, then End unless wildcard
        std::size_t paramCount = 0;
        unsigned methods = 0;
        const ResourceRuntime* runtime = nullptr;
    };

    struct Api {
        const ApiRuntime* runtime = nullptr;
        std::vector<Resource> resources;  // in precedence order
    };

    // One way into an API: its context, followed by its version unless this is the
    // default-version form.
    struct Prefix {
        std::vector<std::string> segments;
        std::size_t contextSegments = 0;
        bool versioned = false;
        std::size_t apiIndex = 0;  // into `apis`, which follows the configured order
    };

    std::vector<Api> apis;
    // Prefixes by their first segment, each list in precedence order; prefixes with no segment
    // (the default-version form of the root context) serve every path and come last.
    std::map<std::string, std::vector<Prefix>, std::less<>> byFirstSegment;
    std::vector<Prefix> catchAll;

    void addApi(const ApiRuntime& api);
    static bool precedes(const Prefix& a, const Prefix& b);
    // `out` = `path`, reached by the default-version `prefix` with `remainder` after it, with the
    // version put back; empty when that path would route elsewhere.
    void versionedForm(const Prefix& prefix, std::string_view path, std::string_view remainder, std::string& out) const;
    const Prefix* findPrefix(std::string_view path, std::string_view& remainder) const;
    static bool matches(const Resource& resource, std::string_view path);
    static void capture(const Resource& resource, std::string_view path, RouteMatch& match);
};

void Router::Impl::addApi(const ApiRuntime& api)
{
    std::vector<std::string> problems;
    std::optional<std::vector<std::string>> context = parseContext(api.config.context, problems);
    std::optional<std::string> version = parseVersion(api.config.version, problems);
    if (!context || !version) {
        return;
    }

    Api compiled;
    compiled.runtime = &api;
    std::size_t count = std::min(api.config.resources.size(), api.resources.size());
    for (std::size_t i = 0; i < count; ++i) {
        const ResourceConfig& config = api.config.resources[i];
        std::optional<std::vector<TemplateSegment>> segments = parseTemplate(config.uriTemplate, problems);
        if (!segments) {
            continue;
        }
        Resource resource;
        resource.segments = std::move(*segments);
        for (const TemplateSegment& segment : resource.segments) {
            resource.rank.push_back(segment.type);
            resource.paramCount += segment.type == SegmentType::Param ? 1 : 0;
        }
        if (resource.rank.empty() || resource.rank.back() != SegmentType::Wildcard) {
            resource.rank.push_back(SegmentType::End);
        }
        for (const std::string& method : config.methods) {
            resource.methods |= methodBit(method);
        }
        if ((resource.methods & kGetBit) != 0) {
            resource.methods |= kHeadBit;
        }
        resource.runtime = &api.resources[i];
        compiled.resources.push_back(std::move(resource));
    }
    std::stable_sort(compiled.resources.begin(), compiled.resources.end(),
                     [](const Resource& a, const Resource& b) { return a.rank < b.rank; });
    apis.push_back(std::move(compiled));

    Prefix versioned;
    versioned.segments = *context;
    versioned.segments.push_back(*version);
    versioned.contextSegments = context->size();
    versioned.versioned = true;
    versioned.apiIndex = apis.size() - 1;
    byFirstSegment[versioned.segments.front()].push_back(std::move(versioned));

    if (api.config.defaultVersion) {
        Prefix unversioned;
        unversioned.segments = std::move(*context);
        unversioned.contextSegments = unversioned.segments.size();
        unversioned.apiIndex = apis.size() - 1;
        if (unversioned.segments.empty()) {
            catchAll.push_back(std::move(unversioned));
        } else {
            byFirstSegment[unversioned.segments.front()].push_back(std::move(unversioned));
        }
    }
}

void Router::Impl::versionedForm(const Prefix& prefix, std::string_view path, std::string_view remainder,
                                 std::string& out) const
{
    // The default-version form names the same resources as the versioned one: handlers see one
    // path for both ("/shop/items" is "/shop/v1/items"), as the backend gets one. Unless that
    // path is another API's: with "/shop/v1/admin" configured as an API of its own,
    // "/shop/admin/v1/users" is the default-version API's "/admin/v1/users" while
    // "/shop/v1/admin/v1/users" is the other API's "/users"; such a request keeps its own path.
    const std::string& version = apis[prefix.apiIndex].runtime->config.version;
    const std::string_view context = path.substr(0, path.size() - remainder.size());
    out.reserve(path.size() + version.size() + 1);
    out.append(context);
    out.push_back('/');
    out.append(version);
    out.append(remainder);
    std::string_view rest;
    const Prefix* same = findPrefix(out, rest);
    if (same == nullptr || same->apiIndex != prefix.apiIndex || !same->versioned || rest != remainder) {
        out.clear();
    }
}

bool Router::Impl::precedes(const Prefix& a, const Prefix& b)
{
    if (a.contextSegments != b.contextSegments) {
        return a.contextSegments > b.contextSegments;
    }
    if (a.versioned != b.versioned) {
        return a.versioned;
    }
    return a.apiIndex < b.apiIndex;
}

const Router::Impl::Prefix* Router::Impl::findPrefix(std::string_view path, std::string_view& remainder) const
{
    std::size_t pos = 0;
    std::string_view first;
    if (nextSegment(path, pos, first)) {
        std::string_view name = segmentName(first);
        std::string decoded;  // the keys are decoded names; only an escaped first segment needs this
        if (name.find('%') != std::string_view::npos) {
            decoded = decodeName(name);
            name = decoded;
        }
        auto bucket = byFirstSegment.find(name);
        if (bucket != byFirstSegment.end()) {
            for (const Prefix& prefix : bucket->second) {
                std::size_t at = pos;
                std::string_view segment;
                bool matched = true;
                for (std::size_t i = 1; i < prefix.segments.size() && matched; ++i) {
                    matched = nextSegment(path, at, segment) && sameName(segmentName(segment), prefix.segments[i]);
                }
                if (matched) {
                    remainder = path.substr(at);
                    return &prefix;
                }
            }
        }
    }
    if (!catchAll.empty()) {
        remainder = path;
        return &catchAll.front();
    }
    return nullptr;
}

bool Router::Impl::matches(const Resource& resource, std::string_view path)
{
    std::size_t pos = 0;
    std::string_view segment;
    for (const TemplateSegment& expected : resource.segments) {
        if (expected.type == SegmentType::Wildcard) {
            return true;
        }
        if (!nextSegment(path, pos, segment)) {
            return false;
        }
        if (expected.type == SegmentType::Literal ? !sameName(segmentName(segment), expected.text) : segment.empty()) {
            return false;
        }
    }
    return pos == path.size();
}

void Router::Impl::capture(const Resource& resource, std::string_view path, RouteMatch& match)
{
    match.pathParams.reserve(resource.paramCount);
    std::size_t pos = 0;
    std::string_view segment;
    for (const TemplateSegment& expected : resource.segments) {
        if (expected.type == SegmentType::Wildcard || !nextSegment(path, pos, segment)) {
            return;
        }
        if (expected.type == SegmentType::Param) {
            match.pathParams.emplace_back(expected.text, std::string(segment));
        }
    }
}

// ---- Router ------------------------------------------------------------------------------------

Router::Router(const std::vector<ApiRuntime>& apis) : _impl(std::make_unique<Impl>())
{
    _impl->apis.reserve(apis.size());
    for (const ApiRuntime& api : apis) {
        _impl->addApi(api);
    }
    for (auto& [first, prefixes] : _impl->byFirstSegment) {
        std::stable_sort(prefixes.begin(), prefixes.end(), &Impl::precedes);
    }
}

Router::~Router() = default;

RouteMatch Router::route(std::string_view method, std::string_view normalizedPath) const
{
    return route(method, normalizedPath, NormalizeInfo{});
}

RouteMatch Router::route(std::string_view method, std::string_view normalizedPath, const NormalizeInfo& info) const
{
    RouteMatch match;
    if (normalizedPath.empty() || normalizedPath[0] != '/') {
        return match;
    }
    std::string_view remainder;
    const Impl::Prefix* prefix = _impl->findPrefix(normalizedPath, remainder);
    // A ".." that removed the last segment of an API prefix climbed out of that API:
    // "/a/admin/v1/../../x" was written under "/a/admin/v1" even if "/a" would take "/a/x". It
    // may only land in the same API ("/a/v1/.." is the default-version form "/a/").
    bool leftApi = false;  // some ".." left a path outside the resolved API
    for (const std::string& before : info.beforePops) {
        if (before.empty()) {
            leftApi = true;  // longer than any path a request may resolve to: not known
            continue;
        }
        std::string_view rest;
        const Impl::Prefix* left = _impl->findPrefix(before, rest);
        if (left != nullptr && rest.empty() && (prefix == nullptr || left->apiIndex != prefix->apiIndex)) {
            match.status = RouteStatus::Escaped;
            return match;
        }
        if (!leftApi && prefix != nullptr) {
            const std::size_t cut = before.rfind('/');
            const std::string_view after = cut == 0 ? std::string_view("/") : std::string_view(before).substr(0, cut);
            const Impl::Prefix* landed = _impl->findPrefix(after, rest);
            leftApi = landed == nullptr || landed->apiIndex != prefix->apiIndex;
        }
    }
    if (prefix == nullptr) {
        return match;
    }
    if (prefix->segments.size() > info.keptSegments && leftApi) {
        // A ".." reached into (or above) the API prefix and out of the API: "/a/v1/../../b/v1/x"
        // resolves to "/b/v1/x", but it was written under "/a/v1"; neither API may take it. One
        // whose every step stays in the API may come back into its prefix: "/a/v1/../v1/x" when
        // "/a" is the default-version form of the same API.
        match.status = RouteStatus::Escaped;
        return match;
    }
    if (normalizedPath.substr(0, normalizedPath.size() - remainder.size()).find(';') != std::string_view::npos) {
        match.status = RouteStatus::PrefixParameter;
        return match;
    }
    const Impl::Api& api = _impl->apis[prefix->apiIndex];
    match.api = api.runtime;
    match.resourcePath = remainder.empty() ? std::string("/") : std::string(remainder);
    match.nothingAfterPrefix = remainder.empty();

    // One trailing slash does not count: "/pets/" is matched as "/pets", "/" as no segment.
    std::string_view path = remainder;
    if (!path.empty() && path.back() == '/') {
        path.remove_suffix(1);
    }
    unsigned wanted = methodBit(method);
    unsigned allowed = 0;
    bool pathMatched = false;
    for (const Impl::Resource& resource : api.resources) {
        if (!Impl::matches(resource, path)) {
            continue;
        }
        if ((resource.methods & wanted) != 0) {
            match.status = RouteStatus::Matched;
            match.resource = resource.runtime;
            Impl::capture(resource, path, match);
            if (!prefix->versioned) {
                _impl->versionedForm(*prefix, normalizedPath, remainder, match.canonicalPath);
            }
            return match;
        }
        pathMatched = true;
        allowed |= resource.methods;
    }
    if (pathMatched) {
        match.status = RouteStatus::MethodNotAllowed;
        match.allowedMethods = allowHeader(allowed);
    }
    return match;
}

std::vector<std::string> Router::validateTemplate(std::string_view uriTemplate)
{
    std::vector<std::string> problems;
    parseTemplate(uriTemplate, problems);
    return problems;
}

std::vector<std::string> Router::validateContext(std::string_view context)
{
    std::vector<std::string> problems;
    parseContext(context, problems);
    return problems;
}

std::vector<std::string> Router::validateVersion(std::string_view version)
{
    std::vector<std::string> problems;
    parseVersion(version, problems);
    return problems;
}

std::vector<std::string> Router::routeKeys(std::string_view context, std::string_view version, bool defaultVersion)
{
    std::vector<std::string> problems;
    std::optional<std::vector<std::string>> segments = parseContext(context, problems);
    std::optional<std::string> decodedVersion = parseVersion(version, problems);
    if (!segments || !decodedVersion) {
        return {};
    }
    std::vector<std::string> keys;
    const std::string contextKey = joinSegments(*segments);
    keys.push_back(contextKey + "/" + *decodedVersion);
    if (defaultVersion) {
        keys.push_back(contextKey);
    }
    return keys;
}

}  // namespace sluice::runtime::routing
