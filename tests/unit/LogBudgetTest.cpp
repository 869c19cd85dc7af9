// A plugin's warnings and errors: a budget per window, the rest counted and reported once.
#include "sluice/runtime/HostApi.h"
#include "sluice/runtime/LogBudget.h"

#include <sstream>
#include <string>

#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>

using sluice::runtime::LogBudget;

namespace {

std::size_t countOf(const std::string& text, const std::string& part)
{
    std::size_t n = 0;
    for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) {
        ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("LogBudget: lines within the window's budget are written, the rest counted and reported by the next window")
{
    LogBudget budget(3, std::chrono::milliseconds(1000));
    std::uint64_t dropped = 99;
    CHECK(budget.take(5000, dropped) == LogBudget::Verdict::Write);
    CHECK(dropped == 0);
    CHECK(budget.take(5001, dropped) == LogBudget::Verdict::Write);
    CHECK(budget.take(5002, dropped) == LogBudget::Verdict::WriteLast);
    for (int i = 0; i < 4; ++i) {
        CHECK(budget.take(5500 + i, dropped) == LogBudget::Verdict::Drop);
        CHECK(dropped == 0);
    }
    CHECK(budget.take(5999, dropped) == LogBudget::Verdict::Drop);  // the window is not over yet
    CHECK(budget.take(6000, dropped) == LogBudget::Verdict::Write);
    CHECK(dropped == 5);  // once
    CHECK(budget.take(6001, dropped) == LogBudget::Verdict::Write);
    CHECK(dropped == 0);
    CHECK(budget.take(9000, dropped) == LogBudget::Verdict::Write);  // a quiet window reports nothing
    CHECK(dropped == 0);
}

TEST_CASE("HostApi: a plugin's warnings and errors are bounded per second, its lower levels are not")
{
    std::ostringstream lines;
    auto spd =
        std::make_shared<spdlog::logger>("plugin.flood", std::make_shared<spdlog::sinks::ostream_sink_mt>(lines));
    spd->set_level(spdlog::level::trace);
    spd->set_pattern("%l %v");
    sluice_logger logger;
    logger.logger = spd;
    const sluice_host_api& host = *sluice::runtime::hostApi();
    const std::string text = "script failed";
    const std::uint32_t budget = sluice::runtime::kPluginProblemLinesPerSecond;
    for (std::uint32_t i = 0; i < budget + 50; ++i) {
        host.log(&logger, i % 2 == 0 ? SLUICE_LOG_ERROR : SLUICE_LOG_WARN, sluice_str{text.data(), text.size()});
        host.log(&logger, SLUICE_LOG_INFO, sluice_str{"note", 4});
    }
    spd->flush();
    const std::string out = lines.str();
    // Unless this test stalled for a second (a new window), exactly `budget` problem lines went out.
    CHECK(countOf(out, "script failed") >= budget);
    CHECK(countOf(out, "script failed") < budget + 50);
    CHECK(countOf(out, "the rest of this second's are dropped and counted") >= 1);
    CHECK(countOf(out, "info note") == budget + 50);
}
