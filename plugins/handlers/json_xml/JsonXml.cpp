#include "JsonXml.h"

#include <stdexcept>

#include "codec/ArenaTree.h"
#include "codec/MediaType.h"
#include "codec/XmlMapping.h"
#include "codec/XmlNames.h"
#include "codec/XmlWriter.h"
#include "json_xml_schema.h"

namespace sluice::plugins {

namespace {

constexpr std::string_view kJsonType = "application/json";
constexpr std::string_view kXmlType = "application/xml";
constexpr int kPriority = 100;  // mediation: after authentication, throttling and validation

const char* directionName(sdk::Message m) noexcept { return m == sdk::Message::Request ? "request" : "response"; }

}  // namespace

const sdk::ComponentInfo JsonXmlRequest::kInfo{
    "json_xml_request",                                // name
    "1.0.0",                                           // version
    kPriority,                                         // priority
    SLUICE_COMPONENT_NEEDS_REQUEST_BODY,               // flags
    json_xml_schema::kConfigSchema,                    // config schema
    "Converts the request body between JSON and XML",  // description
};

const sdk::ComponentInfo JsonXmlResponse::kInfo{
    "json_xml_response",                                // name
    "1.0.0",                                            // version
    kPriority,                                          // priority
    SLUICE_COMPONENT_NEEDS_RESPONSE_BODY,               // flags
    json_xml_schema::kConfigSchema,                     // config schema
    "Converts the response body between JSON and XML",  // description
};

JsonXml::JsonXml(const sdk::ComponentInit& init, sdk::Message direction) : Handler(init), _direction(direction)
{
    sdk::ValueView config = init.config();
    std::string_view to = config["to"].asString();
    if (to != "xml" && to != "json") {
        throw std::invalid_argument("\"to\" must be \"xml\" or \"json\"");
    }
    _to = to == "xml" ? Target::Xml : Target::Json;
    _root = std::string(config["root"].asString("root"));
    if (!codec::isNCName(_root)) {
        throw std::invalid_argument("\"root\" must be an XML name without a prefix");
    }
    sdk::ValueView d = config["direction"];
    if (!d.isMissing() && d.asString() != directionName(direction)) {
        throw std::invalid_argument(std::string("this component converts the ") + directionName(direction) +
                                    "; use json_xml_" + std::string(d.asString("request")) + " for the other");
    }
}

sdk::Action JsonXml::refuse(sdk::MessageContext& ctx, bool malformed, std::string_view description) const
{
    const bool request = _direction == sdk::Message::Request;
    const std::int64_t code = request ? (malformed ? kMalformedRequest : kUnconvertibleRequest)
                                      : (malformed ? kMalformedResponse : kUnconvertibleResponse);
    const char* message =
        request ? (malformed ? "Malformed request payload" : "Request payload not convertible")
                : (malformed ? "Malformed backend response payload" : "Backend response payload not convertible");
    if (ctx.respondError(request ? 400 : 502, code, message, description) != SLUICE_OK) {
        logger().error("cannot prepare the error response");
        return sdk::Action::Error;
    }
    return sdk::Action::Respond;
}

sdk::Action JsonXml::convert(sdk::MessageContext& ctx) const
{
    const std::string essence = codec::mediaTypeEssence(ctx.header(_direction, "Content-Type").value_or(""));
    const bool convertible = _to == Target::Xml ? codec::isJsonMediaType(essence) : codec::isXmlMediaType(essence);
    if (!convertible) {
        return sdk::Action::Continue;  // already the target type, or a type this does not convert
    }
    auto body = ctx.body(_direction);
    if (body && body->empty()) {
        return sdk::Action::Continue;
    }
    const sluice_value* message = nullptr;
    const sluice_status status =
        ctx.host()->message_get(ctx.exchange(), static_cast<sluice_message_kind>(_direction), &message);
    if (status == SLUICE_E_INVALID || status == SLUICE_E_TOO_LARGE) {
        return refuse(ctx, true,
                      std::string("The ") + directionName(_direction) + " body is not well-formed " +
                          (_to == Target::Xml ? "JSON" : "XML") + " or exceeds the gateway's limits");
    }
    if (status != SLUICE_OK || message == nullptr) {
        logger().error("no built " + std::string(directionName(_direction)) + " message for " + essence + " (status " +
                       std::to_string(status) + "): is its builder loaded?");
        return sdk::Action::Error;
    }
    std::string error;
    const sluice_value* converted = _to == Target::Xml ? toXml(ctx, message, error) : toJson(message);
    if (converted == nullptr) {
        return refuse(ctx, false, error);
    }
    const std::string_view target = _to == Target::Xml ? kXmlType : kJsonType;
    if (ctx.setMessage(_direction, converted, target) != SLUICE_OK ||
        ctx.setHeader(_direction, "Content-Type", target) != SLUICE_OK) {
        logger().error("cannot replace the " + std::string(directionName(_direction)) + " message");
        return sdk::Action::Error;
    }
    return sdk::Action::Continue;
}

// JSON value -> XML document form {root: value}; a top-level array becomes the repeated child
// "item" of the root, because an XML document has exactly one root element.
const sluice_value* JsonXml::toXml(sdk::MessageContext& ctx, const sluice_value* json, std::string& error) const
{
    codec::ArenaTree arena(ctx);
    sluice_member root{};
    if (!arena.copy(_root, root.key)) {
        error = "out of exchange memory";
        return nullptr;
    }
    root.value = *json;
    if (json->type == SLUICE_VALUE_ARRAY) {
        sluice_member items{sdk::str(codec::kArrayItemName), *json};
        const sluice_value* wrapper = arena.object(&items, 1);
        if (wrapper == nullptr) {
            error = "out of exchange memory";
            return nullptr;
        }
        root.value = *wrapper;
    }
    const sluice_value* document = arena.object(&root, 1);
    if (document == nullptr) {
        error = "out of exchange memory";
        return nullptr;
    }
    codec::XmlWriter check(codec::XmlWriteOptions{false, 256});
    if (!check.write(sdk::ValueView{document}, nullptr)) {
        error = "The JSON has no XML form: " + check.error();
        return nullptr;
    }
    return document;
}

// XML document form -> JSON: unwrap the root element when it is the configured one.
const sluice_value* JsonXml::toJson(const sluice_value* xml) const
{
    sdk::ValueView document{xml};
    if (document.isObject() && document.size() == 1 && document.keyAt(0) == _root) {
        return document.valueAt(0).raw();
    }
    return xml;
}

}  // namespace sluice::plugins
