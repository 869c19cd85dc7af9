#include "XmlPrescan.h"

#include <cstdint>
#include <initializer_list>
#include <utility>

namespace sluice::plugins {
namespace {

enum class Width { Byte = 1, Utf16 = 2, Utf32 = 4 };

struct Layout {
    Width width = Width::Byte;
    bool bigEndian = false;
    std::size_t start = 0;  // after the byte order mark
};

bool startsWith(std::string_view bytes, std::initializer_list<unsigned char> prefix)
{
    if (bytes.size() < prefix.size()) {
        return false;
    }
    std::size_t i = 0;
    for (unsigned char b : prefix) {
        if (static_cast<unsigned char>(bytes[i++]) != b) {
            return false;
        }
    }
    return true;
}

// The code unit at `at` (which must leave room for one).
std::uint32_t unitAt(std::string_view bytes, std::size_t at, const Layout& layout)
{
    const auto byte = [&](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + i]));
    };
    switch (layout.width) {
        case Width::Byte: return byte(0);
        case Width::Utf16: return layout.bigEndian ? (byte(0) << 8) | byte(1) : byte(0) | (byte(1) << 8);
        case Width::Utf32:
            return layout.bigEndian ? (byte(0) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3)
                                    : byte(0) | (byte(1) << 8) | (byte(2) << 16) | (byte(3) << 24);
    }
    return 0;
}

// The text of the XML declaration's code units as ASCII (other units as '?'), or "" without one.
// A declaration that does not end within kLongestDeclaration units is returned unterminated (its
// encoding might come later, where it is not looked for).
std::string declaration(std::string_view bytes, const Layout& layout)
{
    constexpr std::size_t kLongestDeclaration = 1024;
    const auto step = static_cast<std::size_t>(layout.width);
    std::string text;
    for (std::size_t at = layout.start; at + step <= bytes.size() && text.size() < kLongestDeclaration; at += step) {
        const std::uint32_t unit = unitAt(bytes, at, layout);
        text.push_back(unit < 0x80 ? static_cast<char>(unit) : '?');
        if (text.size() >= 2 && text.compare(text.size() - 2, 2, "?>") == 0) {
            break;
        }
    }
    return text.rfind("<?xml", 0) == 0 ? text : std::string();
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// The value of `attribute`="…" in a declaration; `absent` when it has none, "?" when unreadable.
std::string declaredValue(const std::string& decl, std::string_view attribute, std::string_view absent)
{
    std::size_t at = decl.find(attribute);
    if (at == std::string::npos) {
        return std::string(absent);
    }
    at = decl.find_first_of("\"'", at);
    const std::size_t end = at == std::string::npos ? at : decl.find(decl[at], at + 1);
    return end == std::string::npos ? "?" : decl.substr(at + 1, end - at - 1);
}

// The value of encoding="…" in a declaration, lower-cased; "" when absent.
std::string declaredEncoding(const std::string& decl)
{
    std::string name = declaredValue(decl, "encoding", "");
    for (char& c : name) {
        c = lower(c);
    }
    return name;
}

// The value of version="…" in an XML declaration ("" when `decl` is none, "?" when unreadable).
// "<?xml-stylesheet …?>" is a processing instruction, not a declaration.
std::string declaredVersion(const std::string& decl)
{
    if (decl.size() < 6 || (decl[5] != ' ' && decl[5] != '\t' && decl[5] != '\r' && decl[5] != '\n')) {
        return "";
    }
    return declaredValue(decl, "version", "?");  // a declaration must have a version
}

// Encodings in which every byte below 0x80 is that ASCII character.
bool byteSafeEncoding(const std::string& name)
{
    if (name.empty() || name == "utf-8" || name == "utf8" || name == "us-ascii" || name == "ascii") {
        return true;
    }
    if (name.rfind("iso-8859-", 0) == 0) {
        return name.size() > 9 && name.find_first_not_of("0123456789", 9) == std::string::npos;
    }
    if (name.rfind("windows-125", 0) == 0) {
        return name.size() == 12 && name[11] >= '0' && name[11] <= '8';
    }
    return name == "latin1";
}

// One name for the aliases of an encoding that a charset and a declaration commonly mix.
std::string canonicalEncoding(const std::string& name)
{
    if (name == "utf8") {
        return "utf-8";
    }
    if (name == "latin1") {
        return "iso-8859-1";
    }
    if (name == "ascii") {
        return "us-ascii";
    }
    return name;
}

// Works out the layout from the byte order mark; false (with `why`) for encodings refused here.
// `charset` (lower-case, "" when absent) overrides the declaration but not a byte order mark.
bool detectLayout(std::string_view bytes, std::string_view charset, Layout& layout, std::string& why)
{
    if (startsWith(bytes, {0x00, 0x00, 0xFE, 0xFF})) {
        layout = {Width::Utf32, true, 4};
    } else if (startsWith(bytes, {0xFF, 0xFE, 0x00, 0x00})) {
        layout = {Width::Utf32, false, 4};
    } else if (startsWith(bytes, {0xFE, 0xFF})) {
        layout = {Width::Utf16, true, 2};
    } else if (startsWith(bytes, {0xFF, 0xFE})) {
        layout = {Width::Utf16, false, 2};
    } else if (startsWith(bytes, {0xEF, 0xBB, 0xBF})) {
        layout = {Width::Byte, false, 3};
    } else {
        layout = {Width::Byte, false, 0};
        // UTF-16/32 without a byte order mark, and EBCDIC, show in the first bytes of '<' or '<?xml'.
        if (bytes.find('\0') < 4 || startsWith(bytes, {0x4C, 0x6F, 0xA7, 0x94})) {
            why = "the document's encoding is not accepted (UTF-16 and UTF-32 need a byte order mark)";
            return false;
        }
    }
    const std::string decl = declaration(bytes, layout);
    if (!decl.empty() && decl.compare(decl.size() - 2, 2, "?>") != 0) {
        why = "the XML declaration does not end within 1024 characters";
        return false;
    }
    if (const std::string version = declaredVersion(decl); !version.empty() && version != "1.0") {
        // XML 1.1 admits characters (C0 controls) and line ends that 1.0, which the formatter
        // writes, cannot carry: a document read as 1.1 could not be written back.
        why = "only XML 1.0 documents are accepted (the declaration says version \"" + version + "\")";
        return false;
    }
    const std::string encoding = declaredEncoding(decl);
    if (layout.start == 0 && !charset.empty()) {
        const std::string named(charset);
        if (!byteSafeEncoding(named)) {
            why = "the Content-Type's charset \"" + named +
                  "\" is not accepted (UTF-16 and UTF-32 need a byte order mark)";
            return false;
        }
        // The charset wins (RFC 7303 §3), but a backend that follows the declaration would read
        // another document: both must name the same encoding when both are there.
        if (!encoding.empty() && canonicalEncoding(encoding) != canonicalEncoding(named)) {
            why = "the Content-Type's charset \"" + named + "\" and the XML declaration's encoding \"" + encoding +
                  "\" differ";
            return false;
        }
        return true;
    }
    const bool accepted =
        layout.width == Width::Byte
            ? byteSafeEncoding(encoding)
            : encoding.empty() || encoding.rfind(layout.width == Width::Utf16 ? "utf-16" : "utf-32", 0) == 0;
    if (!accepted) {
        why = "the document's encoding \"" + encoding + "\" is not accepted";
        return false;
    }
    return true;
}

// Whether the units from `at` on spell `ascii`.
bool spells(std::string_view bytes, std::size_t at, const Layout& layout, std::string_view ascii)
{
    const auto step = static_cast<std::size_t>(layout.width);
    for (char c : ascii) {
        if (at + step > bytes.size() || unitAt(bytes, at, layout) != static_cast<unsigned char>(c)) {
            return false;
        }
        at += step;
    }
    return true;
}

// A comment, CDATA section or processing instruction starting at `at` (just after its '<'):
// the offset just past its end (the end of the input when it has none); `at` when none starts.
// Their text may look like a tag ("<![CDATA[<x a0='1' ...>]]>") but holds no attributes.
std::size_t pastMarkup(std::string_view bytes, std::size_t at, const Layout& layout)
{
    const auto step = static_cast<std::size_t>(layout.width);
    std::string_view close;
    std::size_t from = at;
    if (spells(bytes, at, layout, "!--")) {
        close = "-->";
        from += 3 * step;
    } else if (spells(bytes, at, layout, "![CDATA[")) {
        close = "]]>";
        from += 8 * step;
    } else if (spells(bytes, at, layout, "?")) {
        close = "?>";
        from += step;
    } else {
        return at;
    }
    for (; from + step <= bytes.size(); from += step) {
        if (spells(bytes, from, layout, close)) {
            return from + close.size() * step;
        }
    }
    return bytes.size();
}

}  // namespace

XmlPrescan prescanXml(std::string_view bytes, std::size_t maxAttributes, std::string_view charset)
{
    std::string named(charset);
    for (char& c : named) {
        c = lower(c);
    }
    Layout layout;
    XmlPrescan result;
    if (!detectLayout(bytes, named, layout, result.refused)) {
        return result;
    }
    if (layout.start == 0) {
        result.encoding = std::move(named);  // no byte order mark: the charset, if any, decides
    }
    if ((bytes.size() - layout.start) % static_cast<std::size_t>(layout.width) != 0) {
        // Xerces drops such a tail; another parser may refuse the document or read the byte.
        result.refused = "the document ends inside a UTF-16 or UTF-32 code unit";
        return result;
    }
    // Counts the '=' of attributes in each tag: from a '<' to the '>' that ends it outside quotes.
    // A '<' cannot occur in an attribute value, so every tag starts a count afresh; a malformed
    // tag only makes the count larger, and text between tags is not counted, nor comments, CDATA
    // sections and processing instructions.
    const auto step = static_cast<std::size_t>(layout.width);
    bool inTag = false;
    std::uint32_t quote = 0;
    std::size_t equals = 0;
    for (std::size_t at = layout.start; at + step <= bytes.size(); at += step) {
        const std::uint32_t unit = unitAt(bytes, at, layout);
        if (unit == '<') {
            if (const std::size_t past = pastMarkup(bytes, at + step, layout); past != at + step) {
                inTag = false;
                at = past - step;  // the loop steps on to `past`
                continue;
            }
            inTag = true;
            quote = 0;
            equals = 0;
        } else if (!inTag) {
            continue;
        } else if (quote != 0) {
            quote = unit == quote ? 0 : quote;
        } else if (unit == '"' || unit == '\'') {
            quote = unit;
        } else if (unit == '>') {
            inTag = false;
        } else if (unit == '=' && ++equals > maxAttributes) {
            result.refused = "an element has more attributes than max_attributes";
            return result;
        }
    }
    return result;
}

}  // namespace sluice::plugins
