#include "FormBuilder.h"

#include <string>
#include <unordered_map>
#include <vector>

#include <sluice/sdk/HttpSyntax.hpp>

#include "codec/ArenaTree.h"
#include "codec/ConfigOption.h"
#include "codec/Utf8.h"
#include "form_builder_schema.h"

namespace sluice::plugins {

const sdk::ComponentInfo FormBuilder::kInfo{
    "form_builder",                                       // name
    "1.0.0",                                              // version
    0,                                                    // priority: not a handler
    0,                                                    // flags
    form_builder_schema::kConfigSchema,                   // config schema
    "application/x-www-form-urlencoded message builder",  // description
};

namespace {

struct Field {
    sluice_str name;
    sluice_str value;
};

class FormParser {
public:
    FormParser(const codec::ArenaTree& arena, std::size_t maxFields, std::size_t maxStringBytes)
        : _arena(arena), _maxFields(maxFields), _maxStringBytes(maxStringBytes)
    {
    }

    const sluice_value* parse(std::string_view body)
    {
        std::size_t pos = 0;
        while (pos <= body.size()) {
            std::size_t end = body.find('&', pos);
            if (end == std::string_view::npos) {
                end = body.size();
            }
            std::string_view pair = body.substr(pos, end - pos);
            pos = end + 1;
            if (pair.empty()) {
                continue;  // "a=1&&b=2", a leading or trailing '&'
            }
            if (_fields.size() >= _maxFields) {
                return fail("more fields than max_fields");
            }
            std::size_t eq = pair.find('=');
            Field f{};
            if (!decode(pair.substr(0, eq), f.name) ||
                !decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), f.value)) {
                return nullptr;
            }
            _fields.push_back(f);
        }
        return object();
    }

    const std::string& error() const noexcept { return _error; }

private:
    const sluice_value* fail(std::string reason)
    {
        _error = std::move(reason);
        return nullptr;
    }

    bool decode(std::string_view raw, sluice_str& out)
    {
        if (raw.empty()) {
            out = sluice_str{"", 0};
            return true;
        }
        char* p = _arena.bytes(raw.size());  // decoding never grows the text
        if (p == nullptr) {
            fail("out of exchange memory");
            return false;
        }
        std::size_t w = 0;
        for (std::size_t i = 0; i < raw.size(); ++i) {
            char c = raw[i];
            if (c == '+') {
                c = ' ';
            } else if (c == '%') {
                int hi = i + 2 < raw.size() ? sdk::hexValue(raw[i + 1]) : -1;
                int lo = hi >= 0 ? sdk::hexValue(raw[i + 2]) : -1;
                if (lo < 0) {
                    fail("malformed percent-escape");
                    return false;
                }
                c = static_cast<char>((hi << 4) | lo);
                i += 2;
            }
            p[w++] = c;
        }
        out = sluice_str{p, w};
        if (w > _maxStringBytes) {
            fail("a name or value longer than max_string_bytes");
            return false;
        }
        if (!codec::isValidUtf8(sdk::view(out))) {
            fail("a name or value is not UTF-8 once decoded");
            return false;
        }
        return true;
    }

    // Groups repeated names into arrays, members in order of first appearance.
    const sluice_value* object()
    {
        std::vector<std::size_t> groupOf(_fields.size());
        std::vector<std::size_t> firstOf;  // per group: its first field
        std::vector<std::size_t> counts;
        std::unordered_map<std::string_view, std::size_t> index;
        for (std::size_t i = 0; i < _fields.size(); ++i) {
            auto [it, added] = index.emplace(sdk::view(_fields[i].name), firstOf.size());
            if (added) {
                firstOf.push_back(i);
                counts.push_back(0);
            }
            groupOf[i] = it->second;
            ++counts[it->second];
        }
        std::vector<sluice_member> members(firstOf.size());
        std::vector<sluice_value*> items(firstOf.size(), nullptr);
        std::vector<std::size_t> filled(firstOf.size(), 0);
        for (std::size_t g = 0; g < firstOf.size(); ++g) {
            members[g].key = _fields[firstOf[g]].name;
            if (counts[g] == 1) {
                members[g].value = codec::stringValue(_fields[firstOf[g]].value);
                continue;
            }
            items[g] = _arena.values(counts[g]);
            if (items[g] == nullptr) {
                return fail("out of exchange memory");
            }
            members[g].value.type = SLUICE_VALUE_ARRAY;
            members[g].value.count = counts[g];
            members[g].value.items = items[g];
        }
        for (std::size_t i = 0; i < _fields.size(); ++i) {
            std::size_t g = groupOf[i];
            if (items[g] != nullptr) {
                items[g][filled[g]++] = codec::stringValue(_fields[i].value);
            }
        }
        const sluice_value* root = _arena.object(members.data(), members.size());
        return root != nullptr ? root : fail("out of exchange memory");
    }

    const codec::ArenaTree& _arena;
    std::size_t _maxFields;
    std::size_t _maxStringBytes;
    std::vector<Field> _fields;
    std::string _error;
};

}  // namespace

FormBuilder::FormBuilder(const sdk::ComponentInit& init)
    : MessageBuilder(init),
      _maxBytes(codec::sizeOption(init.config(), "max_bytes", 1u << 20, 1, 1u << 30)),
      _maxFields(codec::sizeOption(init.config(), "max_fields", 1000, 1, 1000000)),
      _maxStringBytes(codec::sizeOption(init.config(), "max_string_bytes", 64u << 10, 1, 1u << 30))
{
}

const sluice_value* FormBuilder::build(sdk::MessageContext& ctx, std::string_view mediaType, std::string_view bytes)
{
    (void)mediaType;
    if (bytes.size() > _maxBytes) {
        logger().debug("refused a form body of " + std::to_string(bytes.size()) + " bytes: larger than max_bytes");
        return nullptr;
    }
    codec::ArenaTree arena(ctx);
    FormParser parser(arena, _maxFields, _maxStringBytes);
    const sluice_value* tree = parser.parse(bytes);
    if (tree == nullptr) {
        logger().debug("refused a form body: " + parser.error());
    }
    return tree;
}

}  // namespace sluice::plugins
