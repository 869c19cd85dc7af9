#include "JsonXml.h"

#include <optional>
#include <stdexcept>

#include "codec/ArenaTree.h"
#include "codec/ConfigOption.h"
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
    "1.3.0",                                           // version
    kPriority,                                         // priority
    SLUICE_COMPONENT_NEEDS_REQUEST_BODY,               // flags
    json_xml_schema::kConfigSchema,                    // config schema
    "Converts the request body between JSON and XML",  // description
};

const sdk::ComponentInfo JsonXmlResponse::kInfo{
    "json_xml_response",                                // name
    "1.3.0",                                            // version
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
    _maxXmlBytes = codec::sizeOption(config, "max_xml_bytes", 32u << 20, 1, 1u << 30);
    _maxExpansion = codec::sizeOption(config, "max_expansion", kDefaultExpansion, 1, 1u << 20);
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

sdk::Action JsonXml::refuseEncoded(sdk::MessageContext& ctx) const
{
    const bool request = _direction == sdk::Message::Request;
    const std::string description = std::string("The ") + directionName(_direction) +
                                    " body is content-coded; only an identity body can be converted";
    // The answer replaces the backend's body: its coding must not label the gateway's JSON error.
    if (!request && ctx.removeHeader(sdk::Message::Response, "Content-Encoding") != SLUICE_OK) {
        logger().error("cannot drop the backend's Content-Encoding");
        return sdk::Action::Error;
    }
    const sluice_status st =
        request ? ctx.respondError(415, kEncodedRequest, "Unsupported request content coding", description)
                : ctx.respondError(502, kMalformedResponse, "Malformed backend response payload", description);
    if (st != SLUICE_OK) {
        logger().error("cannot prepare the error response");
        return sdk::Action::Error;
    }
    return sdk::Action::Respond;
}

// The built message. A structured-syntax type that no builder registers (application/vnd.x+json,
// application/vnd.y+xml) is built by its base type's builder: the host picks the builder by the
// Content-Type, so the header names the base type while the message is built (it is replaced by
// the target type right after, or the exchange ends with a refusal). Its parameters stay: the
// builder decodes by the charset (RFC 7303 for XML).
sluice_status JsonXml::built(sdk::MessageContext& ctx, std::string_view essence, const sluice_value*& message) const
{
    const auto kind = static_cast<sluice_message_kind>(_direction);
    sluice_status status = ctx.host()->message_get(ctx.exchange(), kind, &message);
    const std::string_view base = _to == Target::Xml ? kJsonType : kXmlType;
    if (status == SLUICE_E_NOT_FOUND && essence != base && essence != "text/xml") {
        std::string relabelled(base);
        const std::string_view type = ctx.header(_direction, "Content-Type").value_or("");
        if (const auto semicolon = type.find(';'); semicolon != std::string_view::npos) {
            relabelled.append(type.substr(semicolon));  // a token has no ';': the parameters start here
        }
        if (ctx.setHeader(_direction, "Content-Type", relabelled) == SLUICE_OK) {
            status = ctx.host()->message_get(ctx.exchange(), kind, &message);
        }
    }
    return status;
}

sdk::Action JsonXmlResponse::onRequest(sdk::MessageContext& ctx)
{
    // An identity body, and all of it: a part of a document (a Range answer) cannot be
    // converted, and the client's ranges would be of the converted body, which it never saw.
    if (!ctx.askWholeIdentityResponse()) {
        logger().error("cannot ask the backend for a whole identity response");
        return sdk::Action::Error;
    }
    return sdk::Action::Continue;
}

sdk::Action JsonXml::convert(sdk::MessageContext& ctx) const
{
    const std::string essence = codec::mediaTypeEssence(ctx.header(_direction, "Content-Type").value_or(""));
    const bool convertible = _to == Target::Xml ? codec::isJsonMediaType(essence) : codec::isXmlMediaType(essence);
    if (!convertible) {
        return sdk::Action::Continue;  // already the target type, or a type this does not convert
    }
    // A HEAD answer has no body, but its fields describe what a GET would get: the converted
    // document (RFC 9110 section 9.3.2). Its length is not known without converting it.
    if (_direction == sdk::Message::Response && ctx.method() == "HEAD") {
        // Left as they came where a GET's answer would not be converted either: a part, a coded
        // body, an empty one, and what may be a 304 (a conditional request; its validators are
        // what the client asked about).
        const std::optional<std::string_view> length = ctx.header(_direction, "Content-Length");
        if (ctx.header(_direction, "Content-Range") || ctx.contentCoded(_direction) || (length && *length == "0") ||
            ctx.header(sdk::Message::Request, "If-None-Match") ||
            ctx.header(sdk::Message::Request, "If-Modified-Since")) {
            return sdk::Action::Continue;
        }
        return relabel(ctx, true);
    }
    // No body (a GET, a 304's response: nothing was buffered) or an empty one: nothing to
    // convert. Asking for the message of a body that is not there would be an error.
    auto body = ctx.body(_direction);
    if (!body || body->empty()) {
        return sdk::Action::Continue;
    }
    if (_direction == sdk::Message::Response && ctx.header(_direction, "Content-Range")) {
        return sdk::Action::Continue;  // a part (206, 416): passed on as the backend sent it
    }
    if (ctx.contentCoded(_direction)) {
        return refuseEncoded(ctx);
    }
    const sluice_value* message = nullptr;
    const sluice_status status = built(ctx, essence, message);
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
    if (ctx.setMessage(_direction, converted, _to == Target::Xml ? kXmlType : kJsonType) != SLUICE_OK) {
        logger().error("cannot replace the " + std::string(directionName(_direction)) + " message");
        return sdk::Action::Error;
    }
    return relabel(ctx, false);
}

sdk::Action JsonXml::relabel(sdk::MessageContext& ctx, bool dropLength) const
{
    if (ctx.setHeader(_direction, "Content-Type", _to == Target::Xml ? kXmlType : kJsonType) != SLUICE_OK) {
        logger().error("cannot label the converted " + std::string(directionName(_direction)));
        return sdk::Action::Error;
    }
    // Fields that describe the bytes of the body that was replaced: a validator or digest of
    // those bytes would be wrong for the converted ones (a cache or client would take the one
    // for the other), and ranges of it meaningless. (A converted body's length is set by the
    // transport; a HEAD answer's would be the unconverted one's.)
    for (const char* stale : {"ETag", "Last-Modified", "Content-MD5", "Digest", "Repr-Digest", "Content-Digest",
                              "Accept-Ranges", dropLength ? "Content-Length" : nullptr}) {
        if (stale != nullptr && ctx.removeHeader(_direction, stale) != SLUICE_OK) {
            logger().error("cannot drop " + std::string(stale) + " from the converted " +
                           std::string(directionName(_direction)));
            return sdk::Action::Error;
        }
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
    // Every item of an array repeats its key twice in the XML, so a small body with a long key
    // and many items becomes a huge document: the XML may be at most max_expansion times the
    // JSON's size (but always kExpansionFloor), as well as max_xml_bytes.
    const std::size_t jsonBytes = ctx.body(_direction).value_or("").size();
    const std::size_t byRatio = jsonBytes > (kExpansionFloor / _maxExpansion)
                                    ? (jsonBytes > SIZE_MAX / _maxExpansion ? SIZE_MAX : jsonBytes * _maxExpansion)
                                    : kExpansionFloor;
    const std::size_t limit = std::min(_maxXmlBytes, byRatio);
    codec::XmlWriter check(codec::XmlWriteOptions{false, 256, limit});
    if (!check.write(sdk::ValueView{document}, nullptr)) {
        error = "The JSON has no XML form: " + check.error();
        if (limit < _maxXmlBytes && check.exceededMaxBytes()) {
            error += " (max_expansion: at most " + std::to_string(_maxExpansion) + " times the JSON's " +
                     std::to_string(jsonBytes) + " bytes)";
        }
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
