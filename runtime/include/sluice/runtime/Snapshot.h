#pragma once

#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "sluice/runtime/Config.h"
#include "sluice/runtime/MessageCodecs.h"
#include "sluice/runtime/Pipeline.h"
#include "sluice/runtime/PluginLoader.h"
#include "sluice/runtime/http/HttpParser.h"
#include "sluice/runtime/routing/Router.h"
#include "sluice/runtime/transport/Net.h"
#include "sluice/runtime/upstream/EndpointSet.h"
#include "sluice/runtime/upstream/HealthChecker.h"

namespace sluice::runtime {

namespace transport {
class AccessLogFile;
class TlsServerContext;
}  // namespace transport

struct ResourceRuntime {
    ResourceConfig config;
    Pipeline pipeline;  // the API's chain followed by the resource's own handlers
};

struct ApiRuntime {
    ApiConfig config;
    Pipeline pipeline;
    std::vector<ResourceRuntime> resources;
    std::shared_ptr<upstream::EndpointSet> endpoints;
};

// Everything one configuration generation needs: the plugins it was built against, the created
// component instances and the per-API chains. Immutable once built; a reload builds a new one
// and swaps it in, and in-flight exchanges keep theirs alive through the shared_ptr.
struct Snapshot {
    GatewayConfig config;
    std::shared_ptr<const PluginRegistry> plugins;
    std::vector<ApiRuntime> apis;
    std::unique_ptr<routing::Router> router;  // over `apis`
    std::shared_ptr<MessageCodecs> codecs;    // builders and formatters by media type
    std::vector<transport::Cidr> trustedProxies;
    // One per config.listeners entry (null for plain HTTP): the contexts new connections on that
    // listener get while this snapshot is the current one.
    std::vector<std::shared_ptr<transport::TlsServerContext>> listenerTls;
    std::size_t instanceCount = 0;
    // The access log file (config.accessLog), opened for this generation; null without one.
    std::shared_ptr<transport::AccessLogFile> accessLog;
    // Where the process log goes (config.logging), opened while loading.
    spdlog::sink_ptr logSink;
    // The bounds of a backend's response head (config.http), for proxied answers and probes.
    http::ParseLimits responseLimits;
    // Active health checks of the APIs' endpoints (no thread when no API has a health_check);
    // last, so that probing stops before anything else of the generation goes.
    std::unique_ptr<upstream::HealthChecker> healthChecks;

    ~Snapshot();  // the router goes before the APIs it points into
};

struct SnapshotResult {
    std::shared_ptr<const Snapshot> snapshot;  // null when there are errors
    std::vector<ConfigError> errors;
    std::vector<LoadProblem> warnings;  // plugin files refused but not used by the config
};

// Where sluiced looks for plugins: its bundled directory, then the configured drop-in ones,
// then any given on the command line.
std::vector<std::string> pluginDirectories(const GatewayConfig* config, const std::vector<std::string>& extra);

// The bundled plugin directory: $SLUICE_BUNDLED_PLUGIN_DIR, else <exe>/../lib/sluice/plugins.
std::string bundledPluginDirectory();

// Loads the plugins from `directories`.
std::shared_ptr<PluginRegistry> loadPlugins(const std::vector<std::string>& directories,
                                            const std::shared_ptr<spdlog::logger>& log);

// Resolves every configured handler against the plugins, validates each component's
// configuration against its schema and creates the instances. All errors are reported.
SnapshotResult buildSnapshot(GatewayConfig config, std::shared_ptr<const PluginRegistry> plugins);

}  // namespace sluice::runtime
