#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "sluice/runtime/Config.h"

namespace sluice::runtime {

// Process-wide logging: one sink (stderr or a file) shared by every named logger, text or JSON
// lines, and a level per logger name. A level configured for "plugin" applies to "plugin.x" too;
// the longest matching prefix wins.
class Logging {
public:
    // Applies `config` to the sink, format and every logger, existing and future.
    // Throws std::runtime_error when the log file cannot be opened.
    static void configure(const LoggingConfig& config);

    // The logger for a component name ("runtime", "loader", "config", "plugin.<instance>").
    static std::shared_ptr<spdlog::logger> get(const std::string& name);
};

}  // namespace sluice::runtime
