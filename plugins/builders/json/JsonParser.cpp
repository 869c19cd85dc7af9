#include "JsonParser.h"

#include <algorithm>
#include <cstring>

#include <sluice/sdk/HttpSyntax.hpp>

#include "codec/JsonNumber.h"
#include "codec/Utf8.h"

namespace sluice::plugins {

namespace {

std::size_t utf8Length(char32_t cp) noexcept { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

}  // namespace

bool JsonParser::fail(const char* what)
{
    if (_error.empty()) {
        _error = std::string(what) + " at offset " + std::to_string(_pos);
    }
    return false;
}

void JsonParser::skipSpace() noexcept
{
    while (_pos < _text.size()) {
        char c = _text[_pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return;
        }
        ++_pos;
    }
}

bool JsonParser::countNode()
{
    if (++_nodes > _limits.maxNodes) {
        return fail("more values than max_nodes");
    }
    return true;
}

const sluice_value* JsonParser::parse(std::string_view text)
{
    _text = text;
    _pos = 0;
    _nodes = 0;
    _error.clear();
    _open.clear();
    if (text.size() >= 3 && std::memcmp(text.data(), "\xEF\xBB\xBF", 3) == 0) {
        fail("a byte order mark is not allowed");
        return nullptr;
    }
    sluice_value* root = _arena.values(1);
    if (root == nullptr) {
        fail("out of exchange memory");
        return nullptr;
    }
    skipSpace();
    if (!value(*root, 0)) {
        return nullptr;
    }
    skipSpace();
    if (_pos != _text.size()) {
        fail("unexpected characters after the value");
        return nullptr;
    }
    return root;
}

bool JsonParser::value(sluice_value& out, std::size_t depth)
{
    if (!countNode()) {
        return false;
    }
    if (_pos >= _text.size()) {
        return fail("unexpected end of input");
    }
    switch (_text[_pos]) {
        case '{': return object(out, depth + 1);
        case '[': return array(out, depth + 1);
        case '"': out.type = SLUICE_VALUE_STRING; return string(out.text);
        case 't':
            out.type = SLUICE_VALUE_BOOL;
            out.boolean = 1;
            return word("true");
        case 'f': out.type = SLUICE_VALUE_BOOL; return word("false");
        case 'n': out.type = SLUICE_VALUE_NULL; return word("null");
        default: return number(out);
    }
}

bool JsonParser::word(std::string_view literal)
{
    if (_text.substr(_pos, literal.size()) != literal) {
        return fail("invalid literal");
    }
    _pos += literal.size();
    return true;
}

bool JsonParser::number(sluice_value& out)
{
    std::size_t length = codec::scanJsonNumber(_text.substr(_pos));
    if (length == 0) {
        return fail("invalid value");
    }
    if (length > _limits.maxStringBytes) {
        return fail("number literal longer than max_string_bytes");
    }
    std::string_view literal = _text.substr(_pos, length);
    if (!_arena.copy(literal, out.text)) {
        return fail("out of exchange memory");
    }
    out.type = SLUICE_VALUE_NUMBER;
    out.number = codec::jsonNumberValue(literal);
    _pos += length;
    return true;
}

// Reads the escape sequence after a backslash at pos (pointing at the character after '\').
// For \u escapes a high surrogate must be followed by an escaped low surrogate.
bool JsonParser::escape(std::size_t& pos, char32_t& cp)
{
    if (pos >= _text.size()) {
        return fail("unterminated string");
    }
    char e = _text[pos++];
    switch (e) {
        case '"': cp = '"'; return true;
        case '\\': cp = '\\'; return true;
        case '/': cp = '/'; return true;
        case 'b': cp = '\b'; return true;
        case 'f': cp = '\f'; return true;
        case 'n': cp = '\n'; return true;
        case 'r': cp = '\r'; return true;
        case 't': cp = '\t'; return true;
        case 'u': break;
        default: return fail("invalid escape sequence");
    }
    auto hex4 = [&](char32_t& v) {
        if (_text.size() - pos < 4) {
            return false;
        }
        v = 0;
        for (int i = 0; i < 4; ++i) {
            int d = sdk::hexValue(_text[pos++]);
            if (d < 0) {
                return false;
            }
            v = (v << 4) | static_cast<char32_t>(d);
        }
        return true;
    };
    if (!hex4(cp)) {
        return fail("invalid \\u escape");
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return fail("unpaired low surrogate");
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        char32_t low = 0;
        if (_text.substr(pos, 2) != "\\u") {
            return fail("unpaired high surrogate");
        }
        pos += 2;
        if (!hex4(low)) {
            return fail("invalid \\u escape");
        }
        if (low < 0xDC00 || low > 0xDFFF) {
            return fail("unpaired high surrogate");
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    return true;
}

bool JsonParser::string(sluice_str& out)
{
    // First pass: find the end, validate everything and measure the decoded length; second
    // pass (only when there are escapes): decode into arena memory of exactly that size.
    const std::size_t start = ++_pos;
    std::size_t decoded = 0;
    bool escapes = false;
    for (;;) {
        if (_pos >= _text.size()) {
            return fail("unterminated string");
        }
        const unsigned char c = static_cast<unsigned char>(_text[_pos]);
        if (c == '"') {
            break;
        }
        if (c == '\\') {
            char32_t cp = 0;
            ++_pos;
            if (!escape(_pos, cp)) {
                return false;
            }
            decoded += utf8Length(cp);
            escapes = true;
        } else if (c < 0x20) {
            return fail("unescaped control character in string");
        } else if (c < 0x80) {
            ++_pos;
            ++decoded;
        } else {
            std::size_t before = _pos;
            if (codec::decodeUtf8(_text, _pos) == codec::kInvalidCodePoint) {
                return fail("invalid UTF-8 in string");
            }
            decoded += _pos - before;
        }
        if (decoded > _limits.maxStringBytes) {
            return fail("string longer than max_string_bytes");
        }
    }
    const std::size_t end = _pos;
    _pos = end + 1;
    if (!escapes) {
        return _arena.copy(_text.substr(start, end - start), out) || fail("out of exchange memory");
    }
    char* p = _arena.bytes(decoded);
    if (p == nullptr) {
        return fail("out of exchange memory");
    }
    std::size_t w = 0;
    for (std::size_t pos = start; pos < end;) {
        if (_text[pos] != '\\') {
            p[w++] = _text[pos++];
            continue;
        }
        char32_t cp = 0;
        ++pos;
        escape(pos, cp);  // validated by the first pass
        w += codec::encodeUtf8(cp, p + w);
    }
    out = sluice_str{p, w};
    return true;
}

bool JsonParser::uniqueKeys(std::size_t first)
{
    const std::size_t count = _open.size() - first;
    if (count < 2) {
        return true;
    }
    if (count <= 16) {
        for (std::size_t i = first; i < _open.size(); ++i) {
            for (std::size_t j = i + 1; j < _open.size(); ++j) {
                if (sdk::view(_open[i].key) == sdk::view(_open[j].key)) {
                    return fail("duplicate object key");
                }
            }
        }
        return true;
    }
    _keys.clear();
    for (std::size_t i = first; i < _open.size(); ++i) {
        _keys.push_back(sdk::view(_open[i].key));
    }
    std::sort(_keys.begin(), _keys.end());
    if (std::adjacent_find(_keys.begin(), _keys.end()) != _keys.end()) {
        return fail("duplicate object key");
    }
    return true;
}

bool JsonParser::object(sluice_value& out, std::size_t depth)
{
    if (depth > _limits.maxDepth) {
        return fail("nesting deeper than max_depth");
    }
    ++_pos;  // '{'
    const std::size_t first = _open.size();
    skipSpace();
    if (_pos < _text.size() && _text[_pos] == '}') {
        ++_pos;
    } else {
        for (;;) {
            if (_open.size() - first >= _limits.maxObjectMembers) {
                return fail("object with more members than max_object_members");
            }
            if (_pos >= _text.size() || _text[_pos] != '"') {
                return fail("expected a string key");
            }
            sluice_member m{};
            if (!string(m.key)) {
                return false;
            }
            skipSpace();
            if (_pos >= _text.size() || _text[_pos] != ':') {
                return fail("expected ':'");
            }
            ++_pos;
            skipSpace();
            if (!value(m.value, depth)) {
                return false;
            }
            _open.push_back(m);
            skipSpace();
            if (_pos < _text.size() && _text[_pos] == ',') {
                ++_pos;
                skipSpace();
                continue;
            }
            if (_pos < _text.size() && _text[_pos] == '}') {
                ++_pos;
                break;
            }
            return fail("expected ',' or '}'");
        }
    }
    if (!uniqueKeys(first)) {
        return false;
    }
    const std::size_t count = _open.size() - first;
    out.type = SLUICE_VALUE_OBJECT;
    out.count = count;
    if (count > 0) {
        sluice_member* members = _arena.members(count);
        if (members == nullptr) {
            return fail("out of exchange memory");
        }
        std::memcpy(static_cast<void*>(members), _open.data() + first, count * sizeof(sluice_member));
        out.members = members;
    }
    _open.resize(first);
    return true;
}

bool JsonParser::array(sluice_value& out, std::size_t depth)
{
    if (depth > _limits.maxDepth) {
        return fail("nesting deeper than max_depth");
    }
    ++_pos;  // '['
    const std::size_t first = _open.size();
    skipSpace();
    if (_pos < _text.size() && _text[_pos] == ']') {
        ++_pos;
    } else {
        for (;;) {
            if (_open.size() - first >= _limits.maxArrayItems) {
                return fail("array with more items than max_array_items");
            }
            sluice_member m{};
            if (!value(m.value, depth)) {
                return false;
            }
            _open.push_back(m);
            skipSpace();
            if (_pos < _text.size() && _text[_pos] == ',') {
                ++_pos;
                skipSpace();
                continue;
            }
            if (_pos < _text.size() && _text[_pos] == ']') {
                ++_pos;
                break;
            }
            return fail("expected ',' or ']'");
        }
    }
    const std::size_t count = _open.size() - first;
    out.type = SLUICE_VALUE_ARRAY;
    out.count = count;
    if (count > 0) {
        sluice_value* items = _arena.values(count);
        if (items == nullptr) {
            return fail("out of exchange memory");
        }
        for (std::size_t i = 0; i < count; ++i) {
            items[i] = _open[first + i].value;
        }
        out.items = items;
    }
    _open.resize(first);
    return true;
}

}  // namespace sluice::plugins
