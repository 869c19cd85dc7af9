#pragma once

// SAX2 events -> sluice_value tree, following the JSON<->XML mapping (docs/message-mapping.md).
// The tree goes straight into the exchange's arena: no DOM is built, so memory stays bounded by
// the limits below and a hostile document is refused at the first event that crosses one.
//
// It is also the parser's lexical handler, entity resolver and error handler: every DOCTYPE,
// every entity the parser would resolve and every error or fatal error stops the parse.

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <xercesc/sax2/DefaultHandler.hpp>

#include <sluice/abi.h>

#include "codec/ArenaTree.h"

namespace sluice::plugins {

struct XmlLimits {
    std::size_t maxDepth = 64;              // element nesting
    std::size_t maxStringBytes = 1u << 20;  // a name, an attribute value, an element's text (UTF-8)
    std::size_t maxAttributes = 256;        // attributes (with namespace declarations) of one element
    std::size_t maxChildren = 10000;        // child elements of one element
    std::size_t maxNodes = 500000;          // elements and attributes in the document
    std::size_t maxNamespaces = 256;        // namespace declarations in scope at once
};

// Thrown from a handler callback to stop the parse; the reason is in XmlTreeHandler::error().
struct XmlRefused {};

class XmlTreeHandler final : public xercesc::DefaultHandler {
public:
    XmlTreeHandler(const XmlLimits& limits, const codec::ArenaTree& arena) : _limits(limits), _arena(arena) {}

    // The document {root-name: content} after a successful parse, else nullptr.
    const sluice_value* result() const noexcept { return _result; }
    const std::string& error() const noexcept { return _error; }
    // Records why the parse stopped (the first reason wins).
    void refuse(std::string reason);

    void startElement(const XMLCh* uri, const XMLCh* localname, const XMLCh* qname,
                      const xercesc::Attributes& attrs) override;
    void endElement(const XMLCh* uri, const XMLCh* localname, const XMLCh* qname) override;
    void characters(const XMLCh* chars, XMLSize_t length) override;
    void ignorableWhitespace(const XMLCh* chars, XMLSize_t length) override;

    void startDTD(const XMLCh* name, const XMLCh* publicId, const XMLCh* systemId) override;
    void startEntity(const XMLCh* name) override;
    xercesc::InputSource* resolveEntity(const XMLCh* publicId, const XMLCh* systemId) override;

    void warning(const xercesc::SAXParseException& e) override;
    void error(const xercesc::SAXParseException& e) override;
    void fatalError(const xercesc::SAXParseException& e) override;

private:
    struct Frame {
        sluice_str name;
        std::size_t first;             // its attributes, then its children, start here in _open
        std::size_t attributes;        // how many of them are attributes
        std::size_t text;              // its text starts here in _text
        std::size_t textAt;            // children before its first non-blank text (npos: none yet)
        bool nil;                      // exactly xsi:nil="true" (and possibly the xsi declaration)
        std::size_t declarations = 0;  // its namespace declarations (xmlns, xmlns:p)
    };
    struct Group {
        sluice_str name;
        std::size_t firstChild;  // index among the element's children
        std::size_t count;
        sluice_value* items;  // when count > 1: the array, filled in document order
        std::size_t filled;
    };

    [[noreturn]] void stop(std::string reason);
    // Copies s as UTF-8 (after `prefix`) into the arena; `what` names it in the refusal.
    sluice_str utf8(const XMLCh* s, const char* what, std::string_view prefix = {});
    void attributes(const xercesc::Attributes& attrs, Frame& frame);
    bool content(const Frame& frame, sluice_value& out);
    void group(const Frame& frame, std::size_t children);

    const XmlLimits& _limits;
    const codec::ArenaTree& _arena;
    const sluice_value* _result = nullptr;
    std::string _error;
    std::size_t _nodes = 0;
    std::size_t _inScope = 0;  // namespace declarations of the open elements
    std::vector<Frame> _frames;
    std::vector<sluice_member> _open;  // attributes and finished children of the open elements
    std::string _text;                 // text of the open elements, innermost last
    char16_t _pendingHigh = 0;         // a high surrogate that ended the previous characters()
    std::string _scratch;
    std::vector<Group> _groups;
    std::vector<std::size_t> _groupOf;
    std::unordered_map<std::string_view, std::size_t> _groupIndex;
};

}  // namespace sluice::plugins
