// Fuzz target for the XML builder. Oracles, beyond "no crash, no sanitizer report":
//  - an accepted body gives a tree in the mapping's document form: one root member, names that
//    are XML qualified names ('@' + name for attributes, or #text), UTF-8 text, no nested arrays;
//  - when the XML writer can write the tree back (XML 1.1 input may hold characters XML 1.0
//    cannot carry), building that output again gives the same tree.
// An input whose first line starts with "CT:" gives the rest of that line as the Content-Type
// (charset and other parameters), and the body after it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "FuzzSupport.hpp"
#include "codec/XmlMapping.h"
#include "codec/XmlNames.h"
#include "codec/XmlWriter.h"

namespace {

using sluice::fuzz::expect;
namespace codec = sluice::plugins::codec;

void checkElement(const sluice_value& v)
{
    expect(v.type == SLUICE_VALUE_NULL || v.type == SLUICE_VALUE_STRING || v.type == SLUICE_VALUE_OBJECT,
           "an element is null, a string or an object");
    for (std::size_t i = 0; v.type == SLUICE_VALUE_OBJECT && i < v.count; ++i) {
        std::string_view key = sluice::sdk::view(v.members[i].key);
        const sluice_value& m = v.members[i].value;
        if (key == codec::kTextKey) {
            expect(m.type == SLUICE_VALUE_STRING, "#text is a string");
        } else if (!key.empty() && key[0] == codec::kAttributeMark) {
            expect(codec::isQName(key.substr(1)), "attribute name is a QName");
            expect(m.type == SLUICE_VALUE_STRING, "an attribute is a string");
        } else {
            expect(codec::isQName(key), "element name is a QName");
            if (m.type == SLUICE_VALUE_ARRAY) {
                expect(m.count >= 2, "an array holds repeated elements");
                for (std::size_t k = 0; k < m.count; ++k) {
                    checkElement(m.items[k]);
                }
            } else {
                checkElement(m);
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static sluice::fuzz::BuilderHarness harness("xml_builder", R"({"max_depth": 32, "max_bytes": 1048576})");
    auto ex = harness.exchange();
    std::string_view body(reinterpret_cast<const char*>(data), size);
    std::string_view contentType;
    if (body.substr(0, 3) == "CT:" && body.find('\n') != std::string_view::npos) {
        const std::size_t end = body.find('\n');
        contentType = body.substr(3, end - 3);
        body.remove_prefix(end + 1);
    }
    const sluice_value* tree = harness.build(ex, body, contentType);
    if (tree == nullptr) {
        return 0;
    }
    sluice::fuzz::checkTree(*tree, 0, 2 * 32 + 2);
    expect(tree->type == SLUICE_VALUE_OBJECT && tree->count == 1, "document form: one root member");
    expect(codec::isQName(sluice::sdk::view(tree->members[0].key)), "root name is a QName");
    checkElement(tree->members[0].value);

    std::string text;
    codec::XmlWriter writer(codec::XmlWriteOptions{true, 64});
    if (!writer.write(sluice::sdk::ValueView{tree}, &text)) {
        return 0;
    }
    const sluice_value* again = harness.build(ex, text);
    expect(again != nullptr, "written XML is refused");
    expect(sluice::fuzz::sameTree(*tree, *again), "XML -> tree -> XML -> tree changed the tree");
    return 0;
}
