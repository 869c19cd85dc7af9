// Warnings about events that repeat for every connection or request: one message per period,
// with the number of events that went without one.
#include "sluice/runtime/transport/LogThrottle.h"

#include <doctest/doctest.h>

using sluice::runtime::transport::Clock;
using sluice::runtime::transport::LogThrottle;

TEST_CASE("LogThrottle: the first event is logged, the rest of the period counted, the next message says how many")
{
    LogThrottle throttle(std::chrono::seconds(10));
    const Clock::time_point start = Clock::now();
    std::size_t suppressed = 99;
    CHECK(throttle.due(start, suppressed));
    CHECK(suppressed == 0);
    for (int i = 1; i <= 5; ++i) {
        CHECK_FALSE(throttle.due(start + std::chrono::seconds(i), suppressed));
    }
    CHECK(throttle.due(start + std::chrono::seconds(10), suppressed));
    CHECK(suppressed == 5);
    CHECK_FALSE(throttle.due(start + std::chrono::seconds(19), suppressed));
    CHECK(throttle.due(start + std::chrono::seconds(25), suppressed));
    CHECK(suppressed == 1);
}

TEST_CASE("LogThrottle: sinceLastMessage counts the events of the period with the one being logged")
{
    CHECK(LogThrottle::sinceLastMessage(0, "such answers").empty());
    CHECK(LogThrottle::sinceLastMessage(1, "such answers") == "; 2 such answers since the last message");
    CHECK(LogThrottle::sinceLastMessage(41, "such failures") == "; 42 such failures since the last message");
}
