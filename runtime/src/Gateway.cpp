#include "sluice/runtime/Gateway.h"

#include "sluice/runtime/Logging.h"
#include "sluice/runtime/upstream/EndpointSet.h"

namespace sluice::runtime {

namespace {

// A reload must not forgive an endpoint: the same API (name and version) keeps the suspension of
// its endpoints with the same target (within the new suspension policy). (Active health state is
// carried by the health checker.)
void keepEndpointState(const Snapshot& previous, const Snapshot& next)
{
    for (const auto& api : next.apis) {
        for (const auto& old : previous.apis) {
            if (old.config.name == api.config.name && old.config.version == api.config.version && old.endpoints &&
                api.endpoints) {
                api.endpoints->takeSuspensionFrom(*old.endpoints, upstream::monotonicMs());
                break;
            }
        }
    }
}

}  // namespace

Gateway::Gateway(GatewayOptions options) : _options(std::move(options)) {}

SnapshotResult Gateway::load()
{
    ConfigLoadResult loaded = ConfigLoader::load(_options.configPath);
    if (!loaded.config) {
        SnapshotResult failed;
        failed.errors = std::move(loaded.errors);
        return failed;
    }
    auto plugins = loadPlugins(pluginDirectories(&*loaded.config, _options.extraPluginDirs), Logging::get("loader"));
    SnapshotResult result = buildSnapshot(std::move(*loaded.config), std::move(plugins));
    if (!loaded.errors.empty()) {
        // The file errors come first (file order), then what the plugin checks found.
        loaded.errors.insert(loaded.errors.end(), result.errors.begin(), result.errors.end());
        result.errors = std::move(loaded.errors);
        result.snapshot.reset();
    }
    return result;
}

void Gateway::install(const std::shared_ptr<const Snapshot>& snapshot)
{
    std::lock_guard<std::mutex> lock(_mutex);
    if (_current) {
        keepEndpointState(*_current, *snapshot);
    }
    _current = snapshot;
}

std::shared_ptr<const Snapshot> Gateway::current() const
{
    std::lock_guard<std::mutex> lock(_mutex);
    return _current;
}

}  // namespace sluice::runtime
