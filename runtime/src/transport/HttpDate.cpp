#include "sluice/runtime/transport/HttpDate.h"

#include <cstdio>

namespace sluice::runtime::transport {

namespace {

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace

std::string formatHttpDate(std::time_t when)
{
    std::tm utc{};
    ::gmtime_r(&when, &utc);
    char text[64];
    std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[utc.tm_wday % 7], utc.tm_mday,
                  kMonths[utc.tm_mon % 12], utc.tm_year + 1900, utc.tm_hour, utc.tm_min, utc.tm_sec);
    return text;
}

std::string_view httpDateNow()
{
    thread_local std::time_t formattedFor = -1;
    thread_local std::string text;
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
    if (now.tv_sec != formattedFor) {
        text = formatHttpDate(now.tv_sec);
        formattedFor = now.tv_sec;
    }
    return text;
}

}  // namespace sluice::runtime::transport
