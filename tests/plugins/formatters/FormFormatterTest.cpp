// The form_formatter plugin (its real .so) through the fake host, and form -> tree -> form round
// trips with the form_builder plugin.
#include <doctest/doctest.h>

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

    Fixture()
    {
        host.open(SLUICE_FORM_FORMATTER_PATH);
        host.open(SLUICE_FORM_BUILDER_PATH);
        formatter = host.create("form_formatter");
        builder = host.create("form_builder");
    }
    std::string write(std::string_view json)
    {
        JsonTree tree(json);
        return format(*formatter, ex, tree.root()).value_or("<fails>");
    }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "writes name=value pairs, arrays as repeated names, null as empty")
{
    CHECK(handles(formatterTable(*formatter).media_types, "application/x-www-form-urlencoded"));
    CHECK(write(R"({"a":"1","b":["x","y"],"c":null,"d":true,"e":-1.5e+3})") == "a=1&b=x&b=y&c=&d=true&e=-1.5e%2B3");
    CHECK(write("{}").empty());
    CHECK(write(R"({"none":[]})").empty());
}

TEST_CASE_FIXTURE(Fixture, "percent-encodes every byte but letters, digits and the four marks, space as plus")
{
    CHECK(write(R"({"q":"a b&c=d+e%f/g~h*i-j.k_l"})") == "q=a+b%26c%3Dd%2Be%25f%2Fg%7Eh*i-j.k_l");
    CHECK(write(R"({"caf\u00e9":"\u20ac"})") == "caf%C3%A9=%E2%82%AC");
    CHECK(write(R"({"":"\u0000"})") == "=%00");
}

TEST_CASE_FIXTURE(Fixture, "only an object of scalars and arrays of scalars has a form encoding")
{
    CHECK(write(R"("text")") == "<fails>");
    CHECK(write(R"(["a"])") == "<fails>");
    CHECK(write(R"({"a":{"b":"c"}})") == "<fails>");
    CHECK(write(R"({"a":[["b"]]})") == "<fails>");
    CHECK(write(R"({"a":[{"b":"c"}]})") == "<fails>");
    CHECK(logged(host, "cannot write the message as a form"));
}

TEST_CASE_FIXTURE(Fixture, "round trip: form -> tree -> form")
{
    for (const char* body : {"a=1&b=x+y%21&a=3", "caf%C3%A9=%E2%82%AC&empty=", "q=%26%3D%2B%25"}) {
        const std::string shown_body = shown(body);
        CAPTURE(shown_body);
        const sluice_value* tree = build(*builder, ex, body);
        REQUIRE(tree != nullptr);
        std::string written = format(*formatter, ex, tree).value_or("<fails>");
        CHECK(dump(build(*builder, ex, written)) == dump(tree));
    }
    CHECK(format(*formatter, ex, build(*builder, ex, "b=2&a=1&b=3")) == std::string("b=2&b=3&a=1"));
}
