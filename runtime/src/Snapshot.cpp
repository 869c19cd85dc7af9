#include "sluice/runtime/Snapshot.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "sluice/runtime/HostApi.h"
#include "sluice/runtime/Logging.h"
#include "sluice/runtime/transport/AccessLog.h"
#include "sluice/runtime/transport/BodySpool.h"
#include "sluice/runtime/transport/Tls.h"

namespace fs = std::filesystem;

namespace sluice::runtime {

Snapshot::~Snapshot() { router.reset(); }

std::string bundledPluginDirectory()
{
    if (const char* env = std::getenv("SLUICE_BUNDLED_PLUGIN_DIR"); env != nullptr && *env != '\0') {
        return env;
    }
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) {
        return "/usr/lib/sluice/plugins";
    }
    return (exe.parent_path() / ".." / "lib" / "sluice" / "plugins").lexically_normal().string();
}

std::vector<std::string> pluginDirectories(const GatewayConfig* config, const std::vector<std::string>& extra)
{
    std::vector<std::string> dirs{bundledPluginDirectory()};
    if (config != nullptr) {
        dirs.insert(dirs.end(), config->pluginDirectories.begin(), config->pluginDirectories.end());
    }
    dirs.insert(dirs.end(), extra.begin(), extra.end());
    std::vector<std::string> unique;
    for (auto& d : dirs) {
        if (std::find(unique.begin(), unique.end(), d) == unique.end()) {
            unique.push_back(d);
        }
    }
    return unique;
}

std::shared_ptr<PluginRegistry> loadPlugins(const std::vector<std::string>& directories,
                                            const std::shared_ptr<spdlog::logger>& log)
{
    auto registry = std::make_shared<PluginRegistry>();
    PluginLoader loader(hostApi(), log);
    for (const auto& dir : directories) {
        loader.loadDirectory(dir, *registry, false);
    }
    return registry;
}

namespace {

class SnapshotBuilder {
public:
    SnapshotBuilder(const PluginRegistry& plugins, const std::string& configDir, std::vector<ConfigError>& errors)
        : _plugins(plugins), _configDir(configDir), _errors(errors)
    {
    }

    std::vector<std::shared_ptr<ComponentInstance>> createChain(const std::vector<HandlerRef>& refs)
    {
        std::vector<std::shared_ptr<ComponentInstance>> chain;
        for (const auto& ref : refs) {
            const LoadedComponent* component = resolve(ref);
            if (component == nullptr) {
                continue;
            }
            if (auto instance = ComponentInstance::create(*component, ref, _configDir, _errors)) {
                chain.push_back(std::move(instance));
                ++_created;
            }
        }
        return chain;
    }

    std::size_t created() const { return _created; }
    const std::set<std::string>& used() const { return _used; }
    // Some component the configuration names was in no loaded plugin (its error names the files
    // that could not be loaded).
    bool anyMissing() const { return _anyMissing; }

private:
    const LoadedComponent* resolve(const HandlerRef& ref)
    {
        _used.insert(ref.component);
        const std::string pointer = ref.pointer + "/component";
        const LoadedComponent* c = _plugins.find(ref.component);
        if (c == nullptr) {
            _anyMissing = true;
            std::string message = "no loaded plugin provides component '" + ref.component + "'";
            if (const LoadProblem* p = _plugins.problemFor(ref.component)) {
                message += "; " + p->file + " offers it but was refused: " + p->message;
            } else if (!_plugins.problems().empty()) {
                message += "; plugin files that could not be loaded: ";
                for (std::size_t i = 0; i < _plugins.problems().size(); ++i) {
                    message += (i ? ", " : "") + _plugins.problems()[i].file;
                }
            }
            _errors.push_back({ref.file, pointer, message});
            return nullptr;
        }
        if (c->kind != SLUICE_KIND_HANDLER) {
            _errors.push_back(
                {ref.file, pointer, "component '" + ref.component + "' is a " + kindName(c->kind) + ", not a handler"});
            return nullptr;
        }
        return c;
    }

    const PluginRegistry& _plugins;
    const std::string _configDir;  // a copy: the configuration moves into the snapshot
    std::vector<ConfigError>& _errors;
    std::set<std::string> _used;
    std::size_t _created = 0;
    bool _anyMissing = false;
};

// Default chain order: priority (higher first), then instance name; stable for equal keys.
void sortByPriority(std::vector<std::shared_ptr<ComponentInstance>>& chain)
{
    std::stable_sort(chain.begin(), chain.end(), [](const auto& a, const auto& b) {
        if (a->component().priority != b->component().priority) {
            return a->component().priority > b->component().priority;
        }
        return a->name() < b->name();
    });
}

}  // namespace

SnapshotResult buildSnapshot(GatewayConfig config, std::shared_ptr<const PluginRegistry> plugins)
{
    SnapshotResult result;
    SnapshotBuilder builder(*plugins, config.directory, result.errors);
    auto snapshot = std::make_shared<Snapshot>();

    // Global handlers have no written order relative to each other: they run by priority. An
    // API's own chain, and a resource's, run after them exactly in the order written.
    auto global = builder.createChain(config.handlers);
    sortByPriority(global);
    for (const auto& api : config.apis) {
        ApiRuntime rt;
        rt.config = api;
        auto chain = global;
        rt.endpoints = upstream::EndpointSet::build(api, result.errors);
        for (const auto& problem : routing::Router::validateContext(api.context)) {
            result.errors.push_back({api.file, "/context", problem});
        }
        for (const auto& problem : routing::Router::validateVersion(api.version)) {
            result.errors.push_back({api.file, "/version", problem});
        }
        for (std::size_t r = 0; r < api.resources.size(); ++r) {
            for (const auto& problem : routing::Router::validateTemplate(api.resources[r].uriTemplate)) {
                result.errors.push_back({api.file, "/resources/" + std::to_string(r) + "/uri_template", problem});
            }
        }
        auto own = builder.createChain(api.handlers);
        chain.insert(chain.end(), own.begin(), own.end());
        rt.pipeline = Pipeline(chain);
        for (const auto& resource : api.resources) {
            auto resourceChain = chain;
            auto extra = builder.createChain(resource.handlers);
            resourceChain.insert(resourceChain.end(), extra.begin(), extra.end());
            rt.resources.push_back(ResourceRuntime{resource, Pipeline(std::move(resourceChain))});
        }
        snapshot->apis.push_back(std::move(rt));
    }

    // A body of an API with request_buffering goes to http.body_temp_dir past request_buffer_bytes:
    // a directory where no file can be made is a configuration error, not a 500 for each such body.
    const auto buffering =
        std::find_if(config.apis.begin(), config.apis.end(), [](const ApiConfig& api) { return api.requestBuffering; });
    if (buffering != config.apis.end()) {
        std::string error;
        if (!transport::BodySpool::open(config.http.bodyTempDir, error)) {
            result.errors.push_back({config.file, "/http/body_temp_dir",
                                     error + " (the API " + buffering->name + " has request_buffering)"});
        } else if (transport::BodySpool::inMemory(config.http.bodyTempDir)) {
            Logging::get("runtime")->warn(
                "http.body_temp_dir {} is a file system kept in memory (tmpfs): the request bodies the API {} "
                "buffers are held in RAM there; point it at a disk",
                config.http.bodyTempDir, buffering->name);
        }
    }
    for (const auto& problem : plugins->problems()) {
        bool used = std::any_of(problem.components.begin(), problem.components.end(),
                                [&](const std::string& c) { return builder.used().count(c) != 0; });
        // A file refused before its components were known (permissions, no entry symbol) may be
        // the one a missing component's error names: not called unused then.
        if (problem.components.empty() && builder.anyMissing()) {
            used = true;
        }
        if (!used) {
            result.warnings.push_back(problem);
        }
    }
    // The listeners' TLS contexts are part of the generation: a reload serves renewed certificate
    // files to new connections, and broken ones refuse the whole reload.
    snapshot->listenerTls.resize(config.listeners.size());
    for (std::size_t i = 0; i < config.listeners.size(); ++i) {
        if (config.listeners[i].tls.isEmpty()) {
            continue;
        }
        try {
            snapshot->listenerTls[i] = transport::TlsServerContext::create(config.listeners[i].tls, config.directory);
        } catch (const std::exception& e) {
            result.errors.push_back({config.file, "/listeners/" + std::to_string(i) + "/tls", e.what()});
        }
    }
    {
        std::string error;
        snapshot->logSink = Logging::openSink(config.logging, error);
        if (snapshot->logSink == nullptr) {
            result.errors.push_back({config.file, "/logging", error});
        }
    }
    if (config.accessLog) {
        std::string error;
        snapshot->accessLog = transport::AccessLogFile::open(*config.accessLog, error);
        if (snapshot->accessLog == nullptr) {
            result.errors.push_back({config.file, "/access_log/path", error});
        }
    }
    for (std::size_t i = 0; i < config.http.trustedProxies.size(); ++i) {
        transport::Cidr cidr;
        const std::string& written = config.http.trustedProxies[i];
        const std::string pointer = "/http/trusted_proxies/" + std::to_string(i);
        if (transport::Cidr::parse(written, cidr)) {
            // "10.1.2.3/8" is 10.0.0.0/8 to the matcher: a typo for /32 (or another block) would
            // trust a whole network unnoticed.
            if (!cidr.exact()) {
                result.errors.push_back({config.file, pointer,
                                         "'" + written + "' has address bits beyond its prefix: write " +
                                             cidr.network() + " if that block is meant"});
            } else if (cidr.prefix == 0) {
                Logging::get("runtime")->warn("{}: {}: '{}' trusts every client to say whom it forwards for",
                                              config.file, pointer, written);
            }
            snapshot->trustedProxies.push_back(cidr);
        } else {
            result.errors.push_back({config.file, "/http/trusted_proxies/" + std::to_string(i),
                                     "not an IP address or CIDR block: '" + config.http.trustedProxies[i] + "'"});
        }
    }
    if (!result.errors.empty()) {
        return result;  // instances created so far are destroyed with `snapshot`
    }
    snapshot->codecs = MessageCodecs::create(*plugins, config.file, config.directory, result.errors, config.messages);
    if (!result.errors.empty()) {
        return result;
    }
    snapshot->router = std::make_unique<routing::Router>(snapshot->apis);
    snapshot->instanceCount = builder.created();
    // Probing starts when the snapshot goes into service (HealthChecker::activate, see Cli).
    std::vector<std::shared_ptr<upstream::EndpointSet>> endpointSets;
    for (const auto& api : snapshot->apis) {
        endpointSets.push_back(api.endpoints);
    }
    snapshot->responseLimits.maxHeaderBytes = config.http.maxResponseHeaderBytes;
    snapshot->responseLimits.maxHeaderCount = config.http.maxResponseHeaders;
    snapshot->healthChecks = upstream::HealthChecker::create(endpointSets, snapshot->responseLimits);
    snapshot->config = std::move(config);
    snapshot->plugins = std::move(plugins);
    result.snapshot = std::move(snapshot);
    return result;
}

}  // namespace sluice::runtime
