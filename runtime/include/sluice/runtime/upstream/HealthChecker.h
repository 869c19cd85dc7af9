#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "sluice/runtime/http/HttpParser.h"
#include "sluice/runtime/upstream/EndpointSet.h"

namespace sluice::runtime::transport {
class EventLoop;
}

namespace sluice::runtime::upstream {

class HealthTarget;

// Active health checks of one configuration snapshot: one prober thread running its own event
// loop (never a worker's) probes every endpoint of every set that has a health check, and
// publishes each endpoint's state through Endpoint::setHealthy (an atomic the workers read in
// pick()). Transitions are logged once each ("upstream" logger).
//
// Generations: only the newest activated checker probes. Activating one pauses the one before it (its
// thread is stopped and joined, its endpoints keep their last state) and takes over the health
// state of the endpoints both have (same API, URL and probe), so a reload neither re-admits a dead
// endpoint nor probes a removed one. Destroying the newest resumes the newest remaining one (a
// snapshot built but not taken, e.g. a reload refused for errors elsewhere).
//
// THREADING: create and destroy from any thread but the prober's own; the destructor stops and
// joins the thread.
class HealthChecker {
public:
    // The checker of the endpoints of `sets` that have a health check. It probes nothing until
    // activate() (so that building a configuration, e.g. for --check-config, sends no traffic).
    // `responseLimits` bound a probe's response head as they bound proxied answers'.
    static std::unique_ptr<HealthChecker> create(const std::vector<std::shared_ptr<EndpointSet>>& sets,
                                                 const http::ParseLimits& responseLimits = http::ParseLimits());
    // Makes this the newest generation and starts probing. Without targets the checker runs no
    // thread but still counts as a generation (the previous one stops probing). Idempotent.
    void activate();
    ~HealthChecker();
    HealthChecker(const HealthChecker&) = delete;
    HealthChecker& operator=(const HealthChecker&) = delete;

    // Whether this checker's thread is running (false while a newer generation exists, and
    // always without targets).
    bool probing() const noexcept { return _thread.joinable(); }
    std::size_t targetCount() const noexcept { return _targets.size(); }

private:
    friend class HealthRegistry;
    HealthChecker() = default;

    void start();  // registry lock held
    void stop();   // registry lock held
    void run(transport::EventLoop& loop);
    void takeStateFrom(const HealthChecker& previous);

    std::vector<std::shared_ptr<EndpointSet>> _sets;  // keeps the probed endpoints alive
    std::vector<std::unique_ptr<HealthTarget>> _targets;
    std::unique_ptr<transport::EventLoop> _loop;
    std::thread _thread;
    bool _active = false;  // registered as a generation
};

}  // namespace sluice::runtime::upstream
