#include "CorrelationId.h"

#include <array>
#include <cstdint>
#include <random>

#include "correlation_id_schema.h"

namespace sluice::plugins {

const sdk::ComponentInfo CorrelationId::kInfo{
    "correlation_id",                      // name
    "1.0.0",                               // version
    1000,                                  // priority: first, so every later step sees the ID
    0,                                     // flags: no body needed
    correlation_id_schema::kConfigSchema,  // config schema
    "Correlation ID header in and out",    // description
};

CorrelationId::CorrelationId(const sdk::ComponentInit& init)
    : Handler(init),
      _header(init.config()["header"].asString("X-Correlation-ID")),
      _property(init.config()["property"].asString("correlation_id")),
      _maxLength(static_cast<std::size_t>(init.config()["max_length"].asInt(128))),
      _trustIncoming(init.config()["trust_incoming"].asBool(true)),
      _echo(init.config()["echo_in_response"].asBool(true))
{
}

bool CorrelationId::wellFormed(std::string_view id, std::size_t maxLength) noexcept
{
    if (id.empty() || id.size() > maxLength) {
        return false;
    }
    for (char c : id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.' || c == ':';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::string CorrelationId::generate()
{
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::array<std::uint8_t, 16> b{};
    for (std::size_t i = 0; i < b.size(); i += 8) {
        std::uint64_t r = rng();
        for (std::size_t j = 0; j < 8; ++j) {
            b[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
        }
    }
    b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
    b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
    static constexpr char kHex[] = "0123456789abcdef";
    // Written into a buffer, then one string: this runs on every request.
    char text[36];
    std::size_t at = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            text[at++] = '-';
        }
        text[at++] = kHex[b[i] >> 4];
        text[at++] = kHex[b[i] & 0x0f];
    }
    return std::string(text, sizeof text);
}

sdk::Action CorrelationId::onRequest(sdk::MessageContext& ctx)
{
    std::string id;
    auto incoming = ctx.requestHeader(_header);
    if (_trustIncoming && incoming && wellFormed(*incoming, _maxLength)) {
        id = std::string(*incoming);
    } else {
        if (incoming && logger().enabled(SLUICE_LOG_DEBUG)) {
            logger().debug("replacing a malformed or untrusted incoming " + _header);
        }
        id = generate();
    }
    if (ctx.setHeader(sdk::Message::Request, _header, id) != SLUICE_OK || ctx.setProperty(_property, id) != SLUICE_OK) {
        logger().error("cannot set the correlation ID on the request");
        return sdk::Action::Error;
    }
    return sdk::Action::Continue;
}

sdk::Action CorrelationId::onResponse(sdk::MessageContext& ctx)
{
    if (!_echo) {
        return sdk::Action::Continue;
    }
    // A response the gateway answered itself before this handler ran has no property yet.
    auto id = ctx.property(_property);
    std::string value = id ? std::string(*id) : generate();
    if (ctx.setHeader(sdk::Message::Response, _header, value) != SLUICE_OK) {
        logger().warn("cannot set the correlation ID on the response");
    }
    return sdk::Action::Continue;
}

}  // namespace sluice::plugins
