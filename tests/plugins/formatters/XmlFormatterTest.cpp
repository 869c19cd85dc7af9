// The xml_formatter plugin (its real .so) through the fake host: the tree -> XML half of the
// mapping in docs/message-mapping.md, and XML -> tree -> XML round trips with the xml_builder.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "CodecTesting.hpp"

using namespace sluice::test;
using sluice::sdk::testing::JsonTree;

namespace {

constexpr const char* kXsi = "http://www.w3.org/2001/XMLSchema-instance";

struct Fixture {
    FakeHost host;
    std::unique_ptr<FakeInstance> formatter;
    std::unique_ptr<FakeInstance> builder;
    FakeExchange ex = host.exchange();

    explicit Fixture(std::string_view config = R"({"xml_declaration": false})")
    {
        host.open(SLUICE_XML_FORMATTER_PATH);
        host.open(SLUICE_XML_BUILDER_PATH);
        formatter = host.create("xml_formatter", config);
        builder = host.create("xml_builder");
    }
    std::string write(const sluice_value* v) { return format(*formatter, ex, v).value_or("<fails>"); }
    // The tree is written as JSON for readability.
    std::string write(std::string_view json)
    {
        JsonTree tree(json);
        return write(tree.root());
    }
    std::string roundTrip(std::string_view xml)
    {
        const sluice_value* v = build(*builder, ex, xml);
        return v == nullptr ? "<refused>" : write(v);
    }
};

sluice_value stringNode(std::string_view s)
{
    sluice_value v{};
    v.type = SLUICE_VALUE_STRING;
    v.text = sluice_str{s.data(), s.size()};
    return v;
}

}  // namespace

TEST_CASE_FIXTURE(Fixture, "manifest: a formatter for the XML builder's media types")
{
    CHECK(handles(formatterTable(*formatter).media_types, "application/xml"));
    CHECK(handles(formatterTable(*formatter).media_types, "text/xml"));
}

TEST_CASE("the XML declaration is written unless turned off")
{
    Fixture f("{}");
    CHECK(f.write(R"({"a":"x"})") == R"(<?xml version="1.0" encoding="UTF-8"?><a>x</a>)");
}

TEST_CASE_FIXTURE(Fixture, "mapping: members are children, arrays repeat the element, scalars are text")
{
    CHECK(write(R"({"order":{"id":7,"paid":true,"item":["a","b"],"note":""}})") ==
          "<order><id>7</id><paid>true</paid><item>a</item><item>b</item><note/></order>");
    CHECK(write(R"({"r":{"x":[{"y":"1"},{"y":["2","3"]}]}})") == "<r><x><y>1</y></x><x><y>2</y><y>3</y></x></r>");
    CHECK(write(R"({"r":{}})") == "<r/>");
    CHECK(write(R"({"r":{"none":[]}})") == "<r/>");  // an empty array writes nothing
    CHECK(write(R"({"r":1.50})") == "<r>1.50</r>");
}

TEST_CASE_FIXTURE(Fixture, "mapping: @members are attributes, #text is text where it stands")
{
    CHECK(write(R"({"a":{"b":"x","@id":"1","@n":2,"@ok":false}})") == R"(<a id="1" n="2" ok="false"><b>x</b></a>)");
    CHECK(write(R"({"a":{"@id":"1","#text":"hi"}})") == R"(<a id="1">hi</a>)");
    CHECK(write(R"({"p":{"#text":"Hello ","b":"big","c":"!"}})") == "<p>Hello <b>big</b><c>!</c></p>");
    CHECK(write(R"({"p":{"b":"big","#text":" world"}})") == "<p><b>big</b> world</p>");
}

TEST_CASE_FIXTURE(Fixture, "mapping: null is xsi:nil, declared only where no ancestor did")
{
    CHECK(write(R"({"a":null})") == std::string("<a xmlns:xsi=\"") + kXsi + "\" xsi:nil=\"true\"/>");
    CHECK(write(std::string(R"({"r":{"@xmlns:xsi":")") + kXsi + R"(","a":null}})") ==
          std::string("<r xmlns:xsi=\"") + kXsi + "\"><a xsi:nil=\"true\"/></r>");
    // an element that itself uses xsi for another namespace gets another prefix
    CHECK(write(R"({"r":{"@xmlns:xsi":"urn:other","xsi:a":null}})") ==
          std::string("<r xmlns:xsi=\"urn:other\"><xsi:a xmlns:xsi0=\"") + kXsi + "\" xsi0:nil=\"true\"/></r>");
}

TEST_CASE_FIXTURE(Fixture, "escaping in text and in attributes")
{
    sluice_value text = stringNode("a & b < c > d \"q\" 'a' tab\t nl\n cr\r ]]>");
    sluice_member root{sluice_str{"t", 1}, text};
    sluice_value doc{};
    doc.type = SLUICE_VALUE_OBJECT;
    doc.count = 1;
    doc.members = &root;
    CHECK(write(&doc) == "<t>a &amp; b &lt; c &gt; d \"q\" 'a' tab\t nl\n cr&#13; ]]&gt;</t>");

    sluice_member attr{sluice_str{"@v", 2}, text};
    sluice_value element{};
    element.type = SLUICE_VALUE_OBJECT;
    element.count = 1;
    element.members = &attr;
    root.value = element;
    CHECK(write(&doc) ==
          "<t v=\"a &amp; b &lt; c &gt; d &quot;q&quot; &apos;a&apos; tab&#9; nl&#10; cr&#13; ]]&gt;\"/>");
    // and the parser gives back exactly what was written
    CHECK(dump(build(*builder, ex, write(&doc))) == dump(&doc));
}

TEST_CASE_FIXTURE(Fixture, "characters XML 1.0 cannot carry, and invalid UTF-8, are refused")
{
    for (std::string_view bad : {std::string_view("a\x01"), std::string_view("\0", 1), std::string_view("\x1F"),
                                 std::string_view("\xEF\xBF\xBE"), std::string_view("\xEF\xBF\xBF"),
                                 std::string_view("\xC3\x28"), std::string_view("\xED\xA0\x80")}) {
        const std::string shown_bad = shown(bad);
        CAPTURE(shown_bad);
        sluice_value v = stringNode(bad);
        sluice_member m{sluice_str{"a", 1}, v};
        sluice_value doc{};
        doc.type = SLUICE_VALUE_OBJECT;
        doc.count = 1;
        doc.members = &m;
        CHECK(write(&doc) == "<fails>");
    }
    CHECK(logged(host, "cannot write the message as XML"));
}

TEST_CASE_FIXTURE(Fixture, "names must be XML names and the document form must hold")
{
    CHECK(write(R"({"1a":"x"})") == "<fails>");
    CHECK(write(R"({"a b":"x"})") == "<fails>");
    CHECK(write(R"({"":"x"})") == "<fails>");
    CHECK(write(R"({"r":{"first name":"x"}})") == "<fails>");
    CHECK(write(R"({"r":{"@":"x"}})") == "<fails>");
    CHECK(write(R"({"r":{"@a b":"x"}})") == "<fails>");
    CHECK(write(R"({"r":{"#comment":"x"}})") == "<fails>");
    CHECK(write(R"({"@a":"x"})") == "<fails>");
    CHECK(write(R"({"#text":"x"})") == "<fails>");
    CHECK(write(R"({"a:b:c":"x"})") == "<fails>");
    CHECK(write(R"({"xmlns:a":"x"})") == "<fails>");
    // the document form: exactly one root member whose value is not an array
    CHECK(write(R"({"a":"x","b":"y"})") == "<fails>");
    CHECK(write(R"({})") == "<fails>");
    CHECK(write(R"({"a":["x","y"]})") == "<fails>");
    CHECK(write(R"(["a"])") == "<fails>");
    CHECK(write(R"("a")") == "<fails>");
    // what has no XML form
    CHECK(write(R"({"r":{"a":[["x"]]}})") == "<fails>");
    CHECK(write(R"({"r":{"@a":{"b":"c"}}})") == "<fails>");
    CHECK(write(R"({"r":{"@a":null}})") == "<fails>");
    CHECK(write(R"({"r":{"#text":["x"]}})") == "<fails>");
    CHECK(write(R"({"r":{"#text":null}})") == "<fails>");
}

TEST_CASE_FIXTURE(Fixture, "namespaces: prefixes must be declared in scope, and expanded names unique")
{
    CHECK(write(R"({"p:a":"x"})") == "<fails>");
    CHECK(write(R"({"p:a":{"@xmlns:p":"urn:p","#text":"x"}})") == R"(<p:a xmlns:p="urn:p">x</p:a>)");
    CHECK(write(R"({"r":{"@xmlns:p":"urn:p","p:a":{"@p:id":"1"}}})") == R"(<r xmlns:p="urn:p"><p:a p:id="1"/></r>)");
    CHECK(write(R"({"r":{"a":{"@xmlns:p":"urn:p"},"p:b":"x"}})") == "<fails>");  // out of scope
    CHECK(write(R"({"r":{"@q:id":"1"}})") == "<fails>");
    CHECK(write(R"({"r":{"@xml:lang":"en"}})") == R"(<r xml:lang="en"/>)");
    CHECK(write(R"({"r":{"@xmlns:p":"urn:x","@xmlns:q":"urn:x","@p:id":"1","@q:id":"2"}})") == "<fails>");
    CHECK(write(R"({"r":{"@xmlns:p":""}})") == "<fails>");
    CHECK(write(R"({"r":{"@xmlns:xmlns":"urn:x"}})") == "<fails>");
    CHECK(write(R"({"r":{"@xmlns:xml":"urn:x"}})") == "<fails>");
    CHECK(write(R"({"r":{"@xmlns:p":"http://www.w3.org/XML/1998/namespace"}})") == "<fails>");
    CHECK(write(R"({"r":{"@xmlns":"urn:default","a":"x"}})") == R"(<r xmlns="urn:default"><a>x</a></r>)");
    // Neither reserved namespace may be the default one either.
    CHECK(write(R"({"r":{"@xmlns":"http://www.w3.org/2000/xmlns/","a":1}})") == "<fails>");
    CHECK(write(R"({"r":{"a":{"@xmlns":"http://www.w3.org/XML/1998/namespace"}}})") == "<fails>");
}

TEST_CASE("max_depth bounds the element nesting written")
{
    Fixture f(R"({"xml_declaration": false, "max_depth": 3})");
    CHECK(f.write(R"({"a":{"b":{"c":"x"}}})") == "<a><b><c>x</c></b></a>");
    CHECK(f.write(R"({"a":{"b":{"c":{"d":"x"}}}})") == "<fails>");
}

TEST_CASE_FIXTURE(Fixture, "round trip: XML -> tree -> XML is exact for documents in canonical form")
{
    const std::string documents[] = {
        "<a>hello</a>",
        "<a/>",
        R"(<order id="7" xml:lang="en"><item sku="a">one</item><item sku="b">two</item><note/></order>)",
        "<p>Hello <b>big</b><c>x</c></p>",
        "<p><b>big</b> world</p>",
        R"(<s:Envelope xmlns:s="urn:s"><s:Body><m:op xmlns:m="urn:m" m:x="1">v</m:op></s:Body></s:Envelope>)",
        R"(<a xmlns="urn:d"><b/></a>)",
        std::string("<r xmlns:xsi=\"") + kXsi + "\"><a xsi:nil=\"true\"/><b>x</b></r>",
        std::string("<a xmlns:xsi=\"") + kXsi + "\" xsi:nil=\"true\"/>",
        R"(<a t="tab&#9;nl&#10;cr&#13;" q="&quot;&apos;&lt;&amp;"/>)",
        "<t>a &amp; b &lt; c &gt; d cr&#13; \xF0\x9F\x98\x80</t>",
        R"(<a x="1">  </a>)",
    };
    for (const std::string& doc : documents) {
        const std::string shown_doc = shown(doc);
        CAPTURE(shown_doc);
        CHECK(roundTrip(doc) == doc);
    }
}

TEST_CASE_FIXTURE(Fixture, "round trip: other documents come back as the same tree, in canonical form")
{
    const char* documents[] = {
        "<?xml version=\"1.0\"?>\n<order>\n  <item>a</item>\n  <id>7</id>\n  <item>b</item>\n</order>\n",
        "<a><![CDATA[<raw> & ]]><!-- dropped --></a>",
        "<p>Hello <b>big</b> world</p>",
        "<a></a>",
        "<a b='single'>&#x41;&#66;</a>",
    };
    for (const char* doc : documents) {
        const std::string shown_doc = shown(doc);
        CAPTURE(shown_doc);
        std::string canonical = roundTrip(doc);
        CHECK(dump(build(*builder, ex, canonical)) == dump(build(*builder, ex, doc)));
        CHECK(roundTrip(canonical) == canonical);
    }
    CHECK(roundTrip("<o>\n <i>a</i>\n <n/>\n <i>b</i>\n</o>") == "<o><i>a</i><i>b</i><n/></o>");
}

TEST_CASE("max_bytes bounds the document written: a repeated long key cannot amplify without limit")
{
    // Every array item repeats its member's key twice: 4 KiB of key and 10 000 two-byte items
    // are ~24 KiB of JSON and 80 MiB of XML.
    const std::string key(4096, 'k');
    const std::string json = R"({"r":{")" + key + R"(":[)" + repeat("1,", 9999) + "1]}}";
    Fixture defaults;
    const bool refused = defaults.write(json) == "<fails>";  // over the default 32 MiB
    CHECK(refused);                                          // (a bool: a failure must not print 80 MiB)
    CHECK(logged(defaults.host, "larger than 33554432 bytes"));

    Fixture small(R"({"xml_declaration": false, "max_bytes": 23})");
    CHECK(small.write(R"({"r":{"a":["x","y"]}})") == "<r><a>x</a><a>y</a></r>");  // exactly 23
    CHECK(small.write(R"({"r":{"a":["x","yz"]}})") == "<fails>");
    CHECK(small.write(R"({"r":{"@id":"123456789012345"}})") == "<fails>");  // attributes count too
}

TEST_CASE_FIXTURE(Fixture, "namespace lookups stay cheap however many prefixes the ancestors declare")
{
    // 10 levels of 5 000 declarations each, then 100 000 elements using the outermost prefix:
    // a scan of every binding per element would be 5e9 comparisons.
    std::string json = R"({"r":)";
    for (int level = 0; level < 10; ++level) {
        json += "{";
        for (int i = 0; i < 5000; ++i) {
            json += "\"@xmlns:p" + std::to_string(level) + "_" + std::to_string(i) + "\":\"urn:x\",";
        }
        json += "\"c\":";
    }
    json += R"({"p0_0:x":[)" + repeat("\"\",", 99999) + "\"\"]}";
    json += std::string(11, '}');
    auto start = std::chrono::steady_clock::now();
    const std::string xml = write(json);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
    const bool written = xml.find("<p0_0:x/><p0_0:x/>") != std::string::npos;
    CHECK(written);
    // Scopes still end with their element: a sibling after the declaring element is unbound.
    CHECK(write(R"({"r":{"a":{"@xmlns:p":"urn:a","p:x":"1"},"p:y":"2"}})") == "<fails>");
    // An inner redeclaration hides the outer binding only inside its element: after it, p is
    // urn:out again, so p:y and q:y are distinct attributes of b.
    CHECK(write(R"({"r":{"@xmlns:p":"urn:out","@xmlns:q":"urn:in","a":{"@xmlns:p":"urn:in","p:x":"1"},)"
                R"("b":{"@p:y":"2","@q:y":"3"}}})") ==
          R"(<r xmlns:p="urn:out" xmlns:q="urn:in"><a xmlns:p="urn:in"><p:x>1</p:x></a><b p:y="2" q:y="3"/></r>)");
    CHECK(
        write(R"({"r":{"@xmlns:p":"urn:out","@xmlns:q":"urn:in","a":{"@xmlns:p":"urn:in","@p:y":"2","@q:y":"3"}}})") ==
        "<fails>");  // inside a, p:y and q:y are both {urn:in}y
}
