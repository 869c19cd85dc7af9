#include "sluice/runtime/upstream/HealthCheck.h"

namespace sluice::runtime::upstream {

bool HealthCheckPolicy::expects(int status) const noexcept
{
    for (const auto& [from, to] : expectedStatus) {
        if (status >= from && status <= to) {
            return true;
        }
    }
    return false;
}

HealthCounter::Transition HealthCounter::record(bool passed, const HealthCheckPolicy& policy) noexcept
{
    if (passed == _healthy) {
        _consecutive = 0;  // confirms the current state; a streak towards the other one is broken
        return Transition::None;
    }
    ++_consecutive;
    if (_consecutive < (_healthy ? policy.unhealthyThreshold : policy.healthyThreshold)) {
        return Transition::None;
    }
    _healthy = passed;
    _consecutive = 0;
    return passed ? Transition::Up : Transition::Down;
}

}  // namespace sluice::runtime::upstream
