#include "XmlTreeHandler.h"

#include <xercesc/sax/SAXParseException.hpp>
#include <xercesc/sax2/Attributes.hpp>
#include <xercesc/util/XMLString.hpp>

#include "codec/XmlMapping.h"

namespace sluice::plugins {

namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

// Appends UTF-16 as UTF-8. A high surrogate at the very end is kept in `pending` for the next
// call (the parser may split a pair between two characters() calls); false on a lone surrogate.
bool appendUtf16(std::string& out, const XMLCh* s, std::size_t n, char16_t& pending)
{
    for (std::size_t i = 0; i < n; ++i) {
        char32_t c = s[i];
        if (pending != 0) {
            if (c < 0xDC00 || c > 0xDFFF) {
                return false;
            }
            c = 0x10000 + ((static_cast<char32_t>(pending) - 0xD800) << 10) + (c - 0xDC00);
            pending = 0;
        } else if (c >= 0xD800 && c <= 0xDBFF) {
            pending = static_cast<char16_t>(c);
            continue;
        } else if (c >= 0xDC00 && c <= 0xDFFF) {
            return false;
        }
        if (c < 0x80) {
            out.push_back(static_cast<char>(c));
        } else if (c < 0x800) {
            out.push_back(static_cast<char>(0xC0u | (c >> 6)));
            out.push_back(static_cast<char>(0x80u | (c & 0x3Fu)));
        } else if (c < 0x10000) {
            out.push_back(static_cast<char>(0xE0u | (c >> 12)));
            out.push_back(static_cast<char>(0x80u | ((c >> 6) & 0x3Fu)));
            out.push_back(static_cast<char>(0x80u | (c & 0x3Fu)));
        } else {
            out.push_back(static_cast<char>(0xF0u | (c >> 18)));
            out.push_back(static_cast<char>(0x80u | ((c >> 12) & 0x3Fu)));
            out.push_back(static_cast<char>(0x80u | ((c >> 6) & 0x3Fu)));
            out.push_back(static_cast<char>(0x80u | (c & 0x3Fu)));
        }
    }
    return true;
}

std::size_t length(const XMLCh* s) noexcept
{
    std::size_t n = 0;
    while (s != nullptr && s[n] != 0) {
        ++n;
    }
    return n;
}

bool equals(const XMLCh* s, std::string_view ascii) noexcept
{
    std::size_t i = 0;
    for (; i < ascii.size(); ++i) {
        if (s == nullptr || s[i] != static_cast<XMLCh>(ascii[i])) {
            return false;
        }
    }
    return s != nullptr && s[i] == 0;
}

bool isBlank(std::string_view text) noexcept { return text.find_first_not_of(" \t\r\n") == std::string_view::npos; }

// A parser message made safe for a log line: printable ASCII only, bounded.
std::string printable(const XMLCh* s)
{
    std::string out;
    for (std::size_t i = 0; s != nullptr && s[i] != 0 && out.size() < 200; ++i) {
        out.push_back(s[i] >= 0x20 && s[i] < 0x7F ? static_cast<char>(s[i]) : '?');
    }
    return out;
}

}  // namespace

void XmlTreeHandler::refuse(std::string reason)
{
    if (_error.empty()) {
        _error = std::move(reason);
    }
}

void XmlTreeHandler::stop(std::string reason)
{
    refuse(std::move(reason));
    throw XmlRefused{};
}

sluice_str XmlTreeHandler::utf8(const XMLCh* s, const char* what, std::string_view prefix)
{
    char16_t pending = 0;
    _scratch.assign(prefix);
    if (!appendUtf16(_scratch, s, length(s), pending) || pending != 0) {
        stop(std::string("invalid UTF-16 in ") + what);
    }
    if (_scratch.size() > _limits.maxStringBytes) {
        stop(std::string(what) + " longer than max_string_bytes");
    }
    sluice_str out{};
    if (!_arena.copy(_scratch, out)) {
        stop("out of exchange memory");
    }
    return out;
}

void XmlTreeHandler::startElement(const XMLCh* uri, const XMLCh* localname, const XMLCh* qname,
                                  const xercesc::Attributes& attrs)
{
    (void)uri;
    (void)localname;
    if (_result != nullptr) {
        stop("more than one root element");
    }
    if (_frames.size() >= _limits.maxDepth) {
        stop("elements nest deeper than max_depth");
    }
    if (!_frames.empty()) {
        const Frame& parent = _frames.back();
        if (_open.size() - parent.first - parent.attributes >= _limits.maxChildren) {
            stop("an element has more children than max_children");
        }
    }
    if (_pendingHigh != 0) {
        stop("invalid UTF-16 in text");
    }
    if (++_nodes > _limits.maxNodes) {
        stop("more elements and attributes than max_nodes");
    }
    Frame frame{utf8(qname, "an element name"), _open.size(), 0, _text.size(), kNone, false};
    attributes(attrs, frame);
    _frames.push_back(frame);
}

void XmlTreeHandler::attributes(const xercesc::Attributes& attrs, Frame& frame)
{
    const std::size_t n = attrs.getLength();
    if (n > _limits.maxAttributes) {
        stop("an element has more attributes than max_attributes");
    }
    _nodes += n;
    if (_nodes > _limits.maxNodes) {
        stop("more elements and attributes than max_nodes");
    }
    // Xerces resolves every prefixed name against the declarations in scope, in time that grows
    // with their number: 60 levels of 255 declarations made 10,000 small elements cost seconds.
    for (std::size_t i = 0; i < n; ++i) {
        const XMLCh* name = attrs.getQName(i);
        static constexpr XMLCh kXmlns[] = {'x', 'm', 'l', 'n', 's', 0};
        if (xercesc::XMLString::startsWith(name, kXmlns) && (name[5] == 0 || name[5] == ':')) {
            ++frame.declarations;
        }
    }
    _inScope += frame.declarations;
    if (_inScope > _limits.maxNamespaces) {
        stop("more namespace declarations in scope than max_namespaces");
    }
    std::size_t nilAt = kNone;
    for (std::size_t i = 0; i < n; ++i) {
        sluice_member m{};
        m.key = utf8(attrs.getQName(i), "an attribute name", std::string_view(&codec::kAttributeMark, 1));
        m.value = codec::stringValue(utf8(attrs.getValue(i), "an attribute value"));
        if (equals(attrs.getURI(i), codec::kXsiNamespace) && equals(attrs.getLocalName(i), codec::kNilLocalName) &&
            sdk::view(m.value.text) == "true") {
            nilAt = i;
        }
        _open.push_back(m);
    }
    frame.attributes = n;
    if (nilAt == kNone || n > 2) {
        return;
    }
    if (n == 1) {
        frame.nil = true;
        return;
    }
    // The only other attribute may be the declaration of the prefix xsi:nil uses.
    const sluice_member& nil = _open[frame.first + nilAt];
    const sluice_member& other = _open[frame.first + (1 - nilAt)];
    std::string_view nilName = sdk::view(nil.key).substr(1);
    std::string_view prefix = nilName.substr(0, nilName.find(':'));
    std::string_view otherName = sdk::view(other.key).substr(1);
    frame.nil = nilName.find(':') != std::string_view::npos && otherName.size() == 6 + prefix.size() &&
                otherName.substr(0, 6) == "xmlns:" && otherName.substr(6) == prefix &&
                sdk::view(other.value.text) == codec::kXsiNamespace;
}

void XmlTreeHandler::characters(const XMLCh* chars, XMLSize_t length)
{
    if (_frames.empty()) {
        return;
    }
    Frame& frame = _frames.back();
    const std::size_t before = _text.size();
    if (!appendUtf16(_text, chars, length, _pendingHigh)) {
        stop("invalid UTF-16 in text");
    }
    const std::size_t children = _open.size() - frame.first - frame.attributes;
    if (frame.textAt == kNone && !isBlank(std::string_view(_text).substr(before))) {
        frame.textAt = children;
    }
    // Blank text beside child elements is layout, left out of the tree (until other text joins
    // it), so it does not count against max_string_bytes; max_bytes bounds it.
    const bool layout = frame.textAt == kNone && children > 0;
    if (!layout && _text.size() - frame.text > _limits.maxStringBytes) {
        stop("element text longer than max_string_bytes");
    }
}

void XmlTreeHandler::ignorableWhitespace(const XMLCh* chars, XMLSize_t length) { characters(chars, length); }

void XmlTreeHandler::endElement(const XMLCh* uri, const XMLCh* localname, const XMLCh* qname)
{
    (void)uri;
    (void)localname;
    (void)qname;
    if (_pendingHigh != 0) {
        stop("invalid UTF-16 in text");
    }
    const Frame frame = _frames.back();
    _inScope -= frame.declarations;
    _frames.pop_back();
    sluice_member done{};
    done.key = frame.name;
    if (!content(frame, done.value)) {
        stop("out of exchange memory");
    }
    _text.resize(frame.text);
    _open.resize(frame.first);
    if (!_frames.empty()) {
        _open.push_back(done);
        return;
    }
    _result = _arena.object(&done, 1);
    if (_result == nullptr) {
        stop("out of exchange memory");
    }
}

void XmlTreeHandler::group(const Frame& frame, std::size_t children)
{
    const std::size_t base = frame.first + frame.attributes;
    const bool indexed = children > 16;
    _groups.clear();
    _groupOf.resize(children);
    if (indexed) {
        _groupIndex.clear();
    }
    for (std::size_t c = 0; c < children; ++c) {
        std::string_view name = sdk::view(_open[base + c].key);
        std::size_t g = kNone;
        if (indexed) {
            auto it = _groupIndex.find(name);
            g = it == _groupIndex.end() ? kNone : it->second;
        } else {
            for (std::size_t k = 0; k < _groups.size(); ++k) {
                if (sdk::view(_groups[k].name) == name) {
                    g = k;
                    break;
                }
            }
        }
        if (g == kNone) {
            g = _groups.size();
            _groups.push_back({_open[base + c].key, c, 0, nullptr, 0});
            if (indexed) {
                _groupIndex.emplace(name, g);
            }
        }
        ++_groups[g].count;
        _groupOf[c] = g;
    }
}

bool XmlTreeHandler::content(const Frame& frame, sluice_value& out)
{
    const std::string_view text = std::string_view(_text).substr(frame.text);
    const std::size_t base = frame.first + frame.attributes;
    const std::size_t children = _open.size() - base;
    if (children == 0 && text.empty() && frame.nil) {
        out.type = SLUICE_VALUE_NULL;
        return true;
    }
    if (frame.attributes == 0 && children == 0) {
        out.type = SLUICE_VALUE_STRING;
        return _arena.copy(text, out.text);
    }
    const bool withText = children == 0 ? !text.empty() : !isBlank(text);
    sluice_member textMember{sluice_str{codec::kTextKey.data(), codec::kTextKey.size()}, {}};
    if (withText) {
        textMember.value.type = SLUICE_VALUE_STRING;
        if (!_arena.copy(text, textMember.value.text)) {
            return false;
        }
    }
    group(frame, children);
    const std::size_t count = frame.attributes + _groups.size() + (withText ? 1 : 0);
    sluice_member* members = _arena.members(count);
    if (members == nullptr) {
        return false;
    }
    std::size_t w = 0;
    for (std::size_t i = 0; i < frame.attributes; ++i) {
        members[w++] = _open[frame.first + i];
    }
    // Repeated names become arrays, filled in document order in one pass over the children.
    for (Group& g : _groups) {
        if (g.count > 1 && (g.items = _arena.values(g.count)) == nullptr) {
            return false;
        }
    }
    for (std::size_t c = 0; c < children; ++c) {
        Group& g = _groups[_groupOf[c]];
        if (g.items != nullptr) {
            g.items[g.filled++] = _open[base + c].value;
        }
    }
    const std::size_t textAt = children == 0 ? 0 : frame.textAt;
    bool textPlaced = !withText;
    for (const Group& g : _groups) {
        if (!textPlaced && g.firstChild >= textAt) {
            members[w++] = textMember;
            textPlaced = true;
        }
        sluice_member& m = members[w++];
        m.key = g.name;
        if (g.items == nullptr) {
            m.value = _open[base + g.firstChild].value;
        } else {
            m.value.type = SLUICE_VALUE_ARRAY;
            m.value.count = g.count;
            m.value.items = g.items;
        }
    }
    if (!textPlaced) {
        members[w++] = textMember;
    }
    out.type = SLUICE_VALUE_OBJECT;
    out.count = count;
    out.members = members;
    return true;
}

void XmlTreeHandler::startDTD(const XMLCh* name, const XMLCh* publicId, const XMLCh* systemId)
{
    (void)name;
    (void)publicId;
    (void)systemId;
    stop("a DOCTYPE is not allowed");
}

void XmlTreeHandler::startEntity(const XMLCh* name)
{
    (void)name;
    stop("entity references are not allowed");
}

xercesc::InputSource* XmlTreeHandler::resolveEntity(const XMLCh* publicId, const XMLCh* systemId)
{
    (void)publicId;
    (void)systemId;
    stop("external entities are not resolved");
}

void XmlTreeHandler::warning(const xercesc::SAXParseException& e) { (void)e; }

void XmlTreeHandler::error(const xercesc::SAXParseException& e) { fatalError(e); }

void XmlTreeHandler::fatalError(const xercesc::SAXParseException& e)
{
    stop("line " + std::to_string(e.getLineNumber()) + " column " + std::to_string(e.getColumnNumber()) + ": " +
         printable(e.getMessage()));
}

}  // namespace sluice::plugins
