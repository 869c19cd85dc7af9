#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <sluice/sdk.hpp>

namespace sluice::plugins {

// Converts a message between JSON and XML with the one documented mapping
// (docs/message-mapping.md): it reads the message the host built with the builder for the
// message's Content-Type and hands the converted tree back with message_set(), so that the
// formatter for the new media type writes the body.
//
// Two components, because body buffering is declared per component: json_xml_request (needs the
// request body) and json_xml_response (needs the response body). Configuration:
//   {"to": "xml" | "json", "root": "<element name>" (default "root"),
//    "direction": "request" | "response" (optional; must match the component)}
//
// to=xml converts a JSON-typed message (application/json, +json) into <root>...</root>; to=json
// converts an XML-typed message (application/xml, text/xml, +xml) and unwraps the root element
// when its name is `root`. A message of any other type, or with an empty body, passes unchanged.
//
// A structured-syntax type no builder registers (application/vnd.x+json) is built by the builder
// of its base type (application/json, application/xml). A content-coded body (Content-Encoding
// other than identity) is never parsed; json_xml_response asks the backend for an identity
// response (Accept-Encoding: identity) so that it can convert it. "max_xml_bytes" (default
// 32 MiB) bounds the XML a JSON message may become, and so does "max_expansion" (default 32)
// times the JSON's size, for documents beyond 1 MiB.
//
// Errors (JSON, from respond_error):
//   request:  400, 900950 body not well-formed / over the builder's limits;
//             400, 900951 body well-formed but without a form in the target (e.g. a key that is
//             not an XML name, or XML larger than max_xml_bytes)
//             415, 900952 body content-coded (Content-Encoding: gzip ...)
//   response: 502, 101510 and 101511, the same for the backend's response (101510 also for a
//             content-coded one).
class JsonXml : public sdk::Handler {
public:
    enum class Target { Json, Xml };

    static constexpr std::int64_t kMalformedRequest = 900950;
    static constexpr std::int64_t kUnconvertibleRequest = 900951;
    static constexpr std::int64_t kEncodedRequest = 900952;
    static constexpr std::int64_t kMalformedResponse = 101510;
    static constexpr std::int64_t kUnconvertibleResponse = 101511;

protected:
    JsonXml(const sdk::ComponentInit& init, sdk::Message direction);

    sdk::Action convert(sdk::MessageContext& ctx) const;

private:
    const sluice_value* toXml(sdk::MessageContext& ctx, const sluice_value* json, std::string& error) const;
    const sluice_value* toJson(const sluice_value* xml) const;
    sdk::Action refuse(sdk::MessageContext& ctx, bool malformed, std::string_view description) const;
    sdk::Action refuseEncoded(sdk::MessageContext& ctx) const;
    // Labels the message as the target type and drops the fields of the bytes it replaces.
    sdk::Action relabel(sdk::MessageContext& ctx, bool dropLength) const;
    sluice_status built(sdk::MessageContext& ctx, std::string_view essence, const sluice_value*& message) const;

    sdk::Message _direction;
    Target _to;
    std::string _root;
    static constexpr std::size_t kDefaultExpansion = 32;
    static constexpr std::size_t kExpansionFloor = 1u << 20;  // a document this small is always allowed
    std::size_t _maxXmlBytes;
    std::size_t _maxExpansion;
};

class JsonXmlRequest final : public JsonXml {
public:
    static const sdk::ComponentInfo kInfo;
    explicit JsonXmlRequest(const sdk::ComponentInit& init) : JsonXml(init, sdk::Message::Request) {}
    sdk::Action onRequest(sdk::MessageContext& ctx) override { return convert(ctx); }
};

class JsonXmlResponse final : public JsonXml {
public:
    static const sdk::ComponentInfo kInfo;
    explicit JsonXmlResponse(const sdk::ComponentInit& init) : JsonXml(init, sdk::Message::Response) {}
    // A compressed response could not be converted: ask the backend for an identity one.
    sdk::Action onRequest(sdk::MessageContext& ctx) override;
    sdk::Action onResponse(sdk::MessageContext& ctx) override { return convert(ctx); }
};

}  // namespace sluice::plugins
