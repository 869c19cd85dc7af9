#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "sluice/abi.h"
#include "sluice/runtime/LogBudget.h"

// The runtime's definitions of the handles that abi.h leaves opaque.
struct sluice_logger {
    std::shared_ptr<spdlog::logger> logger;
    // The instance's warnings and errors: at most kPluginProblemLinesPerSecond a second (the
    // plugin holds a const handle; the budget is the host's bookkeeping).
    mutable sluice::runtime::LogBudget problems{sluice::runtime::kPluginProblemLinesPerSecond, std::chrono::seconds(1)};
};

struct sluice_buffer {
    std::string bytes;
    std::size_t limit = 64u << 20;
};

namespace sluice::runtime {

// The host function table handed to every plugin: one static instance for the process.
const sluice_host_api* hostApi() noexcept;

// A logger handle for a component instance, writing under "plugin.<name>".
std::unique_ptr<sluice_logger> makePluginLogger(const std::string& instanceName);

// The gateway's standard JSON error body.
std::string errorBody(std::int64_t code, std::string_view message, std::string_view description);

}  // namespace sluice::runtime
