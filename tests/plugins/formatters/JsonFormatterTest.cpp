// The json_formatter plugin (its real .so) through the fake host, and JSON -> tree -> JSON round
// trips with the json_builder plugin.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "CodecTesting.hpp"

using namespace sluice::test;
using sluice::sdk::testing::JsonTree;

namespace {

struct Fixture {
    FakeHost host;
    std::unique_ptr<FakeInstance> formatter;
    std::unique_ptr<FakeInstance> builder;
    FakeExchange ex = host.exchange();

    explicit Fixture(std::string_view config = "{}")
    {
        host.open(SLUICE_JSON_FORMATTER_PATH);
        host.open(SLUICE_JSON_BUILDER_PATH);
        formatter = host.create("json_formatter", config);
        builder = host.create("json_builder");
    }
    std::string write(const sluice_value* v) { return format(*formatter, ex, v).value_or("<fails>"); }
    std::string write(std::string_view json)
    {
        JsonTree tree(json);
        return write(tree.root());
    }
    std::string roundTrip(std::string_view json)
    {
        const sluice_value* v = build(*builder, ex, json);
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

sluice_value numberNode(const char* literal, double number)
{
    sluice_value v{};
    v.type = SLUICE_VALUE_NUMBER;
    v.number = number;
    v.text = sluice_str{literal, literal == nullptr ? 0 : std::char_traits<char>::length(literal)};
    return v;
}

}  // namespace

TEST_CASE_FIXTURE(Fixture, "manifest: a formatter for the JSON builder's media types")
{
    CHECK(handles(formatterTable(*formatter).media_types, "application/json"));
    CHECK(handles(formatterTable(*formatter).media_types, "application/problem+json"));
}

TEST_CASE_FIXTURE(Fixture, "writes compact JSON, members in order")
{
    CHECK(write(R"( { "b" : [ 1 , "x" , true , false , null ] , "a" : { } , "c" : [ ] } )") ==
          R"({"b":[1,"x",true,false,null],"a":{},"c":[]})");
    CHECK(write("\"s\"") == "\"s\"");
    CHECK(write("null") == "null");
}

TEST_CASE_FIXTURE(Fixture, "escapes quotes, backslashes, every control character, U+2028 and U+2029")
{
    std::string all;
    for (int c = 0; c < 0x20; ++c) {
        all.push_back(static_cast<char>(c));
    }
    sluice_value v = stringNode(all);
    CHECK(write(&v) ==
          R"("\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f)"
          R"(\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f")");
    v = stringNode("q\"b\\s/ del\x7F ls\xE2\x80\xA8 ps\xE2\x80\xA9");
    CHECK(write(&v) == "\"q\\\"b\\\\s/ del\x7F ls\\u2028 ps\\u2029\"");
}

TEST_CASE_FIXTURE(Fixture, "non-ASCII is written as UTF-8, or as \\u escapes with ascii_only")
{
    sluice_value v = stringNode("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
    CHECK(write(&v) == "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
    Fixture ascii(R"({"ascii_only": true})");
    CHECK(ascii.write(&v) == R"("caf\u00e9 \u20ac \ud83d\ude00")");
    // and both read back to the same string
    CHECK(dump(build(*builder, ex, ascii.write(&v))) == dump(&v));
}

TEST_CASE_FIXTURE(Fixture, "strings and keys that are not UTF-8 cannot be written")
{
    sluice_value v = stringNode("\xC3\x28");
    CHECK(write(&v) == "<fails>");
    sluice_member m{sluice_str{"\xFF", 1}, stringNode("x")};
    sluice_value o{};
    o.type = SLUICE_VALUE_OBJECT;
    o.count = 1;
    o.members = &m;
    CHECK(write(&o) == "<fails>");
    CHECK(logged(host, "cannot write the message as JSON"));
}

TEST_CASE_FIXTURE(Fixture, "numbers: the literal when it is valid JSON, else the shortest double")
{
    sluice_value n = numberNode("1.10", 1.1);
    CHECK(write(&n) == "1.10");
    n = numberNode("12345678901234567890", 1.2345678901234567e19);
    CHECK(write(&n) == "12345678901234567890");
    n = numberNode(nullptr, 0.1);
    CHECK(write(&n) == "0.1");
    n = numberNode(nullptr, -3.0);
    CHECK(write(&n) == "-3");
    n = numberNode("1]}, \"injected\": [1", 7.0);  // a literal is never trusted
    CHECK(write(&n) == "7");
    n = numberNode(nullptr, std::numeric_limits<double>::infinity());
    CHECK(write(&n) == "<fails>");
    n = numberNode(nullptr, std::nan(""));
    CHECK(write(&n) == "<fails>");
    n = numberNode("1e400", std::numeric_limits<double>::infinity());
    CHECK(write(&n) == "1e400");
}

TEST_CASE("max_depth bounds the nesting written")
{
    Fixture f(R"({"max_depth": 3})");
    CHECK(f.write("[[[1]]]") == "[[[1]]]");
    CHECK(f.write("[[[[1]]]]") == "<fails>");
}

TEST_CASE_FIXTURE(Fixture, "an unknown value type cannot be written")
{
    sluice_value v{};
    v.type = 42;
    CHECK(write(&v) == "<fails>");
}

TEST_CASE_FIXTURE(Fixture, "round trip: JSON -> tree -> JSON is exact for compact documents")
{
    const char* documents[] = {
        R"({"id":7,"name":"caf)"
        "\xC3\xA9"
        R"(","tags":["a","b"],"ok":true,"none":null,"nested":{"x":[1,{"y":[]}]}})",
        R"([0,-0,1.10,-2.5e-8,1E+2,12345678901234567890,1e400,5e-324])",
        R"("\"\\\b\f\n\r\t\u0000\u001f\u2028")",
        R"({"":"","\u0000":"\ud83d\ude00"})",
        "true",
        "[[[[[]]]]]",
    };
    for (const char* doc : documents) {
        const std::string shown_doc = shown(doc);
        CAPTURE(shown_doc);
        std::string once = roundTrip(doc);
        CHECK(roundTrip(once) == once);                                            // stable after one pass ...
        CHECK(dump(build(*builder, ex, once)) == dump(build(*builder, ex, doc)));  // ... and the same tree
    }
    CHECK(roundTrip(R"({"a":[1,2.50,"x"],"b":{"c":null}})") == R"({"a":[1,2.50,"x"],"b":{"c":null}})");
    CHECK(roundTrip("\"\\u00e9\\/\"") == "\"\xC3\xA9/\"");  // escapes that need none are normalised
    CHECK(roundTrip(" [ 1 ,\n 2 ] ") == "[1,2]");
}
