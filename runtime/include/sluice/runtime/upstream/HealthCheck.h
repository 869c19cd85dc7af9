#pragma once

#include <string>
#include <utility>
#include <vector>

namespace sluice::runtime::upstream {

// What an active health check sends and what counts as a pass (an API's "health_check").
struct HealthCheckPolicy {
    std::string path = "/";
    std::string method = "GET";
    std::string host;                                          // Host header; empty: the endpoint's
    std::vector<std::pair<std::string, std::string>> headers;  // extra fields of the probe
    int intervalMs = 5000;
    int timeoutMs = 1000;
    int healthyThreshold = 2;
    int unhealthyThreshold = 3;
    std::vector<std::pair<int, int>> expectedStatus{{200, 399}};  // inclusive ranges

    bool expects(int status) const noexcept;
};

// The threshold state machine of one endpoint: consecutive failed probes take a healthy endpoint
// down at `unhealthyThreshold`, consecutive passed probes bring a down one back at
// `healthyThreshold`; a probe with the other outcome restarts the count. Starts healthy.
// Not thread-safe: one prober owns it.
class HealthCounter {
public:
    enum class Transition { None, Down, Up };

    Transition record(bool passed, const HealthCheckPolicy& policy) noexcept;

    bool healthy() const noexcept { return _healthy; }
    int consecutive() const noexcept { return _consecutive; }  // probes counting towards a change

private:
    bool _healthy = true;
    int _consecutive = 0;
};

}  // namespace sluice::runtime::upstream
