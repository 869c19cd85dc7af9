#pragma once

// Base classes for the four component kinds. Every hook defaults to pass-through, so a component
// implements only what it needs. A component class also declares, as data:
//
//   static constexpr sluice::sdk::ComponentInfo kInfo{"name", "1.0.0", priority, flags, schema, "description"};
//
// and, for builders and formatters, `static constexpr const char* kMediaTypes[] = {"...", nullptr};`
// (Key Manager connectors may declare `kIssuers` the same way).
// Its constructor takes `const ComponentInit&` and may throw to refuse the configuration.

#include <cstddef>
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
    // The absolute directory of sluiced's main configuration file, against which a component
    // resolves relative paths in its configuration; empty when the configuration was not read
    // from a file. (ABI 1.1.)
    std::string_view configDir() const noexcept
    {
        if (_args.struct_size < offsetof(sluice_create_args, config_dir) + sizeof _args.config_dir ||
            _args.config_dir == nullptr) {
            return {};
        }
        return std::string_view{_args.config_dir};
    }

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

// What a builder is given to build.
struct BuildInput {
    sluice_message_kind message;   // which message of the exchange
    std::string_view mediaType;    // lower-case type/subtype without parameters
    std::string_view contentType;  // the whole Content-Type value, parameters included
    std::string_view bytes;        // the body
};

class MessageBuilder : public Component {
public:
    using Component::Component;
    // Build `bytes` of `mediaType` into a tree allocated with ctx.allocate(); return it or nullptr
    // (with a log line) when the bytes are not acceptable.
    virtual const sluice_value* build(MessageContext& ctx, std::string_view mediaType, std::string_view bytes) = 0;
    // What the host calls: override it to see the Content-Type's parameters (charset …).
    virtual const sluice_value* buildMessage(MessageContext& ctx, const BuildInput& input)
    {
        return build(ctx, input.mediaType, input.bytes);
    }
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
