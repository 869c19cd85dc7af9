#include "LuaScript.h"

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sluice::plugins {

namespace {

constexpr std::int64_t kMinInstructions = 1000;
constexpr std::int64_t kMinMemory = 256 * 1024;
constexpr std::int64_t kMaxMemory = std::int64_t{1} << 30;
constexpr std::int64_t kMinTimeMs = 1;
constexpr std::int64_t kMaxTimeMs = 60000;

std::string readScript(const std::filesystem::path& path)
{
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        throw std::runtime_error("cannot read Lua script '" + path.string() + "': it is a directory");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read Lua script '" + path.string() + "': " + std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        throw std::runtime_error("cannot read Lua script '" + path.string() + "': read error");
    }
    std::string bytes = std::move(text).str();
    if (bytes.size() > LuaScript::kMaxScriptBytes) {
        throw std::runtime_error("Lua script '" + path.string() + "' is larger than 4 MiB");
    }
    return bytes;
}

std::int64_t integerOption(sdk::ValueView config, const char* name, std::int64_t fallback, std::int64_t min,
                           std::int64_t max)
{
    sdk::ValueView v = config[name];
    if (v.isMissing()) {
        return fallback;
    }
    std::int64_t value = v.asInt(min - 1);
    if (!v.isNumber() || static_cast<double>(value) != v.asNumber() || value < min || value > max) {
        throw std::invalid_argument(std::string("\"") + name + "\" must be an integer from " + std::to_string(min) +
                                    " to " + std::to_string(max));
    }
    return value;
}

}  // namespace

LuaScript LuaScript::fromConfig(sdk::ValueView config, std::string_view configDir)
{
    LuaScript script;
    sdk::ValueView file = config["file"];
    sdk::ValueView source = config["source"];
    if (file.isMissing() == source.isMissing()) {
        throw std::invalid_argument("give exactly one of \"file\" (a script path) or \"source\" (the script text)");
    }
    if (!file.isMissing()) {
        if (!file.isString() || file.asString().empty()) {
            throw std::invalid_argument("\"file\" must be a non-empty path");
        }
        std::error_code ec;
        std::filesystem::path path(std::string(file.asString()));
        if (path.is_relative() && !configDir.empty()) {
            path = std::filesystem::path(std::string(configDir)) / path;
        }
        path = std::filesystem::absolute(path, ec);
        if (ec) {
            throw std::runtime_error("cannot resolve Lua script path '" + std::string(file.asString()) +
                                     "': " + ec.message());
        }
        path = path.lexically_normal();
        script.source = readScript(path);
        script.displayName = path.string();
        script.chunkName = "@" + script.displayName;
    } else {
        if (!source.isString() || source.asString().empty()) {
            throw std::invalid_argument("\"source\" must be a non-empty string");
        }
        if (source.asString().size() > kMaxScriptBytes) {
            throw std::invalid_argument("\"source\" is larger than 4 MiB");
        }
        script.source = std::string(source.asString());
        script.displayName = "inline source";
        script.inlineSource = true;
        script.chunkName = "=(inline source)";
    }
    script.maxInstructions =
        static_cast<int>(integerOption(config, "max_instructions", script.maxInstructions, kMinInstructions, INT_MAX));
    script.maxMemoryBytes = static_cast<std::size_t>(integerOption(
        config, "max_memory_bytes", static_cast<std::int64_t>(script.maxMemoryBytes), kMinMemory, kMaxMemory));
    script.maxTimeMs = static_cast<int>(integerOption(config, "max_time_ms", script.maxTimeMs, kMinTimeMs, kMaxTimeMs));
    return script;
}

}  // namespace sluice::plugins
