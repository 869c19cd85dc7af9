#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "sluice/abi.h"
#include "sluice/runtime/SchemaValidator.h"

namespace sluice::runtime {

struct LoadedPlugin {
    std::string file;
    std::string name;
    std::string version;
    std::string description;
    std::uint32_t abiMajor = 0;
    std::uint32_t abiMinor = 0;
};

struct LoadedComponent {
    const sluice_component* descriptor = nullptr;
    sluice_component_kind kind = SLUICE_KIND_HANDLER;
    std::string name;
    std::string version;
    std::string description;
    std::int32_t priority = 0;
    std::uint32_t flags = 0;
    std::shared_ptr<const SchemaValidator> schema;  // null: takes no configuration
    const LoadedPlugin* plugin = nullptr;
};

// A plugin file that could not be used, and why. `components` names what it would have offered
// when the manifest could be read.
struct LoadProblem {
    std::string file;
    std::string message;
    std::vector<std::string> components;

    std::string str() const { return file + ": " + message; }
};

const char* kindName(sluice_component_kind kind) noexcept;

// Whether a builder table has a build_message slot (ABI 1.1) and sets it.
bool hasBuildMessage(const sluice_builder_vtable& table) noexcept;

// Everything loaded from the plugin directories. Plugins are never unloaded (no dlclose).
class PluginRegistry {
public:
    const LoadedComponent* find(const std::string& name) const;
    const std::map<std::string, LoadedComponent>& components() const { return _components; }
    const std::vector<std::unique_ptr<LoadedPlugin>>& plugins() const { return _plugins; }
    const std::vector<LoadProblem>& problems() const { return _problems; }
    // The problem of the file that would have provided `component`, if any.
    const LoadProblem* problemFor(const std::string& component) const;

private:
    friend class PluginLoader;
    std::vector<std::unique_ptr<LoadedPlugin>> _plugins;
    std::map<std::string, LoadedComponent> _components;
    std::vector<LoadProblem> _problems;
};

// Scans drop-in directories for *.so, checks ownership and permissions, dlopens each
// (RTLD_NOW | RTLD_LOCAL), calls its versioned entry and validates the manifest. Every failure is
// recorded as a LoadProblem with its own message naming the file; nothing half-loads.
class PluginLoader {
public:
    PluginLoader(const sluice_host_api* host, std::shared_ptr<spdlog::logger> log);

    // Loads every *.so in `dir` (sorted by name). A missing directory is a problem only when
    // `mustExist`.
    void loadDirectory(const std::string& dir, PluginRegistry& registry, bool mustExist);
    // Loads one file; false (with a problem recorded) when it was refused.
    bool loadFile(const std::string& file, PluginRegistry& registry);

private:
    bool refuse(PluginRegistry& registry, const std::string& file, std::string message,
                std::vector<std::string> components = {});

    const sluice_host_api* _host;
    std::shared_ptr<spdlog::logger> _log;
};

}  // namespace sluice::runtime
