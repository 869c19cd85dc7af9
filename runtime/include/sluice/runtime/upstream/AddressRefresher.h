#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "sluice/runtime/upstream/EndpointSet.h"

namespace sluice::runtime::upstream {

// Looks the host names of the serving configuration's endpoints up again every `every`
// (resolver.refresh_ms in sluice.json) and points each endpoint at the first address its name
// resolves to now (Endpoint::retarget), so that a backend that moves is followed without a
// reload. A failed lookup keeps the address the endpoint has. Endpoints written with an IP literal
// are never looked up.
//
// One background thread for the process: the lookups block (getaddrinfo), so they never run on a
// worker's loop, and a configuration that goes away never has to wait for one (the thread holds
// the sets only weakly between rounds).
//
// THREADING: serve() from any thread; the thread starts on the first serve() with a host name to
// look up and is joined at exit.
class AddressRefresher {
public:
    static AddressRefresher& instance();
    ~AddressRefresher();
    AddressRefresher(const AddressRefresher&) = delete;
    AddressRefresher& operator=(const AddressRefresher&) = delete;

    // From now on, refresh the endpoints of `sets` (the configuration that serves now) every
    // `every`; the sets served before are forgotten. A zero interval stops refreshing.
    void serve(const std::vector<std::shared_ptr<EndpointSet>>& sets, std::chrono::milliseconds every);

    // One round now, on the calling thread (tests); returns how many endpoints changed address.
    static std::size_t refresh(const std::vector<std::shared_ptr<EndpointSet>>& sets);

private:
    AddressRefresher() = default;
    void run();

    std::mutex _mutex;
    std::condition_variable _wake;
    std::vector<std::weak_ptr<EndpointSet>> _sets;
    std::chrono::milliseconds _every{0};
    std::uint64_t _generation = 0;  // bumped by serve(): the next round waits a whole interval
    bool _stopping = false;
    std::thread _thread;
};

}  // namespace sluice::runtime::upstream
