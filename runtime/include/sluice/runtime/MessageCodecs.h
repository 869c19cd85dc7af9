#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sluice/abi.h"
#include "sluice/runtime/ComponentInstance.h"
#include "sluice/runtime/Exchange.h"

namespace sluice::runtime {

// The builders and formatters of a snapshot, by media type. A message is built the first time a
// handler asks for it (message_get) and written back by the formatter of its (possibly new)
// media type only when a handler replaced it (message_set).
class MessageCodecs {
public:
    // Creates one instance of every loaded builder and formatter, each with its entry of
    // `messages` (sluice.json's "messages" object: {name: {"config": {...}}}; {} when it has
    // none). An entry that names no loaded builder or formatter is an error at
    // /messages/<name>.
    static std::shared_ptr<MessageCodecs> create(const PluginRegistry& plugins, const std::string& file,
                                                 const std::string& configDir, std::vector<ConfigError>& errors,
                                                 const Poco::Dynamic::Var& messages = {});

    // "Application/JSON; charset=utf-8" -> "application/json".
    static std::string mediaTypeOf(std::string_view contentType);

    // Builds (once) the message of `which` from its buffered body.
    sluice_status build(Exchange& ex, sluice_message_kind which, const sluice_value** out) const;
    // Writes a replaced message back to body bytes and Content-Type. SLUICE_OK when nothing was
    // replaced.
    sluice_status format(Exchange& ex, sluice_message_kind which) const;

    std::size_t builderCount() const noexcept { return _builders.size(); }
    std::size_t formatterCount() const noexcept { return _formatters.size(); }

private:
    std::vector<std::shared_ptr<ComponentInstance>> _instances;
    std::unordered_map<std::string, const ComponentInstance*> _builders;
    std::unordered_map<std::string, const ComponentInstance*> _formatters;
};

}  // namespace sluice::runtime
