#pragma once

#include <memory>
#include <string>
#include <vector>

#include <Poco/Dynamic/Var.h>

#include "sluice/runtime/Config.h"
#include "sluice/runtime/HostApi.h"
#include "sluice/runtime/PluginLoader.h"

namespace sluice::runtime {

// A configured, created instance of a component. Destroyed (through the plugin's destroy) when
// the last snapshot using it goes away.
class ComponentInstance {
public:
    ComponentInstance(const LoadedComponent& component, std::string name, void* instance,
                      std::unique_ptr<sluice_logger> logger);
    ~ComponentInstance();
    ComponentInstance(const ComponentInstance&) = delete;
    ComponentInstance& operator=(const ComponentInstance&) = delete;

    const LoadedComponent& component() const noexcept { return _component; }
    const std::string& name() const noexcept { return _name; }
    void* instance() const noexcept { return _instance; }
    const sluice_handler_vtable* handler() const noexcept;

    // Validates `ref.config` against the component's schema and creates the instance, telling it
    // `configDir` (the main configuration file's directory, for relative paths). Problems are
    // appended to `errors` (file and JSON pointer of the config block); nullptr on failure.
    static std::shared_ptr<ComponentInstance> create(const LoadedComponent& component, const HandlerRef& ref,
                                                     const std::string& configDir, std::vector<ConfigError>& errors);

private:
    const LoadedComponent& _component;
    std::string _name;
    void* _instance;
    std::unique_ptr<sluice_logger> _logger;
};

}  // namespace sluice::runtime
