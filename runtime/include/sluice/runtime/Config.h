#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <Poco/Dynamic/Var.h>

namespace sluice::runtime {

// One configuration mistake: the file, the JSON pointer inside it and the rule broken.
struct ConfigError {
    std::string file;
    std::string pointer;  // empty when the whole file is at fault (unreadable, not JSON)
    std::string message;

    std::string str() const;
};

// A handler in a chain: which component, the instance name and its configuration block.
struct HandlerRef {
    std::string component;
    std::string name;           // defaults to the component name
    Poco::Dynamic::Var config;  // a JSON object (empty object when not given)
    std::string file;
    std::string pointer;  // of the chain entry, e.g. "/handlers/0"
};

struct ListenerConfig {
    std::string name;
    std::string host = "0.0.0.0";
    int port = 0;
    Poco::Dynamic::Var tls;  // empty when plain HTTP
};

struct LoggingConfig {
    std::string format = "text";  // text | json
    std::string level = "info";
    std::map<std::string, std::string> levels;  // per component logger
    std::string output = "stderr";              // stderr | file
    std::string file;
};

struct ResourceConfig {
    std::string uriTemplate;
    std::vector<std::string> methods;
    std::vector<HandlerRef> handlers;
};

struct EndpointConfig {
    std::string url;
    int weight = 1;
    std::string group;
    // The URL as written, its ${env:NAME} references not expanded: what logs and /status show,
    // since an endpoint's path may hold a secret (a webhook token, say). Empty: `url`.
    std::string shownUrl;
};

// Active health checks of an API's endpoints ("health_check"): every endpoint is probed with
// `method path` every `intervalMs`; `unhealthyThreshold` consecutive failed probes take it out
// of load balancing, `healthyThreshold` consecutive passed ones bring it back.
struct HealthCheckConfig {
    std::string path = "/";
    std::string method = "GET";                                // GET | HEAD
    std::string host;                                          // Host header; empty: the endpoint's
    std::vector<std::pair<std::string, std::string>> headers;  // extra probe fields, in file order
    int intervalMs = 5000;
    int timeoutMs = 1000;
    int healthyThreshold = 2;
    int unhealthyThreshold = 3;
    // Inclusive status ranges that pass; a single status is a range of one. Default 200-399.
    std::vector<std::pair<int, int>> expectedStatus{{200, 399}};
};

// What the gateway does with a client's X-HTTP-Method-Override, X-HTTP-Method or
// X-Method-Override field (in either spelling, '-' or '_'), `_method` query parameter or POST
// form body parameter naming another method than the request line's: such a backend would run a
// method the route and its policies never saw.
enum class MethodOverride {
    Reject,   // 400 (the default)
    Strip,    // fields and query parameters dropped (the backend runs the request line's method); a body is refused
    Forward,  // passed on as it came
};

struct ApiConfig {
    std::string file;
    std::string name;
    std::string context;
    std::string version;
    bool defaultVersion = false;
    std::vector<EndpointConfig> endpoints;
    int connectTimeoutMs = 5000;
    int readTimeoutMs = 60000;
    int idleTimeoutMs = 60000;  // a pooled backend connection's wait for its next request
    int retryWindowMs = 0;      // no attempt starts this long after the first (0: no limit)
    // Extra attempts on other endpoints (idempotent requests; any after a failed connect). The
    // default, the schema's most, tries every endpoint once in all but the largest sets, as
    // nginx's proxy_next_upstream_tries 0 and WSO2's failover do.
    int retries = 10;
    bool rewriteLocation = true;    // Location / Content-Location into the API's URL space
    bool requestBuffering = false;  // every body read whole and sent with a Content-Length
    bool tlsVerify = true;
    std::string tlsCaFile;   // absolute, or empty for the system CAs
    std::string tlsCrlFile;  // absolute, or empty for no revocation check
    std::string tlsServerName;
    std::string tlsClientCertificate;
    std::string tlsClientKey;
    std::int64_t suspendInitialMs = 30000;
    std::int64_t suspendMaxMs = 300000;
    double suspendFactor = 2.0;
    bool suspendOnTimeout = true;                  // a read timeout counts as a failure
    std::optional<HealthCheckConfig> healthCheck;  // none: passive failure handling only
    std::vector<ResourceConfig> resources;
    std::vector<HandlerRef> handlers;
    std::optional<MethodOverride> methodOverride;  // none: http.method_override
};

// How new client connections are spread over the workers. Kernel: where SO_REUSEPORT's hash of
// the client's address and port puts them, so with few long-lived connections one worker may hold
// many more than another. Exact: a worker that holds two or more connections more than the
// least-loaded one hands a new connection to that one (much as Envoy's exact_balance), at the
// cost of a cross-thread wake-up for the connections moved.
enum class ConnectionBalance {
    Exact,
    Kernel,
};

// HTTP limits and timeouts of the listeners (sluice.json "http").
struct HttpConfig {
    std::size_t maxRequestLine = 8 * 1024;
    std::size_t maxHeaderBytes = 32 * 1024;
    std::size_t maxHeaders = 100;
    // A backend's response head (502 101502 beyond them).
    std::size_t maxResponseHeaderBytes = 32 * 1024;
    std::size_t maxResponseHeaders = 100;
    std::uint64_t maxBodyBytes = 10u * 1024 * 1024;
    // A request body with a Content-Length up to this size that has not all arrived with the head
    // is read whole before the backend is contacted (0: every body streams).
    std::uint64_t requestBufferBytes = 64 * 1024;
    // Where an API with request_buffering keeps the part of a body past requestBufferBytes, in
    // files without names ("" in the file: $TMPDIR, else /var/tmp).
    std::string bodyTempDir;
    int headerTimeoutMs = 10000;
    int bodyTimeoutMs = 30000;
    int keepaliveTimeoutMs = 60000;
    std::uint32_t maxRequestsPerConnection = 10000;
    // Client connections open at once, all workers and listeners together; more wait in the
    // listen backlog (0: what the open-file limit allows, see ConnectionBudget::automaticLimit).
    std::size_t maxConnections = 0;
    std::vector<std::string> trustedProxies;  // CIDRs whose X-Forwarded-For is believed
    MethodOverride methodOverride = MethodOverride::Reject;
    // Whether a client's orderly close (FIN, TLS close_notify) while its answer is awaited ends
    // the exchange (HAProxy's abortonclose, nginx's default). Off: a client may half-close after
    // its request and still read the answer. A reset always ends it.
    bool abortOnClientClose = false;
    // How new client connections are spread over the workers (see ConnectionBalance).
    ConnectionBalance connectionBalance = ConnectionBalance::Exact;
};

// One line per request, written by the workers in batches (sluice.json "access_log").
struct AccessLogConfig {
    std::string path;                     // absolute
    std::string format = "text";          // "text" or "json"
    std::size_t bufferBytes = 64 * 1024;  // a worker writes its lines when this much is pending
    int flushMs = 1000;                   // or when its oldest pending line is this old
};

struct GatewayConfig {
    std::string file;
    std::string directory;  // of `file`, absolute; relative paths resolve against it
    unsigned workers = 0;   // 0: one per core
    std::vector<ListenerConfig> listeners;
    HttpConfig http;
    // How often endpoint host names are looked up again while the configuration serves
    // (resolver.refresh_ms; 0: only when the configuration is loaded).
    int resolverRefreshMs = 30000;
    // How long a shutdown (SIGTERM) lets exchanges in flight finish before it closes them.
    int shutdownGraceMs = 30000;
    std::string adminHost;  // empty: no admin endpoint
    int adminPort = 0;
    // A file holding the admin endpoint's bearer token (absolute; empty: no token asked for).
    std::string adminTokenFile;
    std::vector<std::string> pluginDirectories;  // absolute
    std::string apisDirectory;                   // absolute
    std::vector<HandlerRef> handlers;            // global chain
    Poco::Dynamic::Var stores;
    // The "messages" object: {component name: {"config": {...}}} for builders and formatters
    // (empty when absent).
    Poco::Dynamic::Var messages;
    LoggingConfig logging;
    std::optional<AccessLogConfig> accessLog;  // none: no access log
    std::vector<ApiConfig> apis;
};

struct ConfigLoadResult {
    // Set whenever sluice.json itself is valid: with errors it holds only the valid APIs and is
    // good for further checking, never for serving. Success is `errors.empty()`.
    std::optional<GatewayConfig> config;
    std::vector<ConfigError> errors;  // every mistake found, in file order
};

// Reads sluice.json and every apis/*.json, substitutes ${env:NAME}, validates each file against
// its schema and reports every error at once. Plugin-dependent checks (component names, their
// configuration) happen later, when the plugins are loaded (see Gateway).
class ConfigLoader {
public:
    static ConfigLoadResult load(const std::string& path);
};

// Replaces every ${env:NAME} in the string values of `doc` (in place). A reference to an unset
// variable is reported as an error at its pointer; "$${" writes a literal "${".
void substituteEnvironment(Poco::Dynamic::Var& doc, const std::string& file, std::vector<ConfigError>& errors);

}  // namespace sluice::runtime
