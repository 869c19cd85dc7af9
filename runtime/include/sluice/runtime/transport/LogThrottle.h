#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "sluice/runtime/transport/EventLoop.h"

namespace sluice::runtime::transport {

// At most one message per `every` about an event that can repeat for every request or
// connection (a client opening connections in a loop must not be able to fill the log).
// THREADING: one thread (a worker's).
class LogThrottle {
public:
    explicit LogThrottle(Clock::duration every) noexcept : _every(every) {}

    // Counts one event; true when a message is due now. `suppressed` then says how many events
    // since the last message went without one.
    bool due(Clock::time_point now, std::size_t& suppressed) noexcept
    {
        ++_events;
        if (now < _next) {
            return false;
        }
        _next = now + _every;
        suppressed = _events - 1;
        _events = 0;
        return true;
    }

    // "; N <what> since the last message" for the message due now, N counting this event too, or
    // "" when no event went without a message.
    static std::string sinceLastMessage(std::size_t suppressed, std::string_view what)
    {
        if (suppressed == 0) {
            return {};
        }
        return "; " + std::to_string(suppressed + 1) + " " + std::string(what) + " since the last message";
    }

private:
    Clock::duration _every;
    Clock::time_point _next = Clock::time_point::min();
    std::size_t _events = 0;
};

}  // namespace sluice::runtime::transport
