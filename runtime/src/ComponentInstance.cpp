#include "sluice/runtime/ComponentInstance.h"

#include <Poco/JSON/Object.h>

#include "sluice/runtime/Json.h"

namespace sluice::runtime {

ComponentInstance::ComponentInstance(const LoadedComponent& component, std::string name, void* instance,
                                     std::unique_ptr<sluice_logger> logger)
    : _component(component), _name(std::move(name)), _instance(instance), _logger(std::move(logger))
{
}

ComponentInstance::~ComponentInstance() { _component.descriptor->destroy(_instance); }

const sluice_handler_vtable* ComponentInstance::handler() const noexcept
{
    return _component.kind == SLUICE_KIND_HANDLER
               ? static_cast<const sluice_handler_vtable*>(_component.descriptor->vtable)
               : nullptr;
}

std::shared_ptr<ComponentInstance> ComponentInstance::create(const LoadedComponent& component, const HandlerRef& ref,
                                                             const std::string& configDir,
                                                             std::vector<ConfigError>& errors)
{
    const std::string configPointer = ref.pointer + "/config";
    const std::string origin = " (schema of component '" + component.name + "' from " + component.plugin->file + ")";
    if (component.schema) {
        auto issues = component.schema->validate(ref.config);
        for (const auto& issue : issues) {
            errors.push_back(
                {ref.file, configPointer + (issue.pointer == "/" ? "" : issue.pointer), issue.rule + origin});
        }
        if (!issues.empty()) {
            return nullptr;
        }
    } else if (ref.config.type() == typeid(Poco::JSON::Object::Ptr) &&
               ref.config.extract<Poco::JSON::Object::Ptr>()->size() != 0) {
        errors.push_back({ref.file, configPointer, "component '" + component.name + "' takes no configuration"});
        return nullptr;
    }

    Arena arena;
    const sluice_value* config = toSluiceValue(ref.config, arena);
    if (config == nullptr) {
        errors.push_back({ref.file, configPointer, "configuration is too large or too deeply nested"});
        return nullptr;
    }
    auto logger = makePluginLogger(ref.name);
    char error[512] = {};
    sluice_create_args args{};
    args.struct_size = sizeof args;
    args.host = hostApi();
    args.logger = logger.get();
    args.instance_name = ref.name.c_str();
    args.config = config;
    args.error = error;
    args.error_capacity = sizeof error;
    args.config_dir = configDir.c_str();
    void* instance = nullptr;
    sluice_status status = component.descriptor->create(&args, &instance);
    if (status != SLUICE_OK || instance == nullptr) {
        error[sizeof error - 1] = '\0';
        std::string reason =
            error[0] != '\0' ? std::string(error) : "no reason given (status " + std::to_string(status) + ")";
        errors.push_back(
            {ref.file, ref.pointer,
             "create failed for component '" + component.name + "' from " + component.plugin->file + ": " + reason});
        return nullptr;
    }
    return std::make_shared<ComponentInstance>(component, ref.name, instance, std::move(logger));
}

}  // namespace sluice::runtime
