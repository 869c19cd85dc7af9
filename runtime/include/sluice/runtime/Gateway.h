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
    // of the same API's endpoints in the one before, which is kept as retired.
    void install(const std::shared_ptr<const Snapshot>& snapshot);

    std::shared_ptr<const Snapshot> current() const;

    // Destroys the retired snapshots nothing else holds any more, on the calling thread, and
    // returns how many are still held (by exchanges in flight, a worker not yet switched).
    // A retired snapshot is thereby never destroyed by a worker letting go of it, which would
    // stall that worker's event loop for as long as its plugin instances, codecs and TLS
    // contexts take to destroy, and would call plugins' destroy on a worker thread. Called on
    // the reload thread; what is left at exit goes with the Gateway, after the workers.
    std::size_t releaseRetired();

private:
    GatewayOptions _options;
    mutable std::mutex _mutex;
    std::shared_ptr<const Snapshot> _current;
    std::vector<std::shared_ptr<const Snapshot>> _retired;
};

}  // namespace sluice::runtime
