#pragma once

// Base classes for the four component kinds. Every hook defaults to pass-through, so a component
// implements only what it needs. A component class also declares, as data:
//
//   static constexpr sluice::sdk::ComponentInfo kInfo{"name", "1.0.0", priority, flags, schema, "description"};
//
// and, for builders and formatters, `static constexpr const char* kMediaTypes[] = {"...", nullptr};`
// (Key Manager connectors may declare `kIssuers` the same way).
// Its constructor takes `const ComponentInit&` and may throw to refuse the configuration.

#include <cstdint>
#include <string>
#include <string_view>

#include "sluice/abi.h"
#include "sluice/sdk/Logger.hpp"
#include "sluice/sdk/MessageContext.hpp"
#include "sluice/sdk/Value.hpp"

namespace sluice::sdk {

struct ComponentInfo {
    const char* name;
    const char* version;
    std::int32_t priority;
    std::uint32_t flags;
    const char* configSchema;  // JSON Schema text or nullptr (takes no configuration)
    const char* description;
};

// What a component's constructor receives. Valid only during construction: copy what you keep.
class ComponentInit {
public:
    explicit ComponentInit(const sluice_create_args& args) noexcept : _args(args) {}

    ValueView config() const noexcept { return ValueView{_args.config}; }
    std::string_view instanceName() const noexcept
    {
        return _args.instance_name != nullptr ? std::string_view{_args.instance_name} : std::string_view{};
    }
    const sluice_host_api* host() const noexcept { return _args.host; }
    Logger logger() const noexcept { return Logger{_args.host, _args.logger}; }

private:
    const sluice_create_args& _args;
};

// Common state: the host table and the instance's logger.
class Component {
public:
    explicit Component(const ComponentInit& init) : _host(init.host()), _logger(init.logger()) {}
    virtual ~Component() = default;
    Component(const Component&) = delete;
    Component& operator=(const Component&) = delete;

    const Logger& logger() const noexcept { return _logger; }
    const sluice_host_api* host() const noexcept { return _host; }

private:
    const sluice_host_api* _host;
    Logger _logger;
};

class Handler : public Component {
public:
    using Component::Component;
    virtual Action onRequest(MessageContext&) { return Action::Continue; }
    virtual Action onResponse(MessageContext&) { return Action::Continue; }
    virtual void onLog(MessageContext&) {}
};

class MessageBuilder : public Component {
public:
    using Component::Component;
    // Build `bytes` of `mediaType` into a tree allocated with ctx.allocate(); return it or nullptr
    // (with a log line) when the bytes are not acceptable.
    virtual const sluice_value* build(MessageContext& ctx, std::string_view mediaType, std::string_view bytes) = 0;
};

class MessageFormatter : public Component {
public:
    using Component::Component;
    // Append the serialised form of `message` to `out`; return false on failure.
    virtual bool format(MessageContext& ctx, std::string_view mediaType, ValueView message, std::string& out) = 0;
};

class KeyManagerConnector : public Component {
public:
    using Component::Component;
    // Start validating `token`; call cb(user, ex, status, info) exactly once, later, on this worker.
    virtual sluice_status validate(MessageContext& ctx, std::string_view token, sluice_token_callback cb, void* user)
    {
        (void)ctx;
        (void)token;
        (void)cb;
        (void)user;
        return SLUICE_E_UNSUPPORTED;
    }
};

}  // namespace sluice::sdk
