#include "sluice/runtime/Json.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/ParseHandler.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>

namespace sluice::runtime {

namespace {

// A strict RFC 8259 syntax scan, run only to say where a text Poco refused goes wrong (Poco's
// message has no position).
class SyntaxScan {
public:
    explicit SyntaxScan(std::string_view text) : _s(text) {}

    // The offset of the first byte that cannot continue a JSON text (the text's size when it ends
    // too soon); npos when the scan finds nothing wrong (Poco refused it for another reason).
    std::size_t firstError()
    {
        if (_s.substr(0, 3) == "\xEF\xBB\xBF") {
            _reason = "a byte order mark: JSON text does not begin with one (RFC 8259 section 8.1)";
            return 0;
        }
        skipSpace();
        if (!value(0)) {
            return _pos;
        }
        skipSpace();
        return _pos == _s.size() ? std::string_view::npos : _pos;
    }

    // Why, where the scan knows better than Poco's message (which may say "unterminated string
    // literal" for a bad byte in one); empty otherwise.
    const std::string& reason() const noexcept { return _reason; }

private:
    static constexpr int kMaxDepth = 512;  // deeper is reported where it goes deeper

    bool at(char c) const { return _pos < _s.size() && _s[_pos] == c; }

    void skipSpace()
    {
        while (at(' ') || at('\t') || at('\n') || at('\r')) {
            ++_pos;
        }
    }

    bool value(int depth)
    {
        if (_pos >= _s.size()) {
            return false;
        }
        switch (_s[_pos]) {
            case '{': return members(depth + 1, '}', true);
            case '[': return members(depth + 1, ']', false);
            case '"': return string();
            case 't': return literal("true");
            case 'f': return literal("false");
            case 'n': return literal("null");
            default: return number();
        }
    }

    // An object (`named`: members are "name": value) or an array, from its opening bracket.
    bool members(int depth, char close, bool named)
    {
        if (depth > kMaxDepth) {
            return false;
        }
        ++_pos;
        skipSpace();
        if (at(close)) {
            ++_pos;
            return true;
        }
        std::unordered_set<std::string_view> names;  // as written, escapes and all
        for (;;) {
            if (named) {
                const std::size_t start = _pos;
                if (!at('"') || !string()) {
                    return false;
                }
                const std::string_view name = _s.substr(start, _pos - start);
                if (!names.insert(name).second) {
                    // Poco keeps the last value: one of two settings would be dropped unseen.
                    _pos = start;
                    _reason = "duplicate member " + std::string(name);
                    return false;
                }
                skipSpace();
                if (!at(':')) {
                    return false;
                }
                ++_pos;
                skipSpace();
            }
            if (!value(depth)) {
                return false;
            }
            skipSpace();
            if (at(',')) {
                ++_pos;
                skipSpace();
            } else if (at(close)) {
                ++_pos;
                return true;
            } else {
                return false;
            }
        }
    }

    bool string()
    {
        ++_pos;  // the opening quote
        while (_pos < _s.size()) {
            const auto c = static_cast<unsigned char>(_s[_pos]);
            if (c == '"') {
                ++_pos;
                return true;
            }
            if (c < 0x20) {
                return false;
            }
            if (c >= 0x80) {
                if (!utf8Sequence()) {
                    _reason = "invalid UTF-8";
                    return false;
                }
                continue;
            }
            if (c == '\\') {
                ++_pos;
                if (at('u')) {
                    for (int i = 0; i < 4; ++i) {
                        ++_pos;
                        if (_pos >= _s.size() || !std::isxdigit(static_cast<unsigned char>(_s[_pos]))) {
                            return false;
                        }
                    }
                } else if (_pos >= _s.size() || std::strchr("\"\\/bfnrt", _s[_pos]) == nullptr || _s[_pos] == '\0') {
                    return false;
                }
            }
            ++_pos;
        }
        return false;
    }

    // One well-formed UTF-8 sequence at _pos (RFC 3629: no overlong forms, no surrogates, at
    // most U+10FFFF), stepped over.
    bool utf8Sequence()
    {
        const auto lead = static_cast<unsigned char>(_s[_pos]);
        const std::size_t length = lead >= 0xC2 && lead <= 0xDF   ? 2
                                   : lead >= 0xE0 && lead <= 0xEF ? 3
                                   : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                                  : 0;
        if (length == 0 || _pos + length > _s.size()) {
            return false;
        }
        for (std::size_t i = 1; i < length; ++i) {
            const auto next = static_cast<unsigned char>(_s[_pos + i]);
            unsigned char low = 0x80;
            unsigned char high = 0xBF;
            if (i == 1) {
                low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
                high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
            }
            if (next < low || next > high) {
                _pos += i;
                return false;
            }
        }
        _pos += length;
        return true;
    }

    bool digits()
    {
        const std::size_t from = _pos;
        while (_pos < _s.size() && std::isdigit(static_cast<unsigned char>(_s[_pos]))) {
            ++_pos;
        }
        return _pos > from;
    }

    // -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
    bool number()
    {
        if (at('-')) {
            ++_pos;
        }
        if (at('0')) {
            ++_pos;
        } else if (!digits()) {
            return false;
        }
        if (at('.')) {
            ++_pos;
            if (!digits()) {
                return false;
            }
        }
        if (at('e') || at('E')) {
            ++_pos;
            if (at('+') || at('-')) {
                ++_pos;
            }
            if (!digits()) {
                return false;
            }
        }
        return true;
    }

    bool literal(std::string_view word)
    {
        for (char c : word) {
            if (!at(c)) {
                return false;
            }
            ++_pos;
        }
        return true;
    }

    std::string_view _s;
    std::size_t _pos = 0;
    std::string _reason;
};

// The 1-based line and column (in UTF-8 characters) of byte `offset` of `text`.
std::size_t jsonLine(std::string_view text, std::size_t offset)
{
    offset = std::min(offset, text.size());
    return 1 +
           static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

std::size_t jsonColumn(std::string_view text, std::size_t offset)
{
    offset = std::min(offset, text.size());
    std::size_t start = offset;
    while (start > 0 && text[start - 1] != '\n') {
        --start;
    }
    std::size_t column = 1;
    for (std::size_t i = start; i < offset; ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
            ++column;  // a character: UTF-8 continuation bytes do not count
        }
    }
    return column;
}

}  // namespace

std::optional<Poco::Dynamic::Var> parseJson(const std::string& text, std::string& error)
{
    try {
        Poco::JSON::Parser parser(new Poco::JSON::ParseHandler(true));
        Poco::Dynamic::Var parsed = parser.parse(text);
        // Poco takes a member named twice and keeps the last value; the scan finds it.
        SyntaxScan scan(text);
        if (const std::size_t offset = scan.firstError(); offset != std::string_view::npos && !scan.reason().empty()) {
            error = "line " + std::to_string(jsonLine(text, offset)) + ", column " +
                    std::to_string(jsonColumn(text, offset)) + ": " + scan.reason();
            return std::nullopt;
        }
        return std::optional<Poco::Dynamic::Var>(std::in_place, std::move(parsed));
    } catch (const Poco::Exception& e) {
        error = e.message().empty() ? e.displayText() : e.message();
    } catch (const std::exception& e) {
        error = e.what();
    }
    SyntaxScan scan(text);
    const std::size_t offset = scan.firstError();
    if (offset != std::string_view::npos) {
        error = "line " + std::to_string(jsonLine(text, offset)) + ", column " +
                std::to_string(jsonColumn(text, offset)) + ": " + (scan.reason().empty() ? error : scan.reason());
    }
    return std::nullopt;
}

std::optional<std::string> readTextFile(const std::string& path, std::string& error)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        error = S_ISDIR(st.st_mode) ? "a directory, not a file" : "not a regular file";
        return std::nullopt;
    }
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
