#include "sluice/runtime/MessageCodecs.h"

#include <Poco/JSON/Object.h>

#include "sluice/runtime/HostApi.h"
#include "sluice/runtime/Logging.h"

namespace sluice::runtime {

std::shared_ptr<MessageCodecs> MessageCodecs::create(const PluginRegistry& plugins, const std::string& file,
                                                     const std::string& configDir, std::vector<ConfigError>& errors,
                                                     const Poco::Dynamic::Var& messages)
{
    Poco::JSON::Object::Ptr given;
    if (!messages.isEmpty()) {
        given = messages.extract<Poco::JSON::Object::Ptr>();  // the schema made it an object
        for (const auto& [name, entry] : *given) {
            const auto* component = plugins.find(name);
            if (component == nullptr) {
                errors.push_back({file, "/messages/" + name, "no loaded builder or formatter is named '" + name + "'"});
            } else if (component->kind != SLUICE_KIND_BUILDER && component->kind != SLUICE_KIND_FORMATTER) {
                errors.push_back(
                    {file, "/messages/" + name,
                     "component '" + name + "' is a " + kindName(component->kind) + ", not a builder or formatter"});
            }
        }
    }
    auto codecs = std::make_shared<MessageCodecs>();
    for (const auto& [name, component] : plugins.components()) {
        if (component.kind != SLUICE_KIND_BUILDER && component.kind != SLUICE_KIND_FORMATTER) {
            continue;
        }
        HandlerRef ref;
        ref.component = name;
        ref.name = name;
        ref.config = given && given->has(name)
                         ? given->getObject(name)->get("config")
                         : Poco::Dynamic::Var(Poco::JSON::Object::Ptr(new Poco::JSON::Object(true)));
        ref.file = file;
        ref.pointer = "/messages/" + name;
        auto instance = ComponentInstance::create(component, ref, configDir, errors);
        if (!instance) {
            continue;
        }
        // media_types is the second member of both tables.
        const auto* table = static_cast<const sluice_builder_vtable*>(component.descriptor->vtable);
        auto& map = component.kind == SLUICE_KIND_BUILDER ? codecs->_builders : codecs->_formatters;
        for (const char* const* type = table->media_types; *type != nullptr; ++type) {
            auto [it, inserted] = map.emplace(mediaTypeOf(*type), instance.get());
            if (!inserted) {
                Logging::get("loader")->warn("{} '{}' and '{}' both handle {}; using '{}'", kindName(component.kind),
                                             it->second->name(), name, *type, it->second->name());
            }
        }
        codecs->_instances.push_back(std::move(instance));
    }
    return codecs;
}

std::string MessageCodecs::mediaTypeOf(std::string_view contentType)
{
    std::size_t end = contentType.find(';');
    std::string_view type = contentType.substr(0, end);
    while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) {
        type.remove_prefix(1);
    }
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) {
        type.remove_suffix(1);
    }
    std::string out(type);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c + ('a' - 'A'));
        }
    }
    return out;
}

sluice_status MessageCodecs::build(Exchange& ex, sluice_message_kind which, const sluice_value** out) const
{
    BuiltMessage& message = which == SLUICE_MSG_REQUEST ? ex.requestMessage : ex.responseMessage;
    if (message.value != nullptr) {
        *out = message.value;
        return SLUICE_OK;
    }
    const std::optional<std::string>& body = which == SLUICE_MSG_REQUEST ? ex.requestBody : ex.responseBody;
    if (!body) {
        return SLUICE_E_UNSUPPORTED;  // the body streams through: no handler declared it needs it
    }
    const HeaderList& headers = which == SLUICE_MSG_REQUEST ? ex.requestHeaders : ex.responseHeaders;
    if (headers.get("Content-Type", 1)) {
        return SLUICE_E_INVALID;  // two media types: a recipient that took the other would read another message
    }
    const std::string_view contentType = headers.get("Content-Type").value_or("");
    std::string type = mediaTypeOf(contentType);
    auto it = _builders.find(type);
    if (it == _builders.end()) {
        return SLUICE_E_NOT_FOUND;
    }
    const ComponentInstance& builder = *it->second;
    const auto* table = static_cast<const sluice_builder_vtable*>(builder.component().descriptor->vtable);
    const sluice_value* value = nullptr;
    sluice_status st;
    if (hasBuildMessage(*table)) {
        sluice_build_args args{};
        args.struct_size = sizeof args;
        args.message = which;
        args.media_type = sluice_str{type.data(), type.size()};
        args.content_type = sluice_str{contentType.data(), contentType.size()};
        args.bytes = sluice_str{body->data(), body->size()};
        st = table->build_message(builder.instance(), ex.handle(), &args, &value);
    } else {
        st = table->build(builder.instance(), ex.handle(), sluice_str{type.data(), type.size()},
                          sluice_str{body->data(), body->size()}, &value);
    }
    if (st != SLUICE_OK || value == nullptr) {
        return st == SLUICE_OK ? SLUICE_E_INVALID : st;
    }
    message.value = value;
    message.mediaType = std::move(type);
    *out = value;
    return SLUICE_OK;
}

sluice_status MessageCodecs::format(Exchange& ex, sluice_message_kind which) const
{
    BuiltMessage& message = which == SLUICE_MSG_REQUEST ? ex.requestMessage : ex.responseMessage;
    if (!message.dirty) {
        return SLUICE_OK;
    }
    auto it = _formatters.find(message.mediaType);
    if (it == _formatters.end()) {
        return SLUICE_E_NOT_FOUND;
    }
    const ComponentInstance& formatter = *it->second;
    const auto* table = static_cast<const sluice_formatter_vtable*>(formatter.component().descriptor->vtable);
    sluice_buffer buffer;
    sluice_status st =
        table->format(formatter.instance(), ex.handle(), sluice_str{message.mediaType.data(), message.mediaType.size()},
                      message.value, &buffer);
    if (st != SLUICE_OK) {
        return st;
    }
    if (buffer.bytes.size() > ex.maxBodyBytes) {
        return SLUICE_E_TOO_LARGE;  // bounded as bodies received and set are (http.max_body_bytes)
    }
    (which == SLUICE_MSG_REQUEST ? ex.requestBody : ex.responseBody) = std::move(buffer.bytes);
    // Formatters write UTF-8; a text type says so (its default charset is not UTF-8 everywhere).
    const bool text = message.mediaType.rfind("text/", 0) == 0;
    (which == SLUICE_MSG_REQUEST ? ex.requestHeaders : ex.responseHeaders)
        .set("Content-Type", text ? message.mediaType + "; charset=utf-8" : message.mediaType);
    message.dirty = false;
    return SLUICE_OK;
}

}  // namespace sluice::runtime
