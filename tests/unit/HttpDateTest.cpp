// formatHttpDate / httpDateNow: the Date field of every response (RFC 9110 §5.6.7, §6.6.1).

#include "sluice/runtime/transport/HttpDate.h"

#include <doctest/doctest.h>

#include <ctime>
#include <regex>
#include <string>

using sluice::runtime::transport::formatHttpDate;
using sluice::runtime::transport::httpDateNow;

TEST_CASE("http date: IMF-fixdate in English and GMT")
{
    CHECK(formatHttpDate(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's example
    CHECK(formatHttpDate(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(formatHttpDate(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
    CHECK(formatHttpDate(4102444799) == "Thu, 31 Dec 2099 23:59:59 GMT");
}

TEST_CASE("http date: now is this second, formatted")
{
    const std::time_t before = std::time(nullptr);
    const std::string now(httpDateNow());
    const std::time_t after = std::time(nullptr);
    CHECK(std::regex_match(now, std::regex(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)")));
    // The coarse clock may lag the fine one by a tick: one second either way.
    CHECK((now == formatHttpDate(before) || now == formatHttpDate(after) || now == formatHttpDate(before - 1)));
}
