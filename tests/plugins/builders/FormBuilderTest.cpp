// The form_builder plugin (its real .so) through the fake host.
#include <doctest/doctest.h>

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
        host.open(SLUICE_FORM_BUILDER_PATH);
        builder = host.create("form_builder", config);
    }
    std::string tree(std::string_view bytes)
    {
        const sluice_value* v = build(*builder, ex, bytes);
        return v == nullptr ? "<refused>" : dump(v);
    }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "manifest: one builder for application/x-www-form-urlencoded")
{
    CHECK(handles(builderTable(*builder).media_types, "application/x-www-form-urlencoded"));
}

TEST_CASE_FIXTURE(Fixture, "decodes names and values: '+' is a space, %XX a byte")
{
    CHECK(tree("a=1&b=x+y%21") == R"({"a":"1","b":"x y!"})");
    CHECK(tree("q=%26%3D%2B%25") == R"({"q":"&=+%"})");
    CHECK(tree("caf%C3%A9=%E2%82%AC") == R"({"caf\xC3\xA9":"\xE2\x82\xAC"})");
    CHECK(tree("%41%62=lower%2fUPPER%2F") == R"({"Ab":"lower/UPPER/"})");
    CHECK(tree("a=b=c") == R"({"a":"b=c"})");
}

TEST_CASE_FIXTURE(Fixture, "repeated names become arrays at their first place, in order")
{
    CHECK(tree("a=1&b=2&a=3&c=&a=4") == R"({"a":["1","3","4"],"b":"2","c":""})");
}

TEST_CASE_FIXTURE(Fixture, "empty pieces: no '=', empty names, stray '&'")
{
    CHECK(tree("") == "{}");
    CHECK(tree("flag") == R"({"flag":""})");
    CHECK(tree("=x") == R"({"":"x"})");
    CHECK(tree("&a=1&&b=2&") == R"({"a":"1","b":"2"})");
}

TEST_CASE_FIXTURE(Fixture, "malformed escapes and non-UTF-8 results are refused")
{
    for (const char* body : {"a=%", "a=%4", "a=%G1", "a=%4G", "%zz=1", "a=1&b=%", "a=%FF", "a=%C3", "a=%C0%AF",
                             "a=%ED%A0%80", "a=\xC3\x28"}) {
        const std::string shown_body = shown(body);
        CAPTURE(shown_body);
        CHECK(tree(body) == "<refused>");
    }
}

TEST_CASE("limits: max_bytes, max_fields, max_string_bytes (decoded)")
{
    Fixture f(R"({"max_bytes": 32, "max_fields": 3, "max_string_bytes": 4})");
    CHECK(f.tree("a=1&b=2&c=3") == R"({"a":"1","b":"2","c":"3"})");
    CHECK(f.tree("a=1&b=2&c=3&d=4") == "<refused>");
    CHECK(f.tree("a=%41%41%41%41") == R"({"a":"AAAA"})");
    CHECK(f.tree("a=AAAAA") == "<refused>");
    CHECK(f.tree("abcde=1") == "<refused>");
    CHECK(f.tree(std::string(33, 'a')) == "<refused>");
}
