#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <sluice/sdk.hpp>

namespace sluice::plugins {

// Gives every exchange a correlation ID: kept from the client when well-formed (and trusted),
// generated otherwise; passed to the backend, shared as a property and echoed to the client.
class CorrelationId final : public sdk::Handler {
public:
    static const sdk::ComponentInfo kInfo;

    explicit CorrelationId(const sdk::ComponentInit& init);

    sdk::Action onRequest(sdk::MessageContext& ctx) override;
    sdk::Action onResponse(sdk::MessageContext& ctx) override;

    // An incoming ID is accepted only when it is short and made of [A-Za-z0-9._:-], so that it
    // cannot inject anything into logs or downstream headers.
    static bool wellFormed(std::string_view id, std::size_t maxLength) noexcept;
    // A random RFC 4122 version-4 UUID.
    static std::string generate();

private:
    std::string _header;
    std::string _property;
    std::size_t _maxLength;
    bool _trustIncoming;
    bool _echo;
};

}  // namespace sluice::plugins
