// The text_formatter plugin (its real .so) through the fake host.
#include <doctest/doctest.h>

#include <string>

#include "CodecTesting.hpp"

using namespace sluice::test;
using sluice::sdk::testing::JsonTree;

namespace {

struct Fixture {
    FakeHost host;
    std::unique_ptr<FakeInstance> text;
    FakeExchange ex = host.exchange();

    Fixture()
    {
        host.open(SLUICE_TEXT_FORMATTER_PATH);
        text = host.create("text_formatter");
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

TEST_CASE_FIXTURE(Fixture, "text: a UTF-8 string as is, scalars as their text")
{
    CHECK(handles(formatterTable(*text).media_types, "text/plain"));
    sluice_value s = stringNode("caf\xC3\xA9\r\n\tend");
    CHECK(format(*text, ex, &s) == std::string("caf\xC3\xA9\r\n\tend"));
    CHECK(format(*text, ex, JsonTree("1.50").root()) == std::string("1.50"));
    CHECK(format(*text, ex, JsonTree("false").root()) == std::string("false"));
    CHECK(format(*text, ex, JsonTree("null").root()) == std::string());
}

TEST_CASE_FIXTURE(Fixture, "text: not UTF-8, arrays and objects are refused")
{
    sluice_value s = stringNode("caf\xE9");
    CHECK_FALSE(format(*text, ex, &s));
    CHECK_FALSE(format(*text, ex, JsonTree("[1]").root()));
    CHECK_FALSE(format(*text, ex, JsonTree("{}").root()));
}

TEST_CASE("round trip: text -> text_builder -> text_formatter -> the same text")
{
    FakeHost host;
    host.open(SLUICE_TEXT_FORMATTER_PATH);
    host.open(SLUICE_TEXT_BUILDER_PATH);
    auto ex = host.exchange();
    auto builder = host.create("text_builder");
    auto formatter = host.create("text_formatter");
    std::string text = "line\r\n\xF0\x9F\x98\x80";
    CHECK(format(*formatter, ex, build(*builder, ex, text)) == text);
}
