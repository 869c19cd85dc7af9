#pragma once

#include <cstddef>
#include <string_view>

#include <sluice/sdk.hpp>

#include "XmlTreeHandler.h"

namespace sluice::plugins {

// Builds XML bodies into the mapping's document form {root-name: content} (see
// docs/message-mapping.md) with Xerces-C's SAX2 parser, hardened for hostile input.
class XmlBuilder final : public sdk::MessageBuilder {
public:
    static const sdk::ComponentInfo kInfo;
    static constexpr const char* kMediaTypes[] = {
        "application/xml",         "text/xml",
        "application/problem+xml",  // RFC 9457 problem details
        "application/soap+xml",     // SOAP 1.2
        "application/atom+xml",    "application/rss+xml",
        "application/xhtml+xml",   nullptr,
    };

    explicit XmlBuilder(const sdk::ComponentInit& init);

    const sluice_value* build(sdk::MessageContext& ctx, std::string_view mediaType, std::string_view bytes) override;
    // Honours the Content-Type's charset parameter (RFC 7303 §3: below a byte order mark, above
    // the XML declaration).
    const sluice_value* buildMessage(sdk::MessageContext& ctx, const sdk::BuildInput& input) override;

private:
    std::size_t _maxBytes;
    XmlLimits _limits;
};

}  // namespace sluice::plugins
