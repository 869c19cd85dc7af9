#include "sluice/runtime/Json.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/ParseHandler.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>

namespace sluice::runtime {

std::optional<Poco::Dynamic::Var> parseJson(const std::string& text, std::string& error)
{
    try {
        Poco::JSON::Parser parser(new Poco::JSON::ParseHandler(true));
        return std::optional<Poco::Dynamic::Var>(std::in_place, parser.parse(text));
    } catch (const Poco::Exception& e) {
        error = e.displayText();
    } catch (const std::exception& e) {
        error = e.what();
    }
    return std::nullopt;
}

std::optional<std::string> readTextFile(const std::string& path, std::string& error)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = std::string("cannot open: ") + std::strerror(errno);
        return std::nullopt;
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (in.bad()) {
        error = "read error";
        return std::nullopt;
    }
    return buffer.str();
}

std::string toJson(const Poco::Dynamic::Var& value)
{
    std::ostringstream out;
    Poco::JSON::Stringifier::condense(value, out);
    return out.str();
}

std::string jsonQuote(std::string_view text)
{
    std::string out;
    out.reserve(text.size() + 2);
    out.push_back('"');
    for (unsigned char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    static const char* hex = "0123456789abcdef";
                    out += "\\u00";
                    out.push_back(hex[c >> 4]);
                    out.push_back(hex[c & 0xf]);
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
    }
    out.push_back('"');
    return out;
}

namespace {

bool copyString(std::string_view s, sluice_str& out, Arena& arena)
{
    char* p = arena.allocateArray<char>(s.size() + 1);
    if (p == nullptr) {
        return false;
    }
    std::memcpy(p, s.data(), s.size());
    out = sluice_str{p, s.size()};
    return true;
}

bool fill(const Poco::Dynamic::Var& v, sluice_value& out, Arena& arena, int depth)
{
    if (depth > 256) {
        return false;
    }
    if (v.isEmpty()) {
        out.type = SLUICE_VALUE_NULL;
        return true;
    }
    if (v.type() == typeid(Poco::JSON::Object::Ptr)) {
        auto obj = v.extract<Poco::JSON::Object::Ptr>();
        std::size_t n = obj->size();
        auto* members = arena.allocateArray<sluice_member>(n);
        if (members == nullptr) {
            return false;
        }
        std::size_t i = 0;
        // getNames() honours the preserved insertion order.
        for (const auto& key : obj->getNames()) {
            if (!copyString(key, members[i].key, arena) || !fill(obj->get(key), members[i].value, arena, depth + 1)) {
                return false;
            }
            ++i;
        }
        out.type = SLUICE_VALUE_OBJECT;
        out.count = i;
        out.members = members;
        return true;
    }
    if (v.type() == typeid(Poco::JSON::Array::Ptr)) {
        auto arr = v.extract<Poco::JSON::Array::Ptr>();
        std::size_t n = arr->size();
        auto* items = arena.allocateArray<sluice_value>(n);
        if (items == nullptr) {
            return false;
        }
        for (std::size_t i = 0; i < n; ++i) {
            if (!fill(arr->get(static_cast<unsigned>(i)), items[i], arena, depth + 1)) {
                return false;
            }
        }
        out.type = SLUICE_VALUE_ARRAY;
        out.count = n;
        out.items = items;
        return true;
    }
    if (v.isBoolean()) {
        out.type = SLUICE_VALUE_BOOL;
        out.boolean = v.extract<bool>() ? 1 : 0;
        return true;
    }
    if (v.isNumeric()) {
        out.type = SLUICE_VALUE_NUMBER;
        out.number = v.convert<double>();
        return copyString(v.convert<std::string>(), out.text, arena);
    }
    out.type = SLUICE_VALUE_STRING;
    return copyString(v.convert<std::string>(), out.text, arena);
}

}  // namespace

const sluice_value* toSluiceValue(const Poco::Dynamic::Var& value, Arena& arena)
{
    auto* root = arena.allocateArray<sluice_value>(1);
    if (root == nullptr || !fill(value, *root, arena, 0)) {
        return nullptr;
    }
    return root;
}

std::string jsonPointerToken(std::string_view token)
{
    std::string out;
    for (char c : token) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

}  // namespace sluice::runtime
