// The xml_builder plugin (its real .so) through the fake host: the XML -> tree half of the
// mapping in docs/message-mapping.md, and the hardening against hostile documents.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "CodecTesting.hpp"

using namespace sluice::test;

namespace {

struct Fixture {
    FakeHost host;
    std::unique_ptr<FakeInstance> builder;
    FakeExchange ex = host.exchange();

    explicit Fixture(std::string_view config = "{}")
    {
        host.open(SLUICE_XML_BUILDER_PATH);
        builder = host.create("xml_builder", config);
    }
    const sluice_value* build(std::string_view bytes, std::string_view contentType = {})
    {
        return sluice::test::build(*builder, ex, bytes, "application/xml", contentType);
    }
    std::string tree(std::string_view bytes, std::string_view contentType = {})
    {
        const sluice_value* v = build(bytes, contentType);
        return v == nullptr ? "<refused>" : dump(v);
    }
};

// `ascii` as UTF-16LE with a byte order mark.
std::string utf16le(std::string_view ascii)
{
    std::string out = "\xFF\xFE";
    for (char c : ascii) {
        out.push_back(c);
        out.push_back('\0');
    }
    return out;
}

}  // namespace

TEST_CASE("manifest: one builder for XML types")
{
    FakeHost host;
    host.open(SLUICE_XML_BUILDER_PATH);
    const sluice_component* c = host.find("xml_builder");
    REQUIRE(c != nullptr);
    CHECK(c->kind == SLUICE_KIND_BUILDER);
    const auto* vt = static_cast<const sluice_builder_vtable*>(c->vtable);
    CHECK(handles(vt->media_types, "application/xml"));
    CHECK(handles(vt->media_types, "text/xml"));
    CHECK(handles(vt->media_types, "application/soap+xml"));
    CHECK_FALSE(handles(vt->media_types, "application/json"));
}

TEST_CASE_FIXTURE(Fixture, "mapping: the document is {root: content}, a leaf is its text")
{
    CHECK(tree("<a>hello</a>") == R"({"a":"hello"})");
    CHECK(tree("<?xml version=\"1.0\"?>\n<a>  spaced  </a>\n") == R"({"a":"  spaced  "})");
    CHECK(tree("<a/>") == R"({"a":""})");
    CHECK(tree("<a></a>") == R"({"a":""})");
    CHECK(tree("<a>5</a>") == R"({"a":"5"})");  // XML text is never typed
}

TEST_CASE_FIXTURE(Fixture, "mapping: children are members, repeated siblings an array at the first one's place")
{
    CHECK(tree("<order><id>7</id><item>a</item><note/><item>b</item><item>c</item></order>") ==
          R"({"order":{"id":"7","item":["a","b","c"],"note":""}})");
    CHECK(tree("<r><x><y>1</y></x><x><y>2</y><y>3</y></x></r>") == R"({"r":{"x":[{"y":"1"},{"y":["2","3"]}]}})");
}

TEST_CASE_FIXTURE(Fixture, "mapping: many distinct and repeated children (the indexed grouping)")
{
    std::string doc = "<r>";
    std::string expected = R"({"r":{)";
    for (int i = 0; i < 40; ++i) {
        doc += "<e" + std::to_string(i) + ">" + std::to_string(i) + "</e" + std::to_string(i) + ">";
        expected += (i > 0 ? "," : "") + std::string("\"e") + std::to_string(i) + "\":";
        expected += i == 3 ? "[\"3\",\"x\"]" : "\"" + std::to_string(i) + "\"";
    }
    doc += "<e3>x</e3></r>";
    expected += "}}";
    CHECK(tree(doc) == expected);
}

TEST_CASE_FIXTURE(Fixture, "mapping: attributes are @members first, text beside them is #text")
{
    CHECK(tree(R"(<a id="1" lang='en'>hi</a>)") == R"({"a":{"@id":"1","@lang":"en","#text":"hi"}})");
    CHECK(tree(R"(<a id="1"/>)") == R"({"a":{"@id":"1"}})");
    CHECK(tree(R"(<a id="1"><b>x</b></a>)") == R"({"a":{"@id":"1","b":"x"}})");
    CHECK(tree(R"(<a v="&lt;&amp;&quot;&#x41;"/>)") == R"({"a":{"@v":"<&\"A"}})");
}

TEST_CASE_FIXTURE(Fixture, "mapping: mixed content keeps one #text where the first text was")
{
    CHECK(tree("<p>Hello <b>big</b> world</p>") == R"({"p":{"#text":"Hello  world","b":"big"}})");
    CHECK(tree("<p><b>big</b> world</p>") == R"({"p":{"b":"big","#text":" world"}})");
    CHECK(tree("<p>\n  <b>x</b>\n  <c>y</c>\n</p>") == R"({"p":{"b":"x","c":"y"}})");  // blank text is layout
    CHECK(tree("<p><b>x</b>tail<c>y</c></p>") == R"({"p":{"b":"x","#text":"tail","c":"y"}})");
}

TEST_CASE_FIXTURE(Fixture, "mapping: CDATA is text, comments and processing instructions are dropped")
{
    CHECK(tree("<a><![CDATA[<not> & markup]]></a>") == R"({"a":"<not> & markup"})");
    CHECK(tree("<!-- c --><a>x<!-- c -->y<?pi data?></a><?pi?>") == R"({"a":"xy"})");
}

TEST_CASE_FIXTURE(Fixture, "mapping: namespaces stay in names as written, declarations as @xmlns members")
{
    CHECK(tree(R"(<s:Envelope xmlns:s="urn:s"><s:Body x:id="1" xmlns:x="urn:x"/></s:Envelope>)") ==
          R"({"s:Envelope":{"@xmlns:s":"urn:s","s:Body":{"@x:id":"1","@xmlns:x":"urn:x"}}})");
    CHECK(tree(R"(<a xmlns="urn:d"><b/></a>)") == R"({"a":{"@xmlns":"urn:d","b":""}})");
    CHECK(tree(R"(<a xml:lang="en">x</a>)") == R"({"a":{"@xml:lang":"en","#text":"x"}})");
}

TEST_CASE_FIXTURE(Fixture, "mapping: xsi:nil=\"true\" alone is null")
{
    const char* xsi = "http://www.w3.org/2001/XMLSchema-instance";
    CHECK(tree(std::string("<a xmlns:xsi=\"") + xsi + "\" xsi:nil=\"true\"/>") == R"({"a":null})");
    CHECK(tree(std::string("<r xmlns:i=\"") + xsi + "\"><a i:nil=\"true\"></a><b>x</b></r>") ==
          std::string(R"({"r":{"@xmlns:i":")") + xsi + R"(","a":null,"b":"x"}})");
    // anything more, or less, is not null
    CHECK(tree(std::string("<a xmlns:xsi=\"") + xsi + "\" xsi:nil=\"false\"/>") ==
          std::string(R"({"a":{"@xmlns:xsi":")") + xsi + R"(","@xsi:nil":"false"}})");
    CHECK(tree(std::string("<a xmlns:xsi=\"") + xsi + "\" xsi:nil=\"true\" id=\"1\"/>") ==
          std::string(R"({"a":{"@xmlns:xsi":")") + xsi + R"(","@xsi:nil":"true","@id":"1"}})");
    CHECK(tree("<a xmlns:xsi=\"urn:not-xsi\" xsi:nil=\"true\"/>") ==
          R"({"a":{"@xmlns:xsi":"urn:not-xsi","@xsi:nil":"true"}})");
}

TEST_CASE_FIXTURE(Fixture, "text is UTF-8 whatever the document's encoding")
{
    CHECK(tree("<a>&#x1F600;&#233;</a>") == R"({"a":"\xF0\x9F\x98\x80\xC3\xA9"})");
    CHECK(tree("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>caf\xE9</a>") == R"({"a":"caf\xC3\xA9"})");
    std::string utf16("\xFF\xFE", 2);
    for (char c : std::string("<a>z</a>")) {
        utf16.push_back(c);
        utf16.push_back('\0');
    }
    CHECK(tree(utf16) == R"({"a":"z"})");
}

TEST_CASE_FIXTURE(Fixture, "the tree lives in the exchange's arena, not in the body bytes")
{
    std::string body = R"(<a id="1"><b>x</b><b>y</b>text</a>)";
    const sluice_value* v = build(body);
    REQUIRE(v != nullptr);
    std::string before = dump(v);
    body.assign(body.size(), '#');
    CHECK(dump(v) == before);
}

TEST_CASE_FIXTURE(Fixture, "DOCTYPE is refused: billion laughs, XXE, external DTD, parameter entities")
{
    const char* attacks[] = {
        "<!DOCTYPE a><a/>",
        "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]><lolz>&lol3;</lolz>",
        "<?xml version=\"1.0\"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><foo>&xxe;</foo>",
        "<!DOCTYPE foo SYSTEM \"http://127.0.0.1:1/evil.dtd\"><foo/>",
        "<!DOCTYPE foo [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]><foo/>",
        "<!DOCTYPE a [<!ATTLIST a b CDATA \"injected\">]><a/>",
    };
    for (const char* doc : attacks) {
        const std::string shown_doc = shown(doc);
        CAPTURE(shown_doc);
        CHECK(build(doc) == nullptr);
    }
    CHECK(logged(host, "DOCTYPE"));
}

TEST_CASE_FIXTURE(Fixture, "undeclared entities and malformed documents are refused")
{
    const char* invalid[] = {
        "",
        "   ",
        "just text",
        "<a>",
        "<a></b>",
        "<a><b></a></b>",
        "<a/><b/>",
        "<a>&xxe;</a>",
        "<a>&#1;</a>",
        "<a b=\"1\" b=\"2\"/>",
        "<p:a/>",  // unbound prefix
        "<a p:b=\"1\"/>",
        "<a>\xC3\x28</a>",      // invalid UTF-8
        "<a>\xED\xA0\x80</a>",  // an encoded surrogate
        "<a>\x01</a>",          // not an XML character
        "<a x=\"<\"/>",
        "<1a/>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><?xml version=\"1.0\"?><a/>",
    };
    for (const char* doc : invalid) {
        const std::string shown_doc = shown(doc);
        CAPTURE(shown_doc);
        CHECK(build(doc) == nullptr);
    }
}

TEST_CASE_FIXTURE(Fixture, "only XML 1.0 is read: a 1.1 document could not be written back")
{
    // XML 1.1 admits C0 controls (&#x1;) and NEL/U+2028 line ends that the formatter's 1.0 cannot
    // carry: the conversion would fail on the way out.
    for (const char* doc : {"<?xml version=\"1.1\"?><root><a>&#x1;</a></root>", "<?xml version='1.1'?><a/>",
                            "<?xml version=\"2.0\"?><a/>"}) {
        CAPTURE(doc);
        CHECK(build(doc) == nullptr);
    }
    // In UTF-16 (with its byte order mark) too; the same document as 1.0 is read.
    auto utf16 = [](const std::string& ascii) {
        std::string out("\xFF\xFE");
        for (char c : ascii) {
            out.push_back(c);
            out.push_back('\0');
        }
        return out;
    };
    CHECK(build(utf16("<?xml version=\"1.1\"?><a/>")) == nullptr);
    CHECK(build(utf16("<?xml version=\"1.0\"?><a/>")) != nullptr);
    CHECK(tree("<?xml version=\"1.0\"?><a>1</a>") == R"({"a":"1"})");
    CHECK(tree("<?xml-stylesheet href=\"x.xsl\"?><a>1</a>") == R"({"a":"1"})");  // no declaration
}

TEST_CASE_FIXTURE(Fixture, "a refused parse leaves the thread's parser ready for the next body")
{
    CHECK(build("<!DOCTYPE a><a/>") == nullptr);
    CHECK(build("<a><b></a>") == nullptr);
    CHECK(build(repeat("<a>", 100)) == nullptr);
    CHECK(tree("<ok>yes</ok>") == R"({"ok":"yes"})");
}

TEST_CASE_FIXTURE(Fixture, "depth: max_depth nested elements are fine, one more is refused, a bomb quickly")
{
    CHECK(build(repeat("<a>", 64) + repeat("</a>", 64)) != nullptr);
    CHECK(build(repeat("<a>", 65) + repeat("</a>", 65)) == nullptr);
    auto start = std::chrono::steady_clock::now();
    CHECK(build(repeat("<a>", 2u << 20) + repeat("</a>", 2u << 20)) == nullptr);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
}

TEST_CASE_FIXTURE(
    Fixture, "attributes: a tag with thousands of namespace-prefixed attributes is refused before Xerces builds it")
{
    // Xerces builds and checks a start tag's attribute list in time that grows with the square of
    // its size (20,000 declarations with prefixed attributes took seconds): counted on the bytes first.
    std::string tag = "<a";
    for (int i = 0; i < 20000; ++i) {
        tag += " xmlns:p" + std::to_string(i) + "=\"u" + std::to_string(i) + "\" p" + std::to_string(i) + ":x=\"\"";
    }
    auto start = std::chrono::steady_clock::now();
    CHECK(build(tag + "/>") == nullptr);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
}

TEST_CASE_FIXTURE(Fixture, "namespaces: more declarations in scope than max_namespaces are refused before they cost")
{
    // 60 levels of 255 declarations, then 10,000 elements with 39 prefixed attributes each: Xerces
    // resolves each prefixed name against every declaration in scope (seconds of CPU).
    std::string doc;
    for (int level = 0; level < 60; ++level) {
        doc += "<e" + std::to_string(level);
        for (int p = 0; p < 255; ++p) {
            doc += " xmlns:p" + std::to_string(p) + "=\"urn:" + std::to_string(level) + ":" + std::to_string(p) + "\"";
        }
        doc += ">";
    }
    for (int i = 0; i < 10000; ++i) {
        doc += "<c";
        for (int a = 0; a < 39; ++a) {
            doc += " p0:a" + std::to_string(a) + "=\"\"";
        }
        doc += "/>";
    }
    for (int level = 59; level >= 0; --level) {
        doc += "</e" + std::to_string(level) + ">";
    }
    auto start = std::chrono::steady_clock::now();
    CHECK(build(doc) == nullptr);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
    // Within the limit: 256 in scope, over two levels, and as many again in a sibling.
    auto declarations = [](int from, int to) {
        std::string out;
        for (int p = from; p < to; ++p) {
            out += " xmlns:q" + std::to_string(p) + "=\"urn:q" + std::to_string(p) + "\"";
        }
        return out;
    };
    const std::string fits = "<r" + declarations(0, 128) + "><a" + declarations(128, 256) + "><q255:x/></a><b" +
                             declarations(128, 256) + "/></r>";
    CHECK(build(fits) != nullptr);
    const std::string over = "<r" + declarations(0, 128) + "><a" + declarations(128, 257) + "/></r>";
    CHECK(build(over) == nullptr);
    Fixture wide(R"({"max_namespaces": 300})");
    CHECK(wide.build(over) != nullptr);
}

TEST_CASE("attributes: only the '=' of attributes count, not those in values, text, or other tags")
{
    Fixture f(R"({"max_attributes": 2})");
    CHECK(f.build("<a x=\"1=2=3\" y='a=\"b\"=c'>k=v&amp;l=w=x=y<b z=\"=\"/></a>") != nullptr);
    CHECK(f.build("<a x=\"1\" y='2' z=\"3\"/>") == nullptr);
    CHECK(f.build("<a x=\">\" y=\"2\" z=\"3\"/>") == nullptr);  // a '>' inside a value ends nothing
    // Text that only looks like a tag: in a CDATA section, a comment, a processing instruction.
    const std::string fake = "<x a0=\"1\" a1=\"1\" a2=\"1\" a3=\"1\">";
    CHECK(f.build("<r><![CDATA[" + fake + "]]></r>") != nullptr);
    CHECK(f.build("<r><!-- " + fake + " --></r>") != nullptr);
    CHECK(f.build("<r><?pi " + fake + " ?></r>") != nullptr);
    CHECK(f.build("<?xml version=\"1.0\"?><!-- a=1 b=2 c=3 --><r/>") != nullptr);
    // After them tags are counted again.
    CHECK(f.build("<r><!-- x --><a x=\"1\" y='2' z=\"3\"/></r>") == nullptr);
    CHECK(f.build("<r><![CDATA[]]><a x=\"1\" y='2' z=\"3\"/></r>") == nullptr);
    CHECK(f.build(utf16le("<r><![CDATA[" + fake + "]]></r>")) != nullptr);
    CHECK(f.build(utf16le("<r><!-- x --><a x=\"1\" y='2' z=\"3\"/></r>")) == nullptr);
}

TEST_CASE("encodings: byte order marks and ASCII-compatible encodings are read, others are refused")
{
    Fixture f(R"({"max_attributes": 2})");
    CHECK(f.build(utf16le("<a x=\"1\">t</a>")) != nullptr);
    CHECK(f.build(utf16le("<a x=\"1\">t</a>") + "\n") == nullptr);       // a stray byte after the last code unit
    CHECK(f.build(utf16le("<a x=\"1\" y=\"2\" z=\"3\"/>")) == nullptr);  // counted in code units
    CHECK(f.build("\xEF\xBB\xBF<a/>") != nullptr);
    for (const char* accepted : {"UTF-8", "us-ascii", "ISO-8859-1", "iso-8859-15", "windows-1252"}) {
        CAPTURE(accepted);
        CHECK(f.build("<?xml version=\"1.0\" encoding=\"" + std::string(accepted) + "\"?><a>t</a>") != nullptr);
    }
    // Encodings in which '<', '=' or the quotes are not single bytes of their own.
    for (const char* refused : {"UTF-7", "ISO-2022-JP", "IBM037", "UTF-16", "Shift_JIS"}) {
        CAPTURE(refused);
        CHECK(f.build("<?xml version=\"1.0\" encoding=\"" + std::string(refused) + "\"?><a>t</a>") == nullptr);
    }
    // An encoding declared after so much padding that the look for it would stop before it.
    CHECK(f.build("<?xml version=\"1.0\"" + std::string(2000, ' ') + "encoding=\"UTF-7\"?><a/>") == nullptr);
    CHECK(f.build(std::string("<\0a\0/\0>\0", 8)) == nullptr);  // UTF-16 without a byte order mark
    CHECK(f.build("\x4C\x6F\xA7\x94\x40\xA5\x85\x99\xA2\x89\x96\x95\x7E\x7F\xF1\x4B\xF0\x7F\x6F\x6E") ==
          nullptr);  // EBCDIC
}

TEST_CASE_FIXTURE(
    Fixture,
    "encodings: the Content-Type's charset is read, must agree with a declaration, and a byte order mark outranks both")
{
    // RFC 7303 §3: byte order mark, then charset, then the XML declaration, then UTF-8.
    CHECK(tree("<a>caf\xE9</a>") == "<refused>");  // not UTF-8
    CHECK(tree("<a>caf\xE9</a>", "application/xml; charset=iso-8859-1") == R"({"a":"caf\xC3\xA9"})");
    CHECK(tree("<a>caf\xE9</a>", "application/xml;charset=\"ISO-8859-1\"") == R"({"a":"caf\xC3\xA9"})");
    CHECK(tree("<a>\x80</a>", "text/xml; q=1 ; Charset=windows-1252") == R"({"a":"\xE2\x82\xAC"})");
    // With a declaration too, both must name one encoding (aliases allowed).
    CHECK(tree("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>caf\xE9</a>", "application/xml; charset=latin1") ==
          R"({"a":"caf\xC3\xA9"})");
    CHECK(tree("<?xml version=\"1.0\" encoding=\"utf8\"?><a>caf\xC3\xA9</a>", "application/xml; charset=UTF-8") ==
          R"({"a":"caf\xC3\xA9"})");
    CHECK(tree("<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>caf\xE9</a>", "application/xml; charset=latin1") ==
          "<refused>");
    CHECK(tree("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>caf\xC3\xA9</a>", "application/xml; charset=utf-8") ==
          "<refused>");
    // A declaration the prescan cannot follow stays refused whatever the charset: UTF-7 would
    // hide markup from the limits ("+ADw-b/+AD4-" is <b/> to a backend reading UTF-7).
    CHECK(tree("<?xml version=\"1.0\" encoding=\"UTF-7\"?><a>+ADw-b/+AD4-</a>", "application/xml; charset=utf-8") ==
          "<refused>");
    CHECK(tree("<?xml version=\"1.0\" encoding=\"IBM037\"?><a/>", "application/xml; charset=latin1") == "<refused>");
    CHECK(tree("<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>", "application/xml; charset=utf-8") == "<refused>");
    // A byte order mark wins over the charset.
    CHECK(tree("\xEF\xBB\xBF<a>caf\xC3\xA9</a>", "application/xml; charset=iso-8859-1") == R"({"a":"caf\xC3\xA9"})");
    std::string utf16("\xFF\xFE", 2);
    for (char c : std::string("<a>z</a>")) {
        utf16.push_back(c);
        utf16.push_back('\0');
    }
    CHECK(tree(utf16, "application/xml; charset=us-ascii") == R"({"a":"z"})");
    // A charset the attribute check cannot read soundly, one without a byte order mark that
    // needs one, and parameters that cannot be read are refused.
    CHECK(tree("<a>t</a>", "application/xml; charset=utf-16") == "<refused>");
    CHECK(tree("<a>t</a>", "application/xml; charset=IBM037") == "<refused>");
    CHECK(tree("<a>t</a>", "application/xml; charset=utf-7") == "<refused>");
    CHECK(tree("<a>t</a>", "application/xml; charset=") == "<refused>");
    CHECK(tree("<a>t</a>", "application/xml; charset=\"\"") == "<refused>");
    CHECK(tree("<a>t</a>", "application/xml; charset=\"latin1") == "<refused>");
    CHECK(tree("<a>t</a>", "application/xml; charset=latin1; charset=utf-8") == "<refused>");
    CHECK(tree("<a>t</a>", "application/xml; charset latin1") == "<refused>");
    // Parameters other than charset change nothing; an empty parameter is allowed.
    CHECK(tree("<a>t</a>", "application/xml; ; version=\"1.0\"") == R"({"a":"t"})");
}

TEST_CASE_FIXTURE(Fixture, "the 1.0 build slot still builds, without parameters")
{
    // What a host that predates build_message calls; the SDK forwards it to buildMessage.
    const sluice_builder_vtable& vt = builderTable(*builder);
    const bool hasBuild = vt.build != nullptr;
    REQUIRE(hasBuild);
    const sluice_value* out = nullptr;
    REQUIRE(vt.build(builder->get(), ex.handle(), sluice::sdk::str("application/xml"), sluice::sdk::str("<a>t</a>"),
                     &out) == SLUICE_OK);
    REQUIRE(out != nullptr);
    CHECK(dump(out) == R"({"a":"t"})");
    out = nullptr;
    CHECK(vt.build(builder->get(), ex.handle(), sluice::sdk::str("application/xml"), sluice::sdk::str("<a>caf\xE9</a>"),
                   &out) == SLUICE_E_INVALID);
    CHECK(out == nullptr);
}

TEST_CASE("every limit is configurable and enforced")
{
    SUBCASE("max_bytes")
    {
        Fixture f(R"({"max_bytes": 8})");
        CHECK(f.build("<a>1</a>") != nullptr);
        CHECK(f.build("<a>12</a>") == nullptr);
    }
    SUBCASE("max_depth")
    {
        Fixture f(R"({"max_depth": 2})");
        CHECK(f.build("<a><b/></a>") != nullptr);
        CHECK(f.build("<a><b><c/></b></a>") == nullptr);
    }
    SUBCASE("max_string_bytes: text, attribute values and names")
    {
        Fixture f(R"({"max_string_bytes": 4})");
        CHECK(f.build("<a>abcd</a>") != nullptr);
        CHECK(f.build("<a>abcde</a>") == nullptr);
        CHECK(f.build("<a>ab<b/>cde</a>") == nullptr);  // an element's text pieces add up
        // Indentation between children is left out of the tree: it does not count, until text
        // that is kept joins it.
        CHECK(f.tree("<a>\n  <b/>\n  <b/>\n  <c>x</c>\n</a>") == R"({"a":{"b":["",""],"c":"x"}})");
        CHECK(f.build("<a><b/>" + std::string(100, ' ') + "<b/>\n\t\r  </a>") != nullptr);
        CHECK(f.build("<a><b/>" + std::string(100, ' ') + "x</a>") == nullptr);
        CHECK(f.build("<a>" + std::string(5, ' ') + "<b/></a>") == nullptr);  // no child yet: it might be the text
        CHECK(f.build("<a v=\"abcde\"/>") == nullptr);
        CHECK(f.build("<abcde/>") == nullptr);
        CHECK(f.build("<a abcd=\"1\"/>") == nullptr);  // "@abcd"
    }
    SUBCASE("max_attributes, max_children, max_nodes")
    {
        Fixture f(R"({"max_attributes": 2, "max_children": 3, "max_nodes": 6})");
        CHECK(f.build("<a x=\"1\" y=\"2\"/>") != nullptr);
        CHECK(f.build("<a x=\"1\" y=\"2\" z=\"3\"/>") == nullptr);
        CHECK(f.build("<a><b/><b/><b/></a>") != nullptr);
        CHECK(f.build("<a><b/><b/><b/><b/></a>") == nullptr);
        CHECK(f.build("<a><b x=\"1\"/><b x=\"1\"/><c/></a>") != nullptr);
        CHECK(f.build("<a x=\"1\"><b x=\"1\"/><b x=\"1\"/><c/></a>") == nullptr);
    }
    SUBCASE("a huge text is refused while it streams in")
    {
        Fixture f;
        CHECK(f.build("<a>" + std::string((1u << 20) + 1, 'x') + "</a>") == nullptr);
        CHECK(f.build("<a>" + std::string(1u << 20, 'x') + "</a>") != nullptr);
    }
}

TEST_CASE("builds run concurrently, one parser per worker thread")
{
    FakeHost host;
    host.open(SLUICE_XML_BUILDER_PATH);
    auto builder = host.create("xml_builder");
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                auto ex = host.exchange();
                std::string n = std::to_string(t * 1000 + i);
                const sluice_value* v = build(*builder, ex, "<r><n>" + n + "</n><n>x</n></r>");
                if (v != nullptr && dump(v) == R"({"r":{"n":[")" + n + R"(","x"]}})") {
                    ++good;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(good == 800);
}

TEST_CASE("a configuration outside the bounds is refused at create")
{
    FakeHost host;
    host.open(SLUICE_XML_BUILDER_PATH);
    CHECK_THROWS(host.create("xml_builder", R"({"max_depth": 0})"));
    CHECK_THROWS(host.create("xml_builder", R"({"max_attributes": -1})"));
    CHECK_NOTHROW(host.create("xml_builder", R"({"max_depth": 100})"));
}
