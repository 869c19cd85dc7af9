#pragma once

#include <string>
#include <string_view>

#include <sluice/sdk.hpp>

#include "codec/XmlWriter.h"

namespace sluice::plugins {

// Writes messages in the mapping's XML document form {root-name: content} (see
// docs/message-mapping.md) as XML 1.0 in UTF-8, for the media types the XML builder reads.
class XmlFormatter final : public sdk::MessageFormatter {
public:
    static const sdk::ComponentInfo kInfo;
    static constexpr const char* kMediaTypes[] = {
        "application/xml",         "text/xml",
        "application/problem+xml", "application/soap+xml",
        "application/atom+xml",    "application/rss+xml",
        "application/xhtml+xml",   nullptr,
    };

    explicit XmlFormatter(const sdk::ComponentInit& init);

    bool format(sdk::MessageContext& ctx, std::string_view mediaType, sdk::ValueView message,
                std::string& out) override;

private:
    codec::XmlWriteOptions _options;
};

}  // namespace sluice::plugins
