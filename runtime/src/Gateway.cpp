#include "sluice/runtime/Gateway.h"

#include <algorithm>
#include <iterator>

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
        _retired.push_back(std::move(_current));
    }
    _current = snapshot;
}

std::size_t Gateway::releaseRetired()
{
    std::vector<std::shared_ptr<const Snapshot>> unused;
    std::size_t held = 0;
    {
        // Only _retired holds a snapshot whose count is 1, and nothing copies from _retired: no
        // other thread can take it up again between the check and the destruction.
        std::lock_guard<std::mutex> lock(_mutex);
        auto still = std::partition(_retired.begin(), _retired.end(),
                                    [](const std::shared_ptr<const Snapshot>& s) { return s.use_count() > 1; });
        std::move(still, _retired.end(), std::back_inserter(unused));
        _retired.erase(still, _retired.end());
        held = _retired.size();
    }
    // No fence is needed after the relaxed use_count(): destroying goes through the count's own
    // decrement (acquire-release), which orders it after every other holder's release.
    unused.clear();  // outside the lock: current() is not kept waiting while plugins are destroyed
    return held;
}

std::shared_ptr<const Snapshot> Gateway::current() const
{
    std::lock_guard<std::mutex> lock(_mutex);
    return _current;
}

}  // namespace sluice::runtime
