// The json_builder plugin (its real .so) through the fake host.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <string>

#include "CodecTesting.hpp"

using namespace sluice::test;

namespace {

struct Fixture {
    FakeHost host;
    std::unique_ptr<FakeInstance> builder;
    FakeExchange ex = host.exchange();

    explicit Fixture(std::string_view config = "{}")
    {
        host.open(SLUICE_JSON_BUILDER_PATH);
        builder = host.create("json_builder", config);
    }
    const sluice_value* build(std::string_view bytes) { return sluice::test::build(*builder, ex, bytes); }
    std::string tree(std::string_view bytes)
    {
        const sluice_value* v = build(bytes);
        return v == nullptr ? "<refused>" : dump(v);
    }
};

}  // namespace

TEST_CASE("manifest: one builder for JSON and the listed +json types")
{
    FakeHost host;
    host.open(SLUICE_JSON_BUILDER_PATH);
    const sluice_component* c = host.find("json_builder");
    REQUIRE(c != nullptr);
    CHECK(c->kind == SLUICE_KIND_BUILDER);
    const auto* vt = static_cast<const sluice_builder_vtable*>(c->vtable);
    CHECK(handles(vt->media_types, "application/json"));
    CHECK(handles(vt->media_types, "application/problem+json"));
    CHECK(handles(vt->media_types, "application/merge-patch+json"));
    CHECK_FALSE(handles(vt->media_types, "application/xml"));
    REQUIRE(c->config_schema != nullptr);
    CHECK(std::string(c->config_schema).find("\"max_depth\"") != std::string::npos);
}

// JSON is UTF-8 (RFC 8259 §8.1); a backend that honours another charset would read other text.
TEST_CASE_FIXTURE(Fixture, "a Content-Type naming a charset other than UTF-8, or unreadable parameters, is refused")
{
    auto withType = [this](std::string_view contentType) {
        return sluice::test::build(*builder, ex, R"({"a":"x"})", "application/json", contentType) != nullptr;
    };
    CHECK(withType("application/json"));
    CHECK(withType("application/json; charset=utf-8"));
    CHECK(withType("application/json;charset=\"UTF-8\""));
    CHECK(withType("application/json; charset=utf8"));
    CHECK(withType("application/json; charset=US-ASCII"));
    CHECK_FALSE(withType("application/json; charset=iso-8859-1"));
    CHECK_FALSE(withType("application/json; charset=utf-16"));
    CHECK_FALSE(withType("application/json; charset=\"utf-8"));  // an unclosed quote
    CHECK_FALSE(withType("application/json; charset=utf-8; charset=utf-16"));
}

TEST_CASE_FIXTURE(Fixture, "builds every kind of value, members in document order")
{
    CHECK(tree(R"( {"b": [1, "two", true, false, null], "a": {}, "c": []} )") ==
          R"({"b":[1,"two",true,false,null],"a":{},"c":[]})");
    CHECK(tree("\"top-level string\"") == R"("top-level string")");
    CHECK(tree(" 42 ") == "42");
    CHECK(tree("null") == "null");
    CHECK(tree("\t\r\n[]\n") == "[]");
}

TEST_CASE_FIXTURE(Fixture, "numbers keep their literal text beside the double")
{
    const sluice_value* v = build("[1.10, -0, 12345678901234567890, 1E+2, 5e-324, 1e400, -1e400, 1e-400, 0.5]");
    REQUIRE(v != nullptr);
    ValueView a{v};
    CHECK(sluice::sdk::view(a[0].raw()->text) == "1.10");
    CHECK(a[0].asNumber() == doctest::Approx(1.1));
    CHECK(sluice::sdk::view(a[1].raw()->text) == "-0");
    CHECK(std::signbit(a[1].asNumber()));
    CHECK(sluice::sdk::view(a[2].raw()->text) == "12345678901234567890");
    CHECK(a[2].asNumber() == doctest::Approx(1.2345678901234567e19));
    CHECK(a[3].asNumber() == 100.0);
    CHECK(a[4].asNumber() > 0.0);
    CHECK(std::isinf(a[5].asNumber()));
    CHECK(a[5].asNumber() > 0);
    CHECK(std::isinf(a[6].asNumber()));
    CHECK(a[6].asNumber() < 0);
    CHECK(a[7].asNumber() == 0.0);
    CHECK(a[8].asNumber() == 0.5);
}

TEST_CASE_FIXTURE(Fixture, "strings are unescaped into UTF-8")
{
    CHECK(tree(R"("a\"b\\c\/d\b\f\n\r\t")") == R"("a\"b\\c/d\x08\x0C\x0A\x0D\x09")");
    CHECK(tree(R"("\u00e9\u20AC")") == R"("\xC3\xA9\xE2\x82\xAC")");
    CHECK(tree(R"("\ud83d\ude00")") == R"("\xF0\x9F\x98\x80")");  // surrogate pair -> U+1F600
    CHECK(tree("\"caf\xC3\xA9 \xF0\x9F\x98\x80\"") == R"("caf\xC3\xA9 \xF0\x9F\x98\x80")");
    const sluice_value* nul = build(R"("a\u0000b")");
    REQUIRE(nul != nullptr);
    CHECK(ValueView{nul}.asString() == std::string_view("a\0b", 3));
    CHECK(tree(R"({"k\u0065y": 1})") == R"({"key":1})");
}

TEST_CASE_FIXTURE(Fixture, "the tree lives in the exchange's arena, not in the body bytes")
{
    std::string body = R"({"name": "value", "n": 12, "list": ["x"]})";
    const sluice_value* v = build(body);
    REQUIRE(v != nullptr);
    std::string before = dump(v);
    body.assign(body.size(), '#');  // the host may replace or free the body later
    CHECK(dump(v) == before);
}

TEST_CASE_FIXTURE(Fixture, "refuses everything RFC 8259 does not allow")
{
    const char* invalid[] = {
        "",
        " ",
        "{",
        "}",
        "[",
        "[1,]",
        "[,1]",
        R"({"a":1,})",
        R"({"a" 1})",
        R"({a:1})",
        R"({'a':1})",
        "01",
        "-",
        "1.",
        ".5",
        "+1",
        "1e",
        "1e+",
        "0x10",
        "NaN",
        "Infinity",
        "-Infinity",
        "tru",
        "nul",
        "True",
        "1 2",
        "[1]x",
        "[1 2]",
        "{\"a\":1 \"b\":2}",
        "// comment\n1",
        "/* c */ 1",
        "\"unterminated",
        "\"\t\"",
        "\"\x01\"",
        R"("\x")",
        R"("\u12")",
        R"("\u12G4")",
        R"("\ud800")",
        R"("\udc00")",
        R"("\ud800\u0041")",
        R"("\ud800x")",
        "\xEF\xBB\xBF{}",
        "[\"a\"]]",
        "{\"a\":}",
        "[-]",
        "[01]",
        "[1.e5]",
    };
    for (const char* doc : invalid) {
        const std::string shown_doc = shown(doc);
        CAPTURE(shown_doc);
        CHECK(build(doc) == nullptr);
    }
    CHECK(build(std::string_view("1\0", 2)) == nullptr);
    CHECK(logged(host, "refused a JSON body"));
}

TEST_CASE_FIXTURE(Fixture, "refuses invalid UTF-8 anywhere")
{
    const char* invalid[] = {
        "\"\xC3\x28\"",          // bad continuation
        "\"\xC0\xAF\"",          // overlong '/'
        "\"\xE0\x80\xAF\"",      // overlong, 3 bytes
        "\"\xED\xA0\x80\"",      // an encoded surrogate
        "\"\xF4\x90\x80\x80\"",  // above U+10FFFF
        "\"\xE2\x82\"",          // truncated
        "\"\xFF\"",              // never valid
        "\"\x80\"",              // lone continuation
        "{\"\xC3\":1}",          // in a key
        "\xC3\xA9",              // outside any string
    };
    for (const char* doc : invalid) {
        const std::string shown_doc = shown(doc);
        CAPTURE(shown_doc);
        CHECK(build(doc) == nullptr);
    }
}

TEST_CASE_FIXTURE(Fixture, "duplicate keys are refused, compared after unescaping")
{
    CHECK(build(R"({"a":1,"a":2})") == nullptr);
    CHECK(build(R"({"a":1,"\u0061":2})") == nullptr);
    CHECK(build(R"({"x":{"a":1,"b":2,"a":3}})") == nullptr);
    std::string many = "{";
    for (int i = 0; i < 100; ++i) {
        many += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    }
    CHECK(build(many + "\"k99\":0}") == nullptr);  // the sorted check, for large objects
    CHECK(build(many + "\"k100\":0}") != nullptr);
    CHECK(tree(R"([{"a":1},{"a":2}])") == R"([{"a":1},{"a":2}])");  // same key, different objects
}

TEST_CASE_FIXTURE(Fixture, "depth: max_depth nested containers are fine, one more is refused")
{
    CHECK(build(repeat("[", 64) + repeat("]", 64)) != nullptr);
    CHECK(build(repeat("[", 65) + repeat("]", 65)) == nullptr);
    CHECK(build(repeat("{\"a\":", 65) + "1" + repeat("}", 65)) == nullptr);
}

TEST_CASE_FIXTURE(Fixture, "a depth bomb is refused quickly, without exhausting the stack")
{
    auto start = std::chrono::steady_clock::now();
    CHECK(build(repeat("[", 4u << 20)) == nullptr);
    CHECK(build(repeat("{\"a\":[", 1u << 20)) == nullptr);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
}

TEST_CASE("every limit is configurable and enforced")
{
    SUBCASE("max_bytes")
    {
        Fixture f(R"({"max_bytes": 10})");
        CHECK(f.build("[1,2,3,4]") != nullptr);
        CHECK(f.build("[1,2,3,4,5]") == nullptr);
    }
    SUBCASE("max_depth")
    {
        Fixture f(R"({"max_depth": 2})");
        CHECK(f.build("[[1]]") != nullptr);
        CHECK(f.build("[[[1]]]") == nullptr);
        CHECK(f.build(R"({"a":{"b":{}}})") == nullptr);
    }
    SUBCASE("max_string_bytes: strings, keys and number literals, measured after unescaping")
    {
        Fixture f(R"({"max_string_bytes": 4})");
        CHECK(f.build(R"("abcd")") != nullptr);
        CHECK(f.build(R"("\u0041\u0041\u0041\u0041")") != nullptr);
        CHECK(f.build(R"("abcde")") == nullptr);
        CHECK(f.build(R"({"abcde":1})") == nullptr);
        CHECK(f.build("12345") == nullptr);
        CHECK(f.build("\"\xC3\xA9\xC3\xA9\xC3\xA9\"") == nullptr);  // 6 bytes
    }
    SUBCASE("max_object_members and max_array_items")
    {
        Fixture f(R"({"max_object_members": 2, "max_array_items": 3})");
        CHECK(f.build(R"({"a":1,"b":2})") != nullptr);
        CHECK(f.build(R"({"a":1,"b":2,"c":3})") == nullptr);
        CHECK(f.build("[1,2,3]") != nullptr);
        CHECK(f.build("[1,2,3,4]") == nullptr);
    }
    SUBCASE("max_nodes counts every value")
    {
        Fixture f(R"({"max_nodes": 4})");
        CHECK(f.build("[1,2,3]") != nullptr);
        CHECK(f.build("[1,[2],3]") == nullptr);
    }
    SUBCASE("a huge string is refused before it is copied")
    {
        Fixture f;
        CHECK(f.build("\"" + std::string((1u << 20) + 1, 'x') + "\"") == nullptr);
        CHECK(f.build("\"" + std::string(1u << 20, 'x') + "\"") != nullptr);
    }
}

TEST_CASE("a configuration outside the bounds is refused at create")
{
    FakeHost host;
    host.open(SLUICE_JSON_BUILDER_PATH);
    CHECK_THROWS(host.create("json_builder", R"({"max_depth": 0})"));
    CHECK_THROWS(host.create("json_builder", R"({"max_depth": 100000})"));
    CHECK_THROWS(host.create("json_builder", R"({"max_nodes": 1.5})"));
    CHECK_THROWS(host.create("json_builder", R"({"max_bytes": "big"})"));
    CHECK_NOTHROW(host.create("json_builder", R"({"max_depth": 512})"));
}
