#pragma once

// SLUICE_PLUGIN(name, version, description, Component...) emits, for the listed component
// classes, the constant manifest, the single exported entry symbol and noexcept trampolines that
// turn a thrown exception into an error status (create) or SLUICE_ACTION_ERROR (hooks).
//
//   SLUICE_PLUGIN("correlation_id", "1.0.0", "Correlation ID header in and out", CorrelationId)

#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>

#include "sluice/abi.h"
#include "sluice/sdk/Component.hpp"

namespace sluice::sdk::detail {

// The host table handed to the entry function. Each plugin .so has its own copy (hidden).
inline const sluice_host_api*& hostSlot() noexcept
{
    static const sluice_host_api* host = nullptr;
    return host;
}

inline void writeError(const sluice_create_args* args, const char* message) noexcept
{
    if (args->error == nullptr || args->error_capacity == 0) {
        return;
    }
    std::size_t n = std::strlen(message);
    if (n >= args->error_capacity) {
        n = args->error_capacity - 1;
    }
    std::memcpy(args->error, message, n);
    args->error[n] = '\0';
}

inline void logException(const Component* c, const char* hook, const char* what) noexcept
{
    try {
        c->logger().error(std::string("exception in ") + hook + ": " + what);
    } catch (...) {
        c->logger().error("exception in plugin hook");
    }
}

template <typename T>
struct Lifecycle {
    static sluice_status create(const sluice_create_args* args, void** out) noexcept
    {
        if (args == nullptr || out == nullptr) {
            return SLUICE_E_INVALID;
        }
        try {
            ComponentInit init(*args);
            *out = static_cast<Component*>(new T(init));
            return SLUICE_OK;
        } catch (const std::exception& e) {
            writeError(args, e.what());
        } catch (...) {
            writeError(args, "unknown exception");
        }
        return SLUICE_E_PLUGIN;
    }
    static void destroy(void* instance) noexcept { delete static_cast<Component*>(instance); }
};

inline MessageContext contextFor(Component* c, sluice_exchange* ex) noexcept
{
    return MessageContext{c->host(), ex, c->logger()};
}

template <typename T>
struct HandlerTraits {
    static sluice_action onRequest(void* instance, sluice_exchange* ex) noexcept
    {
        auto* h = static_cast<Handler*>(static_cast<Component*>(instance));
        try {
            MessageContext ctx = contextFor(h, ex);
            return static_cast<sluice_action>(h->onRequest(ctx));
        } catch (const std::exception& e) {
            logException(h, "on_request", e.what());
        } catch (...) {
            logException(h, "on_request", "unknown exception");
        }
        return SLUICE_ACTION_ERROR;
    }
    static sluice_action onResponse(void* instance, sluice_exchange* ex) noexcept
    {
        auto* h = static_cast<Handler*>(static_cast<Component*>(instance));
        try {
            MessageContext ctx = contextFor(h, ex);
            return static_cast<sluice_action>(h->onResponse(ctx));
        } catch (const std::exception& e) {
            logException(h, "on_response", e.what());
        } catch (...) {
            logException(h, "on_response", "unknown exception");
        }
        return SLUICE_ACTION_ERROR;
    }
    static void onLog(void* instance, sluice_exchange* ex) noexcept
    {
        auto* h = static_cast<Handler*>(static_cast<Component*>(instance));
        try {
            MessageContext ctx = contextFor(h, ex);
            h->onLog(ctx);
        } catch (const std::exception& e) {
            logException(h, "on_log", e.what());
        } catch (...) {
            logException(h, "on_log", "unknown exception");
        }
    }
    static constexpr sluice_component_kind kind = SLUICE_KIND_HANDLER;
    static const void* vtable() noexcept
    {
        static const sluice_handler_vtable table = {
            sizeof(sluice_handler_vtable),  // struct_size
            &onRequest,                     // on_request
            &onResponse,                    // on_response
            &onLog,                         // on_log
        };
        return &table;
    }
};

template <typename T>
struct BuilderTraits {
    static sluice_status build(void* instance, sluice_exchange* ex, sluice_str mediaType, sluice_str bytes,
                               const sluice_value** out) noexcept
    {
        // Only a host that does not know build_message calls this: it gives no parameters.
        return run(instance, ex, BuildInput{SLUICE_MSG_REQUEST, view(mediaType), view(mediaType), view(bytes)}, out);
    }
    static sluice_status buildMessage(void* instance, sluice_exchange* ex, const sluice_build_args* args,
                                      const sluice_value** out) noexcept
    {
        if (args == nullptr || args->struct_size < sizeof(sluice_build_args) ||
            (args->message != SLUICE_MSG_REQUEST && args->message != SLUICE_MSG_RESPONSE)) {
            return SLUICE_E_INVALID;
        }
        const auto message = static_cast<sluice_message_kind>(args->message);
        return run(instance, ex,
                   BuildInput{message, view(args->media_type), view(args->content_type), view(args->bytes)}, out);
    }
    static sluice_status run(void* instance, sluice_exchange* ex, const BuildInput& input,
                             const sluice_value** out) noexcept
    {
        auto* b = static_cast<MessageBuilder*>(static_cast<Component*>(instance));
        try {
            MessageContext ctx = contextFor(b, ex);
            *out = b->buildMessage(ctx, input);
            return *out != nullptr ? SLUICE_OK : SLUICE_E_INVALID;
        } catch (const std::exception& e) {
            logException(b, "build", e.what());
        } catch (...) {
            logException(b, "build", "unknown exception");
        }
        return SLUICE_E_PLUGIN;
    }
    static constexpr sluice_component_kind kind = SLUICE_KIND_BUILDER;
    static const void* vtable() noexcept
    {
        static const sluice_builder_vtable table = {
            sizeof(sluice_builder_vtable),  // struct_size
            T::kMediaTypes,                 // media_types
            &build,                         // build
            &buildMessage,                  // build_message (1.1)
        };
        return &table;
    }
};

template <typename T>
struct FormatterTraits {
    static sluice_status format(void* instance, sluice_exchange* ex, sluice_str mediaType, const sluice_value* message,
                                sluice_buffer* out) noexcept
    {
        auto* f = static_cast<MessageFormatter*>(static_cast<Component*>(instance));
        try {
            MessageContext ctx = contextFor(f, ex);
            std::string bytes;
            if (!f->format(ctx, view(mediaType), ValueView{message}, bytes)) {
                return SLUICE_E_INVALID;
            }
            return f->host()->buffer_append(out, str(bytes));
        } catch (const std::exception& e) {
            logException(f, "format", e.what());
        } catch (...) {
            logException(f, "format", "unknown exception");
        }
        return SLUICE_E_PLUGIN;
    }
    static constexpr sluice_component_kind kind = SLUICE_KIND_FORMATTER;
    static const void* vtable() noexcept
    {
        static const sluice_formatter_vtable table = {
            sizeof(sluice_formatter_vtable),  // struct_size
            T::kMediaTypes,                   // media_types
            &format,                          // format
        };
        return &table;
    }
};

template <typename T, typename = void>
struct IssuersOf {
    static const char* const* get() noexcept { return nullptr; }
};
template <typename T>
struct IssuersOf<T, std::void_t<decltype(T::kIssuers)>> {
    static const char* const* get() noexcept { return T::kIssuers; }
};

template <typename T>
struct KeyManagerTraits {
    static sluice_status validate(void* instance, sluice_exchange* ex, sluice_str token, sluice_token_callback cb,
                                  void* user) noexcept
    {
        auto* k = static_cast<KeyManagerConnector*>(static_cast<Component*>(instance));
        try {
            MessageContext ctx = contextFor(k, ex);
            return k->validate(ctx, view(token), cb, user);
        } catch (const std::exception& e) {
            logException(k, "validate", e.what());
        } catch (...) {
            logException(k, "validate", "unknown exception");
        }
        return SLUICE_E_PLUGIN;
    }
    static constexpr sluice_component_kind kind = SLUICE_KIND_KEY_MANAGER;
    static const void* vtable() noexcept
    {
        static const sluice_key_manager_vtable table = {
            sizeof(sluice_key_manager_vtable),  // struct_size
            IssuersOf<T>::get(),                // issuers
            &validate,                          // validate
        };
        return &table;
    }
};

template <typename T>
using TraitsFor = std::conditional_t<std::is_base_of_v<Handler, T>, HandlerTraits<T>,
                                     std::conditional_t<std::is_base_of_v<MessageBuilder, T>, BuilderTraits<T>,
                                                        std::conditional_t<std::is_base_of_v<MessageFormatter, T>,
                                                                           FormatterTraits<T>, KeyManagerTraits<T>>>>;

template <typename T>
const sluice_component* componentOf() noexcept
{
    static_assert(std::is_base_of_v<Component, T>,
                  "a Sluice component derives from Handler, MessageBuilder, "
                  "MessageFormatter or KeyManagerConnector");
    static_assert(std::is_constructible_v<T, const ComponentInit&>, "a component is constructed from ComponentInit");
    static const sluice_component component = {
        sizeof(sluice_component),  // struct_size
        TraitsFor<T>::kind,        // kind
        T::kInfo.name,             // name
        T::kInfo.version,          // version
        T::kInfo.priority,         // priority
        T::kInfo.flags,            // flags
        T::kInfo.configSchema,     // config_schema
        T::kInfo.description,      // description
        &Lifecycle<T>::create,     // create
        &Lifecycle<T>::destroy,    // destroy
        TraitsFor<T>::vtable(),    // vtable
    };
    return &component;
}

template <typename... Ts>
const sluice_plugin_manifest* manifest(const sluice_host_api* host, const char* name, const char* version,
                                       const char* description) noexcept
{
    if (host == nullptr || host->abi_major != SLUICE_ABI_MAJOR) {
        return nullptr;
    }
    hostSlot() = host;
    static const sluice_component* const components[] = {componentOf<Ts>()...};
    static const sluice_plugin_manifest m = {
        sizeof(sluice_plugin_manifest),  // struct_size
        SLUICE_ABI_MAJOR,                // abi_major
        SLUICE_ABI_MINOR,                // abi_minor
        name,                            // name
        version,                         // version
        description,                     // description
        sizeof...(Ts),                   // component_count
        components,                      // components
    };
    return &m;
}

}  // namespace sluice::sdk::detail

#define SLUICE_PLUGIN(NAME, VERSION, DESCRIPTION, ...)                                                        \
    extern "C" SLUICE_EXPORT const sluice_plugin_manifest* SLUICE_ENTRY_FUNCTION(const sluice_host_api* host) \
    {                                                                                                         \
        return ::sluice::sdk::detail::manifest<__VA_ARGS__>(host, NAME, VERSION, DESCRIPTION);                \
    }
