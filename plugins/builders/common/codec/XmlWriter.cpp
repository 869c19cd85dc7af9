#include "codec/XmlWriter.h"

#include <algorithm>

#include "codec/JsonNumber.h"
#include "codec/Utf8.h"
#include "codec/XmlMapping.h"
#include "codec/XmlNames.h"

namespace sluice::plugins::codec {

namespace {

using sdk::ValueView;

// A name quoted in an error message: at most 40 printable ASCII characters, the rest as '?',
// so that a hostile key can neither flood a log line nor break the JSON error body.
std::string printable(std::string_view name)
{
    std::string out;
    for (std::size_t i = 0; i < name.size() && i < 40; ++i) {
        char c = name[i];
        out.push_back(c >= 0x20 && c < 0x7F && c != '"' && c != '\\' ? c : '?');
    }
    if (name.size() > 40) {
        out += "...";
    }
    return out;
}

bool isScalar(ValueView v) noexcept { return v.isString() || v.isNumber() || v.isBool(); }

// A member value that writes nothing: an empty array.
bool writesNothing(ValueView v) noexcept { return v.isArray() && v.size() == 0; }

}  // namespace

bool XmlWriter::fail(std::string reason, std::string_view name)
{
    if (!name.empty()) {
        reason += " ('" + printable(name) + "')";
    }
    _error = std::move(reason);
    return false;
}

bool XmlWriter::tooLarge()
{
    _exceededMaxBytes = true;
    return fail("the XML document would be larger than " + std::to_string(_options.maxBytes) + " bytes");
}

std::string_view XmlWriter::lookup(std::string_view prefix) const noexcept
{
    if (prefix == "xml") {
        return kXmlNamespace;
    }
    auto it = _bound.find(prefix);
    return it == _bound.end() ? std::string_view{} : _scope[it->second].ns;
}

void XmlWriter::bind(std::string_view prefix, std::string_view ns)
{
    constexpr std::size_t kNone = static_cast<std::size_t>(-1);
    auto [it, added] = _bound.try_emplace(prefix, _scope.size());
    _scope.push_back({prefix, ns, added ? kNone : it->second});
    it->second = _scope.size() - 1;
}

void XmlWriter::unbind(std::size_t mark)
{
    constexpr std::size_t kNone = static_cast<std::size_t>(-1);
    while (_scope.size() > mark) {
        const Binding& b = _scope.back();
        if (b.shadowed == kNone) {
            _bound.erase(b.prefix);
        } else {
            _bound[b.prefix] = b.shadowed;
        }
        _scope.pop_back();
    }
}

bool XmlWriter::write(ValueView document, std::string* out)
{
    _out = out;
    _error.clear();
    _scope.clear();
    _bound.clear();
    _written = 0;
    _overflow = false;
    if (!document.isObject() || document.size() != 1) {
        return fail("an XML document is an object with exactly one member, its root element");
    }
    std::string_view root = document.keyAt(0);
    ValueView content = document.valueAt(0);
    if (content.isArray()) {
        return fail("the root element cannot repeat: its value is an array", root);
    }
    if (_options.declaration) {
        put(R"(<?xml version="1.0" encoding="UTF-8"?>)");
    }
    if (!element(root, content, 1)) {
        return false;
    }
    return !_overflow || tooLarge();
}

bool XmlWriter::element(std::string_view name, ValueView value, std::size_t depth)
{
    if (_overflow) {
        return tooLarge();  // before the name check: its cost is then bounded by the bytes written
    }
    if (depth > _options.maxDepth) {
        return fail("elements nest deeper than " + std::to_string(_options.maxDepth));
    }
    if (!isQName(name)) {
        return fail("not an XML element name", name);
    }
    if (qnamePrefix(name) == "xmlns") {
        return fail("the prefix xmlns is reserved for namespace declarations", name);
    }
    if (value.isObject()) {
        return objectElement(name, value, depth);
    }
    if (lookup(qnamePrefix(name)).empty() && !qnamePrefix(name).empty()) {
        return fail("element prefix not bound to a namespace", name);
    }
    if (value.isNull()) {
        return nilElement(name);
    }
    if (value.isString() && value.asString().empty()) {
        put("<");
        put(name);
        put("/>");
        return true;
    }
    put("<");
    put(name);
    put(">");
    if (!scalarText(value, false)) {
        return false;
    }
    put("</");
    put(name);
    put(">");
    return true;
}

bool XmlWriter::nilElement(std::string_view name)
{
    // Reuse an in-scope xsi binding; otherwise declare one on the element itself. "xsi0" only
    // when the element's own name uses "xsi" for another namespace.
    std::string_view prefix = kXsiPrefix;
    bool declareXsi = lookup(prefix) != kXsiNamespace;
    if (declareXsi && qnamePrefix(name) == kXsiPrefix) {
        prefix = "xsi0";
    }
    put("<");
    put(name);
    if (declareXsi) {
        put(" xmlns:");
        put(prefix);
        put("=\"");
        put(kXsiNamespace);
        put("\"");
    }
    put(" ");
    put(prefix);
    put(":nil=\"true\"/>");
    return true;
}

bool XmlWriter::objectElement(std::string_view name, ValueView value, std::size_t depth)
{
    const std::size_t scopeMark = _scope.size();
    std::vector<Attribute> attributes;
    bool hasContent = false;
    for (std::size_t i = 0; i < value.size(); ++i) {
        std::string_view key = value.keyAt(i);
        ValueView member = value.valueAt(i);
        if (!key.empty() && key.front() == kAttributeMark) {
            attributes.push_back({key.substr(1), member.raw()});
        } else if (!key.empty() && key.front() == '#' && key != kTextKey) {
            return fail("a '#' member other than #text has no XML form", key);
        } else if (key == kTextKey) {
            hasContent = hasContent || !(member.isString() && member.asString().empty());
        } else {
            hasContent = hasContent || !writesNothing(member);
        }
    }
    if (!declare(attributes)) {
        return false;
    }
    if (!qnamePrefix(name).empty() && lookup(qnamePrefix(name)).empty()) {
        return fail("element prefix not bound to a namespace", name);
    }
    if (!checkAttributes(attributes)) {
        return false;
    }
    put("<");
    put(name);
    for (const Attribute& a : attributes) {
        put(" ");
        put(a.name);
        put("=\"");
        if (!scalarText(ValueView{a.value}, true)) {
            return false;
        }
        put("\"");
    }
    if (!hasContent) {
        put("/>");
        unbind(scopeMark);
        return true;
    }
    put(">");
    for (std::size_t i = 0; i < value.size(); ++i) {
        std::string_view key = value.keyAt(i);
        ValueView member = value.valueAt(i);
        if (!key.empty() && key.front() == kAttributeMark) {
            continue;
        }
        if (key == kTextKey) {
            if (!isScalar(member)) {
                return fail("#text must be a string, number or boolean");
            }
            if (!scalarText(member, false)) {
                return false;
            }
            continue;
        }
        if (!member.isArray()) {
            if (!element(key, member, depth + 1)) {
                return false;
            }
            continue;
        }
        for (std::size_t k = 0; k < member.size(); ++k) {
            if (member[k].isArray()) {
                return fail("an array inside an array has no XML form", key);
            }
            if (!element(key, member[k], depth + 1)) {
                return false;
            }
        }
    }
    put("</");
    put(name);
    put(">");
    unbind(scopeMark);
    return true;
}

bool XmlWriter::declare(const std::vector<Attribute>& attributes)
{
    for (const Attribute& a : attributes) {
        if (a.name != "xmlns" && qnamePrefix(a.name) != "xmlns") {
            continue;
        }
        ValueView uri{a.value};
        if (!uri.isString()) {
            return fail("a namespace declaration must be a string", a.name);
        }
        if (a.name == "xmlns") {
            // The default namespace: unprefixed names need no binding, but neither reserved
            // namespace may be it (Namespaces in XML 1.0, section 3).
            if (uri.asString() == kXmlNamespace || uri.asString() == kXmlnsNamespace) {
                return fail("the xml and xmlns namespaces are reserved", a.name);
            }
            continue;
        }
        std::string_view prefix = qnameLocal(a.name);
        std::string_view ns = uri.asString();
        if (!isNCName(prefix) || prefix == "xmlns") {
            return fail("not a declarable namespace prefix", a.name);
        }
        if (ns.empty()) {
            return fail("a namespace prefix cannot be bound to the empty name", a.name);
        }
        if ((prefix == "xml") != (ns == kXmlNamespace) || ns == kXmlnsNamespace) {
            return fail("the xml and xmlns namespaces are reserved", a.name);
        }
        bind(prefix, ns);
    }
    return true;
}

bool XmlWriter::checkAttributes(const std::vector<Attribute>& attributes)
{
    // Expanded names {namespace, local}: two attributes may not share one, even when their
    // prefixes differ.
    std::vector<std::pair<std::string_view, std::string_view>> expanded;
    expanded.reserve(attributes.size());
    for (const Attribute& a : attributes) {
        if (!isQName(a.name)) {
            return fail("not an XML attribute name", a.name);
        }
        std::string_view prefix = qnamePrefix(a.name);
        if (a.name == "xmlns" || prefix == "xmlns") {
            expanded.emplace_back(kXmlnsNamespace, a.name);
            continue;
        }
        ValueView v{a.value};
        if (!isScalar(v)) {
            return fail("an attribute must be a string, number or boolean", a.name);
        }
        if (prefix.empty()) {
            expanded.emplace_back(std::string_view{}, a.name);
            continue;
        }
        std::string_view ns = lookup(prefix);
        if (ns.empty()) {
            return fail("attribute prefix not bound to a namespace", a.name);
        }
        expanded.emplace_back(ns, qnameLocal(a.name));
    }
    std::sort(expanded.begin(), expanded.end());
    if (std::adjacent_find(expanded.begin(), expanded.end()) != expanded.end()) {
        return fail("duplicate attribute");
    }
    return true;
}

bool XmlWriter::scalarText(ValueView value, bool attribute)
{
    if (value.isString()) {
        return escaped(value.asString(), attribute);
    }
    if (value.isBool()) {
        put(value.asBool() ? "true" : "false");
        return true;
    }
    if (value.isNumber()) {
        std::string text;
        if (!appendJsonNumber(*value.raw(), text)) {
            return fail("a number that is not finite has no XML form");
        }
        put(text);
        return true;
    }
    return fail("only strings, numbers and booleans have a text form");
}

bool XmlWriter::escaped(std::string_view text, bool attribute)
{
    std::size_t run = 0;  // start of the bytes not yet written
    std::size_t pos = 0;
    auto flush = [&](std::size_t end, std::string_view replacement) {
        put(text.substr(run, end - run));
        put(replacement);
    };
    while (pos < text.size()) {
        const unsigned char c = static_cast<unsigned char>(text[pos]);
        if (c >= 0x80) {
            char32_t cp = decodeUtf8(text, pos);
            if (cp == kInvalidCodePoint) {
                return fail("text is not valid UTF-8");
            }
            if (!isXmlChar(cp)) {
                return fail("text holds a character XML 1.0 cannot carry");
            }
            continue;
        }
        std::string_view replacement;
        switch (c) {
            case '&': replacement = "&amp;"; break;
            case '<': replacement = "&lt;"; break;
            case '>': replacement = "&gt;"; break;
            case '\r': replacement = "&#13;"; break;  // line-end normalisation would eat it
            case '"': replacement = attribute ? "&quot;" : ""; break;
            case '\'': replacement = attribute ? "&apos;" : ""; break;
            case '\t': replacement = attribute ? "&#9;" : ""; break;   // attribute-value
            case '\n': replacement = attribute ? "&#10;" : ""; break;  // normalisation
            default:
                if (c < 0x20) {
                    return fail("text holds a control character XML 1.0 cannot carry");
                }
                break;
        }
        if (!replacement.empty()) {
            flush(pos, replacement);
            run = pos + 1;
        }
        ++pos;
    }
    put(text.substr(run));
    return true;
}

}  // namespace sluice::plugins::codec
