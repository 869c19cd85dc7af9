#pragma once

// A component's logger: writes through the host table into the runtime's sinks.

#include <string>
#include <string_view>

#include "sluice/abi.h"
#include "sluice/sdk/Value.hpp"

namespace sluice::sdk {

class Logger {
public:
    Logger() noexcept = default;
    Logger(const sluice_host_api* host, const sluice_logger* logger) noexcept : _host(host), _logger(logger) {}

    bool enabled(sluice_log_level level) const noexcept
    {
        return _host != nullptr && _host->log_enabled(_logger, level) != 0;
    }
    void log(sluice_log_level level, std::string_view message) const noexcept
    {
        if (_host != nullptr) {
            _host->log(_logger, level, str(message));
        }
    }
    void trace(std::string_view m) const noexcept { log(SLUICE_LOG_TRACE, m); }
    void debug(std::string_view m) const noexcept { log(SLUICE_LOG_DEBUG, m); }
    void info(std::string_view m) const noexcept { log(SLUICE_LOG_INFO, m); }
    void warn(std::string_view m) const noexcept { log(SLUICE_LOG_WARN, m); }
    void error(std::string_view m) const noexcept { log(SLUICE_LOG_ERROR, m); }

private:
    const sluice_host_api* _host = nullptr;
    const sluice_logger* _logger = nullptr;
};

}  // namespace sluice::sdk
