// The binary_formatter plugin (its real .so) through the fake host.
#include <doctest/doctest.h>

#include <string>

#include "CodecTesting.hpp"

using namespace sluice::test;
using sluice::sdk::testing::JsonTree;

namespace {

struct Fixture {
    FakeHost host;
    std::unique_ptr<FakeInstance> binary;
    FakeExchange ex = host.exchange();

    Fixture()
    {
        host.open(SLUICE_BINARY_FORMATTER_PATH);
        binary = host.create("binary_formatter");
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

TEST_CASE_FIXTURE(Fixture, "binary: a string's bytes unchanged, anything else refused")
{
    CHECK(handles(formatterTable(*binary).media_types, "application/octet-stream"));
    std::string bytes;
    for (int i = 255; i >= 0; --i) {
        bytes.push_back(static_cast<char>(i));
    }
    sluice_value s = stringNode(bytes);
    CHECK(format(*binary, ex, &s) == bytes);
    CHECK_FALSE(format(*binary, ex, JsonTree("1").root()));
    CHECK_FALSE(format(*binary, ex, JsonTree("null").root()));
    CHECK_FALSE(format(*binary, ex, JsonTree(R"({"a":"b"})").root()));
}

TEST_CASE("round trip: bytes -> binary_builder -> binary_formatter -> the same bytes")
{
    FakeHost host;
    host.open(SLUICE_BINARY_FORMATTER_PATH);
    host.open(SLUICE_BINARY_BUILDER_PATH);
    auto ex = host.exchange();
    auto builder = host.create("binary_builder");
    auto formatter = host.create("binary_formatter");
    std::string bytes("\x00\xFF\xC3\x28 raw", 9);
    CHECK(format(*formatter, ex, build(*builder, ex, bytes)) == bytes);
}
