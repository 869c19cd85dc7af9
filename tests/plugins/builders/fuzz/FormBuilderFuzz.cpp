// Fuzz target for the form (application/x-www-form-urlencoded) builder. Oracles, beyond "no
// crash, no sanitizer report":
//  - an accepted body gives an object whose keys are unique and whose values are strings, or
//    arrays of two or more strings for a repeated name, all UTF-8 and within the configured
//    limits;
//  - the tree encoded again (every byte outside the unreserved set escaped, in member order)
//    and built again is the same tree.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "FuzzSupport.hpp"

namespace {

using sluice::fuzz::expect;

constexpr std::size_t kMaxFields = 64;
constexpr std::size_t kMaxStringBytes = 256;

void encode(std::string_view text, std::string& out)
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
        }
    }
}

void checkString(const sluice_value& v)
{
    expect(v.type == SLUICE_VALUE_STRING, "a form value is a string");
    expect(v.text.len <= kMaxStringBytes, "a value longer than max_string_bytes");
}

// Checks the tree's shape and returns it encoded again; `fields` counts the name=value pairs.
std::string checkAndEncode(const sluice_value& root, std::size_t& fields)
{
    expect(root.type == SLUICE_VALUE_OBJECT, "a form is an object");
    expect(root.count == 0 || root.members != nullptr, "object without members");
    std::set<std::string_view> names;
    std::string out;
    auto pair = [&out](std::string_view name, const sluice_value& value) {
        if (!out.empty()) {
            out.push_back('&');
        }
        encode(name, out);
        out.push_back('=');
        encode(sluice::sdk::view(value.text), out);
    };
    fields = 0;
    for (std::size_t i = 0; i < root.count; ++i) {
        std::string_view name = sluice::sdk::view(root.members[i].key);
        expect(names.insert(name).second, "a name appears as two members");
        expect(name.size() <= kMaxStringBytes, "a name longer than max_string_bytes");
        const sluice_value& value = root.members[i].value;
        if (value.type == SLUICE_VALUE_ARRAY) {
            expect(value.count >= 2 && value.items != nullptr, "an array stands for a repeated name");
            for (std::size_t k = 0; k < value.count; ++k) {
                checkString(value.items[k]);
                pair(name, value.items[k]);
                ++fields;
            }
        } else {
            checkString(value);
            pair(name, value);
            ++fields;
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static sluice::fuzz::BuilderHarness harness("form_builder",
                                                R"({"max_fields": 64, "max_string_bytes": 256, "max_bytes": 1048576})");
    auto ex = harness.exchange();
    const sluice_value* tree = harness.build(ex, std::string_view(reinterpret_cast<const char*>(data), size));
    if (tree == nullptr) {
        return 0;
    }
    sluice::fuzz::checkTree(*tree, 0, 2);
    std::size_t fields = 0;
    std::string text = checkAndEncode(*tree, fields);
    expect(fields <= kMaxFields, "more fields than max_fields");
    const sluice_value* again = harness.build(ex, text);
    expect(again != nullptr, "the encoded form is refused");
    expect(sluice::fuzz::sameTree(*tree, *again), "form -> tree -> form -> tree changed the tree");
    return 0;
}
