// The text_builder plugin (its real .so) through the fake host.
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
        host.open(SLUICE_TEXT_BUILDER_PATH);
        builder = host.create("text_builder", config);
    }
    const sluice_value* build(std::string_view bytes) { return sluice::test::build(*builder, ex, bytes); }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "text/plain becomes one string, byte for byte")
{
    CHECK(handles(builderTable(*builder).media_types, "text/plain"));
    const std::string text = "line 1\r\nline 2\tcaf\xC3\xA9 \xF0\x9F\x98\x80";
    CHECK(ValueView{build(text)}.asString() == text);
    CHECK(ValueView{build("")}.isString());
    CHECK(ValueView{build(std::string("a\0b", 3))}.asString() == std::string_view("a\0b", 3));
}

TEST_CASE_FIXTURE(Fixture, "text that is not UTF-8 is refused")
{
    for (const char* body : {"caf\xE9", "\xC3\x28", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF"}) {
        const std::string shown_body = shown(body);
        CAPTURE(shown_body);
        CHECK(build(body) == nullptr);
    }
    CHECK(logged(host, "not UTF-8"));
}

TEST_CASE("max_bytes")
{
    Fixture f(R"({"max_bytes": 4})");
    CHECK(f.build("abcd") != nullptr);
    CHECK(f.build("abcde") == nullptr);
}
