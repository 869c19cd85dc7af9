#pragma once

#include <memory>
#include <string>

#include <spdlog/common.h>
#include <spdlog/logger.h>

#include "sluice/runtime/Config.h"

namespace sluice::runtime {

// Process-wide logging: one sink (stderr or a file) shared by every named logger, text or JSON
// lines, and a level per logger name. A level configured for "plugin" applies to "plugin.x" too;
// the longest matching prefix wins.
class Logging {
public:
    // The sink `config` asks for: stderr, or its file opened for appending (created if need be).
    // Null, with `error` naming the file and the reason, when the file cannot be opened - found
    // while a configuration loads, so that a reload with a bad log file is refused, not fatal.
    static spdlog::sink_ptr openSink(const LoggingConfig& config, std::string& error);
    // Applies `config` with `sink` (from openSink) to every logger, existing and future.
    static void configure(const LoggingConfig& config, spdlog::sink_ptr sink);

    // The logger for a component name: one of kNames, or "plugin.<instance>".
    static std::shared_ptr<spdlog::logger> get(const std::string& name);

    // The gateway's own loggers, which logging.levels may name (with "plugin" and "plugin.<instance>").
    static constexpr const char* kNames[] = {"runtime",  "loader", "pipeline", "transport",
                                             "upstream", "tls",    "admin",    "analytics"};
    static bool isName(const std::string& name);
    // "runtime, loader, ..., plugin or plugin.<instance>", for messages.
    static std::string namesText();
};

}  // namespace sluice::runtime
