#include "sluice/runtime/Config.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include "sluice/runtime/EmbeddedSchemas.h"
#include "sluice/runtime/Json.h"
#include "sluice/runtime/Logging.h"
#include "sluice/runtime/SchemaValidator.h"
#include "sluice/runtime/routing/Router.h"

namespace fs = std::filesystem;

namespace sluice::runtime {

std::string ConfigError::str() const
{
    std::string out = file;
    if (!pointer.empty()) {
        out += ": " + pointer;
    }
    return out + ": " + message;
}

namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

const SchemaValidator& gatewaySchema()
{
    static const SchemaValidator schema{std::string(gatewaySchemaText())};
    return schema;
}

const SchemaValidator& apiSchema()
{
    static const SchemaValidator schema{std::string(apiSchemaText())};
    return schema;
}

// Returns the substituted text, or nullopt with `problem` saying what is wrong with the first
// reference that cannot be substituted (an unset variable, or a reference without its '}').
std::optional<std::string> substitute(const std::string& in, std::string& problem)
{
    std::string out;
    std::size_t i = 0;
    while (i < in.size()) {
        if (in.compare(i, 3, "$${") == 0) {
            out += "${";
            i += 3;
            continue;
        }
        if (in.compare(i, 6, "${env:") == 0) {
            std::size_t end = in.find('}', i + 6);
            if (end == std::string::npos) {
                // Passed on as written, the secret's name would reach a backend or a log instead.
                problem = "'${env:' without its closing '}' (write $${ for a literal ${)";
                return std::nullopt;
            }
            std::string name = in.substr(i + 6, end - i - 6);
            const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
            if (value == nullptr) {
                problem = "environment variable '" + name + "' is not set (referenced as ${env:" + name + "})";
                return std::nullopt;
            }
            out += value;
            i = end + 1;
            continue;
        }
        out.push_back(in[i]);
        ++i;
    }
    return out;
}

void substituteAt(Poco::Dynamic::Var& node, const std::string& pointer, const std::string& file,
                  std::vector<ConfigError>& errors)
{
    if (node.type() == typeid(Object::Ptr)) {
        auto obj = node.extract<Object::Ptr>();
        for (const auto& key : obj->getNames()) {
            Poco::Dynamic::Var child = obj->get(key);
            substituteAt(child, pointer + "/" + jsonPointerToken(key), file, errors);
            obj->set(key, child);
        }
    } else if (node.type() == typeid(Array::Ptr)) {
        auto arr = node.extract<Array::Ptr>();
        for (unsigned i = 0; i < arr->size(); ++i) {
            Poco::Dynamic::Var child = arr->get(i);
            substituteAt(child, pointer + "/" + std::to_string(i), file, errors);
            arr->set(i, child);
        }
    } else if (node.isString()) {
        const std::string text = node.extract<std::string>();
        if (text.find('$') == std::string::npos) {
            return;
        }
        std::string problem;
        auto replaced = substitute(text, problem);
        if (!replaced) {
            errors.push_back({file, pointer.empty() ? "/" : pointer, problem});
            return;
        }
        node = *replaced;
    }
}

// Reads, parses, substitutes and schema-validates one file. nullopt when it has any error.
// `asWritten`, when given, receives the document before ${env:NAME} substitution.
std::optional<Poco::Dynamic::Var> loadDocument(const std::string& file, const SchemaValidator& schema,
                                               std::vector<ConfigError>& errors,
                                               std::optional<Poco::Dynamic::Var>* asWritten = nullptr)
{
    std::string error;
    auto text = readTextFile(file, error);
    if (!text) {
        errors.push_back({file, "", error});
        return std::nullopt;
    }
    auto doc = parseJson(*text, error);
    if (!doc) {
        errors.push_back({file, "", "not valid JSON: " + error});
        return std::nullopt;
    }
    if (asWritten != nullptr) {
        *asWritten = parseJson(*text, error);
    }
    std::size_t before = errors.size();
    substituteEnvironment(*doc, file, errors);
    std::vector<std::string> unresolved;  // a missing variable is the one error at its pointer
    for (std::size_t i = before; i < errors.size(); ++i) {
        unresolved.push_back(errors[i].pointer);
    }
    for (auto& issue : schema.validate(*doc)) {
        if (std::find(unresolved.begin(), unresolved.end(), issue.pointer) == unresolved.end()) {
            errors.push_back({file, issue.pointer, issue.rule});
        }
    }
    if (errors.size() != before) {
        return std::nullopt;
    }
    return doc;
}

std::string absoluteFrom(const std::string& base, const std::string& path)
{
    fs::path p(path);
    return (p.is_absolute() ? p : fs::path(base) / p).lexically_normal().string();
}

template <typename T>
T get(const Object::Ptr& obj, const std::string& key, T fallback)
{
    return obj->has(key) ? obj->getValue<T>(key) : fallback;
}

std::vector<HandlerRef> readChain(const Object::Ptr& owner, const std::string& key, const std::string& pointer,
                                  const std::string& file)
{
    std::vector<HandlerRef> chain;
    if (!owner->has(key)) {
        return chain;
    }
    auto arr = owner->getArray(key);
    for (unsigned i = 0; i < arr->size(); ++i) {
        auto entry = arr->getObject(i);
        HandlerRef ref;
        ref.component = entry->getValue<std::string>("component");
        ref.name = get<std::string>(entry, "name", ref.component);
        ref.config = entry->has("config") ? entry->get("config") : Poco::Dynamic::Var(Object::Ptr(new Object(true)));
        ref.file = file;
        ref.pointer = pointer + "/" + key + "/" + std::to_string(i);
        chain.push_back(std::move(ref));
    }
    return chain;
}

// The schemas allow only "reject", "strip" and "forward".
MethodOverride methodOverrideFrom(const std::string& text)
{
    if (text == "strip") {
        return MethodOverride::Strip;
    }
    if (text == "forward") {
        return MethodOverride::Forward;
    }
    return MethodOverride::Reject;
}

// The directory of the main configuration file, absolute, so that what resolves against it (and
// what plugins are told) does not depend on the working directory staying the same.
std::string configDirectory(const std::string& file)
{
    std::error_code ec;
    const fs::path absolute = fs::absolute(fs::path(file), ec);
    const std::string dir = (ec ? fs::path(file) : absolute).parent_path().lexically_normal().string();
    return dir.empty() ? "." : dir;
}

// The component loggers (Logging::get) and the plugins' ("plugin.<instance>", or "plugin" for
// all of them); a level for another name would set nothing.
GatewayConfig readGateway(const Poco::Dynamic::Var& doc, const std::string& file, std::vector<ConfigError>& errors)
{
    auto root = doc.extract<Object::Ptr>();
    GatewayConfig cfg;
    cfg.file = file;
    cfg.directory = configDirectory(file);
    cfg.workers = get<unsigned>(root, "workers", 0);
    auto listeners = root->getArray("listeners");
    for (unsigned i = 0; i < listeners->size(); ++i) {
        auto l = listeners->getObject(i);
        ListenerConfig lc;
        lc.name = l->getValue<std::string>("name");
        lc.host = get<std::string>(l, "host", "0.0.0.0");
        lc.port = l->getValue<int>("port");
        if (l->has("tls")) {
            lc.tls = l->get("tls");
        }
        cfg.listeners.push_back(lc);
    }
    cfg.shutdownGraceMs = get<int>(root, "shutdown_grace_ms", cfg.shutdownGraceMs);
    if (root->has("resolver")) {
        cfg.resolverRefreshMs = get<int>(root->getObject("resolver"), "refresh_ms", cfg.resolverRefreshMs);
    }
    if (root->has("admin")) {
        auto admin = root->getObject("admin");
        cfg.adminHost = get<std::string>(admin, "host", "127.0.0.1");
        cfg.adminPort = get<int>(admin, "port", 9901);
        if (admin->has("token_file")) {
            cfg.adminTokenFile = absoluteFrom(cfg.directory, admin->getValue<std::string>("token_file"));
        }
    }
    if (root->has("http")) {
        auto h = root->getObject("http");
        cfg.http.maxRequestLine = get<std::size_t>(h, "max_request_line", cfg.http.maxRequestLine);
        cfg.http.maxHeaderBytes = get<std::size_t>(h, "max_header_bytes", cfg.http.maxHeaderBytes);
        cfg.http.maxHeaders = get<std::size_t>(h, "max_headers", cfg.http.maxHeaders);
        cfg.http.maxResponseHeaderBytes =
            get<std::size_t>(h, "max_response_header_bytes", cfg.http.maxResponseHeaderBytes);
        cfg.http.maxResponseHeaders = get<std::size_t>(h, "max_response_headers", cfg.http.maxResponseHeaders);
        cfg.http.maxBodyBytes = get<std::uint64_t>(h, "max_body_bytes", cfg.http.maxBodyBytes);
        cfg.http.requestBufferBytes = get<std::uint64_t>(h, "request_buffer_bytes", cfg.http.requestBufferBytes);
        if (h->has("body_temp_dir")) {
            cfg.http.bodyTempDir = absoluteFrom(cfg.directory, h->getValue<std::string>("body_temp_dir"));
        }
        cfg.http.maxConnections = get<std::size_t>(h, "max_connections", cfg.http.maxConnections);
        cfg.http.headerTimeoutMs = get<int>(h, "header_timeout_ms", cfg.http.headerTimeoutMs);
        cfg.http.bodyTimeoutMs = get<int>(h, "body_timeout_ms", cfg.http.bodyTimeoutMs);
        cfg.http.keepaliveTimeoutMs = get<int>(h, "keepalive_timeout_ms", cfg.http.keepaliveTimeoutMs);
        cfg.http.maxRequestsPerConnection =
            get<std::uint32_t>(h, "max_requests_per_connection", cfg.http.maxRequestsPerConnection);
        if (h->has("trusted_proxies")) {
            auto list = h->getArray("trusted_proxies");
            for (unsigned i = 0; i < list->size(); ++i) {
                cfg.http.trustedProxies.push_back(list->getElement<std::string>(i));
            }
        }
        cfg.http.abortOnClientClose = get<bool>(h, "abort_on_client_close", cfg.http.abortOnClientClose);
        cfg.http.methodOverride = methodOverrideFrom(get<std::string>(h, "method_override", "reject"));
        cfg.http.connectionBalance = get<std::string>(h, "connection_balance", "exact") == "kernel"
                                         ? ConnectionBalance::Kernel
                                         : ConnectionBalance::Exact;
    }
    if (cfg.http.bodyTempDir.empty()) {
        const char* tmp = std::getenv("TMPDIR");
        // /var/tmp, not /tmp: /tmp is a tmpfs (memory) on many systems.
        cfg.http.bodyTempDir = tmp != nullptr && *tmp == '/' ? tmp : "/var/tmp";
    }
    if (root->has("plugins")) {
        auto plugins = root->getObject("plugins");
        if (plugins->has("directories")) {
            auto dirs = plugins->getArray("directories");
            for (unsigned i = 0; i < dirs->size(); ++i) {
                cfg.pluginDirectories.push_back(absoluteFrom(cfg.directory, dirs->getElement<std::string>(i)));
            }
        }
    }
    cfg.apisDirectory = absoluteFrom(cfg.directory, get<std::string>(root, "apis_directory", "apis"));
    cfg.handlers = readChain(root, "handlers", "", file);
    if (root->has("messages")) {
        cfg.messages = root->get("messages");
    }
    if (root->has("stores")) {
        cfg.stores = root->get("stores");
    }
    if (root->has("access_log")) {
        auto access = root->getObject("access_log");
        AccessLogConfig a;
        a.path = absoluteFrom(cfg.directory, get<std::string>(access, "path", "access.log"));
        a.format = get<std::string>(access, "format", a.format);
        a.bufferBytes = get<std::size_t>(access, "buffer_bytes", a.bufferBytes);
        a.flushMs = get<int>(access, "flush_ms", a.flushMs);
        cfg.accessLog = std::move(a);
    }
    if (root->has("logging")) {
        auto log = root->getObject("logging");
        cfg.logging.format = get<std::string>(log, "format", "text");
        cfg.logging.level = get<std::string>(log, "level", "info");
        cfg.logging.output = get<std::string>(log, "output", "stderr");
        if (log->has("file")) {
            cfg.logging.file = absoluteFrom(cfg.directory, log->getValue<std::string>("file"));
        }
        if (log->has("levels")) {
            auto levels = log->getObject("levels");
            for (const auto& name : levels->getNames()) {
                if (!Logging::isName(name)) {
                    errors.push_back({file, "/logging/levels/" + jsonPointerToken(name),
                                      "no logger is named '" + name + "' (" + Logging::namesText() + ")"});
                }
                cfg.logging.levels[name] = levels->getValue<std::string>(name);
            }
        }
    }
    return cfg;
}

// "200-399" or 204 (the schema has checked the shapes; EndpointSet::build checks the order).
std::pair<int, int> readStatusRange(const Poco::Dynamic::Var& item)
{
    if (!item.isString()) {
        int status = item.convert<int>();
        return {status, status};
    }
    const auto& text = item.extract<std::string>();
    std::size_t dash = text.find('-');
    return {std::stoi(text.substr(0, dash)), std::stoi(text.substr(dash + 1))};
}

HealthCheckConfig readHealthCheck(const Object::Ptr& h)
{
    HealthCheckConfig hc;
    hc.path = get<std::string>(h, "path", hc.path);
    hc.method = get<std::string>(h, "method", hc.method);
    hc.host = get<std::string>(h, "host", hc.host);
    if (h->has("headers")) {
        auto fields = h->getObject("headers");
        for (const auto& [name, value] : *fields) {
            hc.headers.emplace_back(name, value.convert<std::string>());
        }
    }
    hc.intervalMs = get<int>(h, "interval_ms", hc.intervalMs);
    hc.timeoutMs = get<int>(h, "timeout_ms", hc.timeoutMs);
    hc.healthyThreshold = get<int>(h, "healthy_threshold", hc.healthyThreshold);
    hc.unhealthyThreshold = get<int>(h, "unhealthy_threshold", hc.unhealthyThreshold);
    if (h->has("expected_status")) {
        auto list = h->getArray("expected_status");
        hc.expectedStatus.clear();
        for (unsigned i = 0; i < list->size(); ++i) {
            hc.expectedStatus.push_back(readStatusRange(list->get(i)));
        }
    }
    return hc;
}

// `asWritten`: the same document before ${env:NAME} substitution (for the URLs logs show).
ApiConfig readApi(const Poco::Dynamic::Var& doc, const Poco::Dynamic::Var& asWritten, const std::string& file)
{
    auto root = doc.extract<Object::Ptr>();
    ApiConfig api;
    api.file = file;
    api.name = root->getValue<std::string>("name");
    api.context = root->getValue<std::string>("context");
    api.version = root->getValue<std::string>("version");
    api.defaultVersion = get<bool>(root, "default_version", false);
    auto endpoints = root->getArray("endpoints");
    auto written = asWritten.extract<Object::Ptr>()->getArray("endpoints");
    for (unsigned i = 0; i < endpoints->size(); ++i) {
        auto e = endpoints->getObject(i);
        api.endpoints.push_back({e->getValue<std::string>("url"), get<int>(e, "weight", 1),
                                 get<std::string>(e, "group", ""),
                                 written->getObject(i)->getValue<std::string>("url")});
    }
    if (root->has("timeouts")) {
        auto t = root->getObject("timeouts");
        api.connectTimeoutMs = get<int>(t, "connect_ms", api.connectTimeoutMs);
        api.readTimeoutMs = get<int>(t, "read_ms", api.readTimeoutMs);
        api.idleTimeoutMs = get<int>(t, "idle_ms", api.idleTimeoutMs);
        api.retryWindowMs = get<int>(t, "retry_window_ms", api.retryWindowMs);
    }
    api.retries = get<int>(root, "retries", api.retries);
    api.rewriteLocation = get<bool>(root, "rewrite_location", api.rewriteLocation);
    api.requestBuffering = get<bool>(root, "request_buffering", api.requestBuffering);
    if (root->has("method_override")) {
        api.methodOverride = methodOverrideFrom(root->getValue<std::string>("method_override"));
    }
    if (root->has("tls")) {
        auto t = root->getObject("tls");
        std::string dir = fs::path(file).parent_path().string();
        api.tlsVerify = get<bool>(t, "verify", true);
        api.tlsServerName = get<std::string>(t, "server_name", "");
        if (t->has("ca_file")) api.tlsCaFile = absoluteFrom(dir, t->getValue<std::string>("ca_file"));
        if (t->has("crl")) api.tlsCrlFile = absoluteFrom(dir, t->getValue<std::string>("crl"));
        if (t->has("client_certificate")) {
            api.tlsClientCertificate = absoluteFrom(dir, t->getValue<std::string>("client_certificate"));
            api.tlsClientKey = absoluteFrom(dir, t->getValue<std::string>("client_key"));
        }
    }
    if (root->has("suspension")) {
        auto s = root->getObject("suspension");
        api.suspendInitialMs = get<std::int64_t>(s, "initial_ms", api.suspendInitialMs);
        api.suspendMaxMs = get<std::int64_t>(s, "max_ms", api.suspendMaxMs);
        api.suspendFactor = get<double>(s, "factor", api.suspendFactor);
        api.suspendOnTimeout = get<bool>(s, "on_timeout", api.suspendOnTimeout);
    }
    if (root->has("health_check")) {
        api.healthCheck = readHealthCheck(root->getObject("health_check"));
    }
    auto resources = root->getArray("resources");
    for (unsigned i = 0; i < resources->size(); ++i) {
        auto r = resources->getObject(i);
        ResourceConfig rc;
        rc.uriTemplate = r->getValue<std::string>("uri_template");
        auto methods = r->getArray("methods");
        for (unsigned m = 0; m < methods->size(); ++m) {
            rc.methods.push_back(methods->getElement<std::string>(m));
        }
        rc.handlers = readChain(r, "handlers", "/resources/" + std::to_string(i), file);
        api.resources.push_back(std::move(rc));
    }
    api.handlers = readChain(root, "handlers", "", file);
    return api;
}

std::vector<std::string> apiFiles(const std::string& dir, std::vector<ConfigError>& errors)
{
    std::vector<std::string> files;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        errors.push_back({dir, "", "APIs directory does not exist"});
        return files;
    }
    std::vector<ConfigError> unreadable;  // in name order, as the files
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        // Hidden names are left out, as a shell's glob does: editors keep their lock and swap
        // files there (Emacs's ".#pets.json" is a symbolic link to nowhere).
        if (it->path().extension() != ".json" || name.front() == '.') {
            continue;
        }
        std::error_code typeError;
        if (it->is_regular_file(typeError)) {
            files.push_back(it->path().string());
        } else {
            // An API file that cannot be read is an error, not an API quietly gone: a symbolic
            // link whose target moved, or a directory named like a file.
            const bool dangling = it->is_symlink(typeError) && !fs::exists(it->path(), typeError);
            unreadable.push_back({it->path().string(), "",
                                  dangling ? "a symbolic link to a file that does not exist" : "not a regular file"});
        }
    }
    if (ec) {
        errors.push_back({dir, "", "cannot list APIs directory: " + ec.message()});
    }
    std::sort(files.begin(), files.end());
    std::sort(unreadable.begin(), unreadable.end(),
              [](const ConfigError& a, const ConfigError& b) { return a.file < b.file; });
    errors.insert(errors.end(), unreadable.begin(), unreadable.end());
    return files;
}

// Whether two sockets bound to (a, port) and (b, port) would take the same connections: the
// same host, or one of them a wildcard address.
bool sameSocket(const std::string& a, const std::string& b)
{
    auto wildcard = [](const std::string& host) { return host == "0.0.0.0" || host == "::" || host == "[::]"; };
    return a == b || wildcard(a) || wildcard(b);
}

// Listeners and the admin endpoint each need an address of their own: the workers' listening
// sockets share theirs with SO_REUSEPORT, so a second listener (or the admin endpoint) on it
// would be handed a share of the first one's connections, or fail at start with a message
// about "another process". Listener names must be unique too: a reload matches them by name.
void checkListeners(const GatewayConfig& cfg, std::vector<ConfigError>& errors)
{
    for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
        const ListenerConfig& l = cfg.listeners[i];
        const std::string at = "/listeners/" + std::to_string(i);
        for (std::size_t j = 0; j < i; ++j) {
            const ListenerConfig& earlier = cfg.listeners[j];
            if (earlier.name == l.name) {
                errors.push_back({cfg.file, at + "/name",
                                  "listener name '" + l.name + "' is already /listeners/" + std::to_string(j) + "'s"});
            }
            if (l.port != 0 && earlier.port == l.port && sameSocket(earlier.host, l.host)) {
                errors.push_back({cfg.file, at + "/port",
                                  "port " + std::to_string(l.port) + " on " + l.host + " is already listener '" +
                                      earlier.name + "''s (" + earlier.host + ")"});
            }
        }
        if (!cfg.adminHost.empty() && cfg.adminPort != 0 && l.port == cfg.adminPort &&
            sameSocket(cfg.adminHost, l.host)) {
            errors.push_back({cfg.file, "/admin/port",
                              "port " + std::to_string(cfg.adminPort) + " is listener '" + l.name +
                                  "''s: the admin endpoint needs a port of its own"});
        }
    }
}

// Two APIs that the router would reach by the same prefix: one would never be reached. Prefixes
// are compared as the router compares them (canonical, decoded segments), so "/enc" and "/%65nc",
// or "/shop" and "/shop/", are the same context; and the default-version form of "/x/v1" is the
// path of "/x" version "v1".
void checkDuplicateApis(const std::vector<ApiConfig>& apis, std::vector<ConfigError>& errors)
{
    // One name and version, one API: logs, /status and the suspension kept across reloads
    // (matched by name and version) would mix two.
    for (std::size_t i = 0; i < apis.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            if (apis[i].name == apis[j].name && apis[i].version == apis[j].version) {
                errors.push_back({apis[i].file, "/name",
                                  "API '" + apis[i].name + "' version '" + apis[i].version +
                                      "' is already defined in " + apis[j].file});
                break;
            }
        }
    }
    struct Owner {
        const ApiConfig* api;
        bool defaultForm;
    };
    std::map<std::string, Owner> byPrefix;
    auto describe = [](const ApiConfig& api, bool defaultForm) {
        return defaultForm ? "the default version of context '" + api.context + "'"
                           : "context '" + api.context + "' version '" + api.version + "'";
    };
    for (const auto& api : apis) {
        std::vector<std::string> keys = routing::Router::routeKeys(api.context, api.version, api.defaultVersion);
        for (std::size_t i = 0; i < keys.size(); ++i) {
            const bool defaultForm = i == 1;
            auto [it, inserted] = byPrefix.emplace(keys[i], Owner{&api, defaultForm});
            if (inserted) {
                continue;
            }
            const Owner& first = it->second;
            std::string message;
            if (defaultForm && first.defaultForm) {
                message = "context '" + api.context + "' already has a default version in " + first.api->file;
            } else if (!defaultForm && !first.defaultForm && api.context == first.api->context &&
                       api.version == first.api->version) {
                message = "API context '" + api.context + "' version '" + api.version + "' is already defined in " +
                          first.api->file;
            } else {
                message = describe(api, defaultForm) + " is the same path as " +
                          describe(*first.api, first.defaultForm) + " in " + first.api->file +
                          ": one of them could never be reached";
            }
            errors.push_back({api.file, defaultForm ? "/default_version" : "/context", message});
        }
    }
}

}  // namespace

void substituteEnvironment(Poco::Dynamic::Var& doc, const std::string& file, std::vector<ConfigError>& errors)
{
    substituteAt(doc, "", file, errors);
}

ConfigLoadResult ConfigLoader::load(const std::string& path)
{
    ConfigLoadResult result;
    auto doc = loadDocument(path, gatewaySchema(), result.errors);
    std::optional<GatewayConfig> cfg;
    std::string apisDir;
    if (doc) {
        cfg = readGateway(*doc, path, result.errors);
        checkListeners(*cfg, result.errors);
        apisDir = cfg->apisDirectory;
    } else {
        // Still check the APIs so that one run reports every mistake, named as they would be
        // with a valid sluice.json.
        apisDir = absoluteFrom(configDirectory(path), "apis");
    }
    std::vector<ApiConfig> apis;
    std::error_code ec;
    // Without a readable sluice.json the APIs are looked for where they usually are; that place
    // missing is not a mistake of its own.
    const bool look = doc || fs::is_directory(apisDir, ec);
    for (const auto& file : look ? apiFiles(apisDir, result.errors) : std::vector<std::string>()) {
        std::optional<Poco::Dynamic::Var> asWritten;
        if (auto apiDoc = loadDocument(file, apiSchema(), result.errors, &asWritten)) {
            apis.push_back(readApi(*apiDoc, *asWritten, file));
        }
    }
    checkDuplicateApis(apis, result.errors);
    if (cfg) {
        // Handed back even with errors, holding the APIs that are valid, so that the checks
        // that need plugins can still run and report their mistakes in the same pass.
        cfg->apis = std::move(apis);
        result.config = std::move(cfg);
    }
    return result;
}

}  // namespace sluice::runtime
