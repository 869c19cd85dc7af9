#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sluice/runtime/Snapshot.h"

namespace sluice::runtime {

struct GatewayOptions {
    std::string configPath;
    std::vector<std::string> extraPluginDirs;
};

// Owns the current configuration snapshot. load() builds a complete new snapshot from disk and
// swaps it in only when it is free of errors, so a bad reload leaves the running one untouched.
class Gateway {
public:
    explicit Gateway(GatewayOptions options);

    // Builds a snapshot from the configuration files and the plugin directories; on success the
    // result's errors are empty. It is not current until install() makes it so.
    SnapshotResult load();
    // Makes `snapshot` (from load()) the current one; its endpoints take over the suspensions
    // of the same API's endpoints in the one before.
    void install(const std::shared_ptr<const Snapshot>& snapshot);

    std::shared_ptr<const Snapshot> current() const;

private:
    GatewayOptions _options;
    mutable std::mutex _mutex;
    std::shared_ptr<const Snapshot> _current;
};

}  // namespace sluice::runtime
