// The binary_builder plugin (its real .so) through the fake host.
#include <doctest/doctest.h>

#include <string>

#include "CodecTesting.hpp"

using namespace sluice::test;

TEST_CASE("application/octet-stream becomes one string holding the raw bytes")
{
    FakeHost host;
    host.open(SLUICE_BINARY_BUILDER_PATH);
    auto builder = host.create("binary_builder");
    auto ex = host.exchange();
    CHECK(handles(builderTable(*builder).media_types, "application/octet-stream"));
    std::string bytes;
    for (int i = 0; i < 256; ++i) {
        bytes.push_back(static_cast<char>(i));
    }
    const sluice_value* v = build(*builder, ex, bytes);
    REQUIRE(v != nullptr);
    CHECK(ValueView{v}.asString() == bytes);  // NUL, 0xFF, invalid UTF-8: all kept
    CHECK(ValueView{v}.asString().data() != bytes.data());
    CHECK(ValueView{build(*builder, ex, "")}.asString().empty());
}

TEST_CASE("max_bytes")
{
    FakeHost host;
    host.open(SLUICE_BINARY_BUILDER_PATH);
    auto builder = host.create("binary_builder", R"({"max_bytes": 3})");
    auto ex = host.exchange();
    CHECK(build(*builder, ex, "abc") != nullptr);
    CHECK(build(*builder, ex, "abcd") == nullptr);
}
