#include "sluice/runtime/Logging.h"

#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "sluice/runtime/Json.h"

namespace sluice::runtime {

namespace {

// One JSON object per line: {"time":"…","level":"info","logger":"loader","message":"…"}.
class JsonLineFormatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override
    {
        auto time = std::chrono::system_clock::to_time_t(msg.time);
        auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() % 1000;
        std::tm tm{};
        gmtime_r(&time, &tm);
        char stamp[40];
        std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        std::string line = "{\"time\":\"";
        line += stamp;
        char ms[8];
        std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(millis));
        line += ms;
        line += "\",\"level\":";
        auto level = spdlog::level::to_string_view(msg.level);
        line += jsonQuote(std::string_view(level.data(), level.size()));
        line += ",\"logger\":";
        line += jsonQuote(std::string_view(msg.logger_name.data(), msg.logger_name.size()));
        line += ",\"message\":";
        line += jsonQuote(std::string_view(msg.payload.data(), msg.payload.size()));
        line += "}\n";
        dest.append(line.data(), line.data() + line.size());
    }
    std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonLineFormatter>(); }
};

void applyFormat(const LoggingConfig& config, spdlog::sink_ptr& sink)
{
    if (config.format == "json") {
        sink->set_formatter(std::make_unique<JsonLineFormatter>());
    } else {
        sink->set_formatter(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ %-5l [%n] %v",
                                                                        spdlog::pattern_time_type::utc));
    }
}

// Every logger writes to one distributing sink whose target is swapped under its own lock, so a
// reconfiguration (reload) never races with workers that are logging.
struct State {
    State()
    {
        spdlog::sink_ptr initial = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        applyFormat(config, initial);
        sink->set_sinks({initial});
    }
    std::mutex mutex;
    std::shared_ptr<spdlog::sinks::dist_sink_mt> sink = std::make_shared<spdlog::sinks::dist_sink_mt>();
    LoggingConfig config;
    std::map<std::string, std::shared_ptr<spdlog::logger>> loggers;
};

State& state()
{
    static State s;
    return s;
}

spdlog::level::level_enum levelFor(const LoggingConfig& config, const std::string& name)
{
    std::string best = config.level;
    std::size_t bestLength = 0;
    for (const auto& [prefix, level] : config.levels) {
        bool matches = name == prefix || (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
                                          name[prefix.size()] == '.');
        if (matches && prefix.size() >= bestLength) {
            best = level;
            bestLength = prefix.size();
        }
    }
    return spdlog::level::from_str(best);
}

}  // namespace

spdlog::sink_ptr Logging::openSink(const LoggingConfig& config, std::string& error)
{
    if (config.output != "file") {
        return std::make_shared<spdlog::sinks::stderr_sink_mt>();
    }
    if (config.file.empty()) {
        error = "output is \"file\" but no file is given";
        return nullptr;
    }
    // spdlog would create missing directories (as root, anywhere); the access log does not
    // either: a directory that is not there is a mistake to report.
    const std::filesystem::path parent = std::filesystem::path(config.file).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
        error = "cannot open log file " + config.file + ": directory " + parent.string() + " does not exist";
        return nullptr;
    }
    try {
        return std::make_shared<spdlog::sinks::basic_file_sink_mt>(config.file, false);
    } catch (const spdlog::spdlog_ex& e) {
        error = "cannot open log file " + config.file + ": " + e.what();
        return nullptr;
    }
}

void Logging::configure(const LoggingConfig& config, spdlog::sink_ptr sink)
{
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    applyFormat(config, sink);
    s.sink->set_sinks({sink});
    s.config = config;
    for (auto& [name, logger] : s.loggers) {
        logger->set_level(levelFor(config, name));
    }
}

bool Logging::isName(const std::string& name)
{
    for (const char* known : kNames) {
        if (name == known) {
            return true;
        }
    }
    return name == "plugin" || (name.rfind("plugin.", 0) == 0 && name.size() > 7);
}

std::string Logging::namesText()
{
    std::string text;
    for (const char* known : kNames) {
        text += std::string(known) + ", ";
    }
    return text + "plugin or plugin.<instance>";
}

std::shared_ptr<spdlog::logger> Logging::get(const std::string& name)
{
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.loggers.find(name);
    if (it != s.loggers.end()) {
        return it->second;
    }
    auto logger = std::make_shared<spdlog::logger>(name, s.sink);
    logger->set_level(levelFor(s.config, name));
    // Every line that passes the level goes out at once: a file sink would otherwise hold info
    // lines ("reload complete") in its buffer until a later line filled it.
    logger->flush_on(spdlog::level::trace);
    s.loggers.emplace(name, logger);
    return logger;
}

}  // namespace sluice::runtime
