#include "XmlBuilder.h"

#include <new>
#include <string>

#include <sluice/sdk/HttpSyntax.hpp>

#include <xercesc/framework/MemBufInputSource.hpp>
#include <xercesc/sax/SAXException.hpp>
#include <xercesc/util/OutOfMemoryException.hpp>
#include <xercesc/util/XMLException.hpp>

#include "XercesRuntime.h"
#include "XmlPrescan.h"
#include "codec/ArenaTree.h"
#include "codec/ConfigOption.h"
#include "xml_builder_schema.h"

namespace sluice::plugins {

const sdk::ComponentInfo XmlBuilder::kInfo{
    "xml_builder",                                               // name
    "1.3.0",                                                     // version
    0,                                                           // priority: not a handler
    0,                                                           // flags
    xml_builder_schema::kConfigSchema,                           // config schema
    "XML message builder (Xerces-C SAX2, no DTDs or entities)",  // description
};

XmlBuilder::XmlBuilder(const sdk::ComponentInit& init)
    : MessageBuilder(init), _maxBytes(codec::sizeOption(init.config(), "max_bytes", 8u << 20, 1, 1u << 30))
{
    sdk::ValueView c = init.config();
    _limits.maxDepth = codec::sizeOption(c, "max_depth", 64, 1, 4096);
    _limits.maxStringBytes = codec::sizeOption(c, "max_string_bytes", 1u << 20, 1, 1u << 30);
    _limits.maxAttributes = codec::sizeOption(c, "max_attributes", 256, 1, 100000);
    _limits.maxNamespaces = codec::sizeOption(c, "max_namespaces", 256, 1, 100000);
    _limits.maxChildren = codec::sizeOption(c, "max_children", 10000, 1, 10000000);
    _limits.maxNodes = codec::sizeOption(c, "max_nodes", 500000, 1, 100000000);
    xerces::ensureInitialized();
    xerces::threadReader();  // fail at start-up, not on the first request, if Xerces lacks a feature
}

const sluice_value* XmlBuilder::build(sdk::MessageContext& ctx, std::string_view mediaType, std::string_view bytes)
{
    return buildMessage(ctx, sdk::BuildInput{SLUICE_MSG_REQUEST, mediaType, mediaType, bytes});
}

const sluice_value* XmlBuilder::buildMessage(sdk::MessageContext& ctx, const sdk::BuildInput& input)
{
    const std::string_view bytes = input.bytes;
    if (bytes.size() > _maxBytes) {
        logger().debug("refused an XML body of " + std::to_string(bytes.size()) + " bytes: larger than max_bytes");
        return nullptr;
    }
    std::string charset;
    const sdk::ParameterLookup lookup = sdk::mediaTypeParameter(input.contentType, "charset", charset);
    if (lookup == sdk::ParameterLookup::Malformed || (lookup == sdk::ParameterLookup::Found && charset.empty())) {
        logger().debug("refused an XML body: the Content-Type's parameters cannot be read");
        return nullptr;
    }
    const XmlPrescan prescan = prescanXml(bytes, _limits.maxAttributes, charset);
    if (!prescan.refused.empty()) {
        logger().debug("refused an XML body: " + prescan.refused);
        return nullptr;
    }
    codec::ArenaTree arena(ctx);
    XmlTreeHandler handler(_limits, arena);
    bool parsed = false;
    try {
        xercesc::SAX2XMLReader& reader = xerces::threadReader();
        xerces::ReaderHandlers installed(reader, handler);
        xercesc::MemBufInputSource source(reinterpret_cast<const XMLByte*>(bytes.data()), bytes.size(), "body");
        if (!prescan.encoding.empty()) {
            // Forces the encoding over the XML declaration (a charset is an ASCII token).
            const std::u16string wide(prescan.encoding.begin(), prescan.encoding.end());
            source.setEncoding(wide.c_str());
        }
        reader.parse(source);
        parsed = true;
    } catch (const XmlRefused&) {
        // the handler said why
    } catch (const xerces::DoctypeRefused&) {
        handler.refuse("a DOCTYPE is not allowed");
    } catch (const xercesc::SAXException&) {
        handler.refuse("the parser stopped");
    } catch (const xercesc::XMLException&) {
        handler.refuse("the parser failed");
    } catch (const xercesc::OutOfMemoryException&) {
        handler.refuse("the parser ran out of memory");
    } catch (const std::bad_alloc&) {
        handler.refuse("out of memory");
    }
    if (!parsed || handler.result() == nullptr) {
        handler.refuse("no root element");
        logger().debug("refused an XML body: " + handler.error());
        return nullptr;
    }
    return handler.result();
}

}  // namespace sluice::plugins
