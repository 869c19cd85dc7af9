// Fuzz target for the JSON builder. Oracles, beyond "no crash, no sanitizer report":
//  - an accepted body gives a well-formed tree (types, pointers, UTF-8, depth within max_depth);
//  - the tree written back with the JSON formatter's writer and built again is the same tree.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "FuzzSupport.hpp"
#include "JsonWriter.h"
#include "codec/JsonNumber.h"

namespace {

void checkNumbers(const sluice_value& v)
{
    using sluice::fuzz::expect;
    if (v.type == SLUICE_VALUE_NUMBER) {
        expect(sluice::plugins::codec::isJsonNumber(sluice::sdk::view(v.text)), "number literal is not JSON");
    }
    for (std::size_t i = 0; v.type == SLUICE_VALUE_ARRAY && i < v.count; ++i) {
        checkNumbers(v.items[i]);
    }
    for (std::size_t i = 0; v.type == SLUICE_VALUE_OBJECT && i < v.count; ++i) {
        checkNumbers(v.members[i].value);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static sluice::fuzz::BuilderHarness harness("json_builder", R"({"max_depth": 32, "max_bytes": 1048576})");
    auto ex = harness.exchange();
    const sluice_value* tree = harness.build(ex, std::string_view(reinterpret_cast<const char*>(data), size));
    if (tree == nullptr) {
        return 0;
    }
    sluice::fuzz::checkTree(*tree, 0, 32);
    checkNumbers(*tree);
    std::string text;
    sluice::plugins::JsonWriter writer(sluice::plugins::JsonWriteOptions{});
    sluice::fuzz::expect(writer.write(sluice::sdk::ValueView{tree}, text), "an accepted tree cannot be written");
    const sluice_value* again = harness.build(ex, text);
    sluice::fuzz::expect(again != nullptr, "written JSON is refused");
    sluice::fuzz::expect(sluice::fuzz::sameTree(*tree, *again), "JSON -> tree -> JSON -> tree changed the tree");
    return 0;
}
