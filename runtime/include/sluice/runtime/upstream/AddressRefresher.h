#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "sluice/runtime/upstream/EndpointSet.h"

namespace sluice::runtime::upstream {

// Looks the host names of the serving configuration's endpoints up again every `every`
// (resolver.refresh_ms in sluice.json) and points an endpoint at the first address its name
// resolves to when the address it has is no longer among them (Endpoint::retarget), so that a
// backend that moves is followed without a reload, and round-robin DNS does not move it at every
// lookup. A failed lookup keeps the address the endpoint has. Endpoints written with an IP
// literal are never looked up.
//
// One background thread for the process: the lookups block (getaddrinfo), so they never run on a
// worker's loop, and nothing ever waits for one: a configuration that goes away is held only
// weakly between rounds, and at exit the thread is left behind rather than joined (a lookup can
// hang for as long as the resolver's timeouts).
//
// THREADING: serve() and stop() from any thread.
class AddressRefresher {
public:
    static AddressRefresher& instance();
    ~AddressRefresher();
    AddressRefresher(const AddressRefresher&) = delete;
    AddressRefresher& operator=(const AddressRefresher&) = delete;

    // From now on, refresh the endpoints of `sets` (the configuration that serves now) every
    // `every`; the sets served before are forgotten. A zero interval stops refreshing.
    void serve(const std::vector<std::shared_ptr<EndpointSet>>& sets, std::chrono::milliseconds every);
    // No more lookups; a lookup in progress is abandoned (its result is not used). For shutdown.
    void stop();

private:
    struct State;
    AddressRefresher();
    static void run(const std::shared_ptr<State>& state);

    std::shared_ptr<State> _state;  // shared with the thread, which may outlive this object
};

}  // namespace sluice::runtime::upstream
