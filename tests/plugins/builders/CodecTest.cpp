// Unit tests of the codec helpers shared by the builder, formatter and json_xml plugins.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "CodecTesting.hpp"
#include "codec/JsonNumber.h"
#include "codec/MediaType.h"
#include "codec/Utf8.h"
#include "codec/XmlNames.h"

using namespace sluice::plugins::codec;
using sluice::test::shown;

TEST_CASE("UTF-8: RFC 3629 exactly")
{
    CHECK(isValidUtf8(""));
    CHECK(isValidUtf8("ascii \x7F"));
    CHECK(isValidUtf8("\xC2\x80 \xDF\xBF \xE0\xA0\x80 \xEF\xBF\xBF \xF0\x90\x80\x80 \xF4\x8F\xBF\xBF"));
    CHECK(isValidUtf8(std::string("\0", 1)));
    for (const char* bad :
         {"\x80", "\xBF", "\xC0\x80", "\xC1\xBF", "\xE0\x9F\xBF", "\xED\xA0\x80", "\xED\xBF\xBF", "\xF0\x8F\xBF\xBF",
          "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFE", "\xFF", "\xC2", "\xE0\xA0", "\xF0\x90\x80", "\xC2\x41"}) {
        const std::string shown_bad = shown(bad);
        CAPTURE(shown_bad);
        CHECK_FALSE(isValidUtf8(bad));
    }
    std::string out;
    appendUtf8(out, 0x1F600);
    appendUtf8(out, 0xE9);
    appendUtf8(out, 'a');
    CHECK(out ==
          "\xF0\x9F\x98\x80\xC3\xA9"
          "a");
}

TEST_CASE("JSON numbers: grammar, value, writing back")
{
    for (const char* ok : {"0", "-0", "1", "-1", "10", "1.5", "0.001", "1e5", "1E5", "1e+5", "1e-5", "-1.5e-10"}) {
        const std::string shown_ok = shown(ok);
        CAPTURE(shown_ok);
        CHECK(isJsonNumber(ok));
    }
    for (const char* bad : {"", "-", "01", "1.", ".1", "+1", "1e", "1e+", "0x1", "1 ", " 1", "NaN", "inf", "--1"}) {
        const std::string shown_bad = shown(bad);
        CAPTURE(shown_bad);
        CHECK_FALSE(isJsonNumber(bad));
    }
    CHECK(jsonNumberValue("1.25") == 1.25);
    CHECK(std::isinf(jsonNumberValue("1e999")));
    CHECK(std::isinf(jsonNumberValue("-123456e9999")));
    CHECK(jsonNumberValue("-1e-999") == 0.0);
    CHECK(std::signbit(jsonNumberValue("-1e-999")));
    CHECK(jsonNumberValue("0.0000000000000000000000000000000000000000000000001e-300") == 0.0);
    CHECK(std::isinf(jsonNumberValue("100000000000000000000000000000000000000000000000000e300")));

    auto written = [](const char* literal, double number) {
        sluice_value v{};
        v.type = SLUICE_VALUE_NUMBER;
        v.number = number;
        v.text = sluice_str{literal, literal == nullptr ? 0 : std::char_traits<char>::length(literal)};
        std::string out;
        return appendJsonNumber(v, out) ? out : std::string("<fails>");
    };
    CHECK(written("1.10", 1.1) == "1.10");
    CHECK(written(nullptr, 0.1) == "0.1");
    CHECK(written(nullptr, 42.0) == "42");
    CHECK(written(nullptr, -2.5e-8) == "-2.5e-08");
    CHECK(written("1e400", HUGE_VAL) == "1e400");  // the literal wins
    CHECK(written("not a number", 3.0) == "3");    // an invalid literal is never written
    CHECK(written("1, \"x\": 2", 3.0) == "3");
    CHECK(written(nullptr, HUGE_VAL) == "<fails>");
    CHECK(written(nullptr, std::nan("")) == "<fails>");
}

TEST_CASE("media types: essence and JSON/XML families")
{
    CHECK(mediaTypeEssence("Application/Problem+JSON ; charset=utf-8") == "application/problem+json");
    CHECK(mediaTypeEssence(" text/xml") == "text/xml");
    CHECK(mediaTypeEssence("json").empty());
    CHECK(mediaTypeEssence("a/b/c").empty());
    CHECK(mediaTypeEssence("").empty());
    CHECK(isJsonMediaType("application/json"));
    CHECK(isJsonMediaType("application/vnd.acme.order+json"));
    CHECK_FALSE(isJsonMediaType("application/jsonp"));
    CHECK_FALSE(isJsonMediaType("+json"));
    CHECK(isXmlMediaType("text/xml"));
    CHECK(isXmlMediaType("application/soap+xml"));
    CHECK_FALSE(isXmlMediaType("text/html"));
}

TEST_CASE("XML names and characters (XML 1.0 fifth edition, Namespaces 1.0)")
{
    for (const char* ok : {"a", "_a", "a1", "a-b.c", "\xC3\xA9t\xC3\xA9", "\xE4\xB8\xAD", "A\xC2\xB7"}) {
        const std::string shown_ok = shown(ok);
        CAPTURE(shown_ok);
        CHECK(isNCName(ok));
    }
    for (const char* bad : {"", "1a", "-a", ".a", "a b", "a:b", "a\x01", "@a", "#text", "a/b", "\xC3\x28"}) {
        const std::string shown_bad = shown(bad);
        CAPTURE(shown_bad);
        CHECK_FALSE(isNCName(bad));
    }
    CHECK(isQName("p:local"));
    CHECK_FALSE(isQName("p:"));
    CHECK_FALSE(isQName(":a"));
    CHECK_FALSE(isQName("a:b:c"));
    CHECK(qnamePrefix("p:l") == "p");
    CHECK(qnameLocal("p:l") == "l");
    CHECK(qnamePrefix("l").empty());
    CHECK(isXmlChar(0x9));
    CHECK_FALSE(isXmlChar(0x1));
    CHECK_FALSE(isXmlChar(0xFFFE));
    CHECK_FALSE(isXmlChar(0xD800));
    CHECK(isXmlChar(0x10FFFF));
}
