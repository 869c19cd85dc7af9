#pragma once

// Test helper: parses JSON text into a sluice_value tree that owns its memory, so a plugin's
// configuration (or a message) can be written as JSON in a test. Strict (RFC 8259), depth
// limited; throws std::invalid_argument with the byte offset on bad input. Not for production
// input: the runtime uses its own parser.

#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/abi.h"

namespace sluice::sdk::testing {

class JsonTree {
public:
    explicit JsonTree(std::string_view text) : _text(text)
    {
        skipSpace();
        _root = parseValue(0);
        skipSpace();
        if (_pos != _text.size()) {
            fail("trailing characters");
        }
    }
    JsonTree(const JsonTree&) = delete;
    JsonTree& operator=(const JsonTree&) = delete;

    const sluice_value* root() const noexcept { return &_root; }

private:
    static constexpr int kMaxDepth = 64;

    [[noreturn]] void fail(const char* what) const
    {
        throw std::invalid_argument(std::string("JSON: ") + what + " at offset " + std::to_string(_pos));
    }

    void skipSpace()
    {
        while (_pos < _text.size() &&
               (_text[_pos] == ' ' || _text[_pos] == '\t' || _text[_pos] == '\n' || _text[_pos] == '\r')) {
            ++_pos;
        }
    }

    bool consume(std::string_view literal)
    {
        if (_text.substr(_pos, literal.size()) == literal) {
            _pos += literal.size();
            return true;
        }
        return false;
    }

    sluice_str keep(std::string s)
    {
        _strings.push_back(std::move(s));
        return sluice_str{_strings.back().data(), _strings.back().size()};
    }

    static void appendUtf8(std::string& out, unsigned long cp)
    {
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }

    unsigned long hex4()
    {
        if (_pos + 4 > _text.size()) {
            fail("short \\u escape");
        }
        unsigned long v = 0;
        for (int i = 0; i < 4; ++i) {
            char c = _text[_pos++];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= static_cast<unsigned long>(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= static_cast<unsigned long>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= static_cast<unsigned long>(c - 'A' + 10);
            else
                fail("bad \\u escape");
        }
        return v;
    }

    std::string parseString()
    {
        if (!consume("\"")) {
            fail("expected a string");
        }
        std::string out;
        while (true) {
            if (_pos >= _text.size()) {
                fail("unterminated string");
            }
            char c = _text[_pos++];
            if (c == '"') {
                return out;
            }
            if (static_cast<unsigned char>(c) < 0x20) {
                fail("control character in string");
            }
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (_pos >= _text.size()) {
                fail("unterminated escape");
            }
            char e = _text[_pos++];
            switch (e) {
                case '"': out.push_back('"'); break;
                case '\\': out.push_back('\\'); break;
                case '/': out.push_back('/'); break;
                case 'b': out.push_back('\b'); break;
                case 'f': out.push_back('\f'); break;
                case 'n': out.push_back('\n'); break;
                case 'r': out.push_back('\r'); break;
                case 't': out.push_back('\t'); break;
                case 'u': {
                    unsigned long cp = hex4();
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (!consume("\\u")) {
                            fail("lone surrogate");
                        }
                        unsigned long low = hex4();
                        if (low < 0xDC00 || low > 0xDFFF) {
                            fail("bad surrogate pair");
                        }
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                        fail("lone surrogate");
                    }
                    appendUtf8(out, cp);
                    break;
                }
                default: fail("bad escape");
            }
        }
    }

    sluice_value parseNumber()
    {
        std::size_t start = _pos;
        consume("-");
        if (consume("0")) {
        } else if (_pos < _text.size() && _text[_pos] >= '1' && _text[_pos] <= '9') {
            while (_pos < _text.size() && _text[_pos] >= '0' && _text[_pos] <= '9') ++_pos;
        } else {
            fail("bad number");
        }
        if (consume(".")) {
            std::size_t digits = _pos;
            while (_pos < _text.size() && _text[_pos] >= '0' && _text[_pos] <= '9') ++_pos;
            if (_pos == digits) fail("bad fraction");
        }
        if (_pos < _text.size() && (_text[_pos] == 'e' || _text[_pos] == 'E')) {
            ++_pos;
            if (!consume("+")) consume("-");
            std::size_t digits = _pos;
            while (_pos < _text.size() && _text[_pos] >= '0' && _text[_pos] <= '9') ++_pos;
            if (_pos == digits) fail("bad exponent");
        }
        sluice_value v{};
        v.type = SLUICE_VALUE_NUMBER;
        v.text = keep(std::string(_text.substr(start, _pos - start)));
        v.number = std::strtod(v.text.data, nullptr);
        return v;
    }

    sluice_value parseValue(int depth)
    {
        if (depth > kMaxDepth) {
            fail("nesting too deep");
        }
        sluice_value v{};
        if (_pos >= _text.size()) {
            fail("unexpected end");
        }
        char c = _text[_pos];
        if (c == '{') {
            ++_pos;
            std::vector<sluice_member> members;
            skipSpace();
            if (!consume("}")) {
                do {
                    skipSpace();
                    sluice_member m{};
                    m.key = keep(parseString());
                    skipSpace();
                    if (!consume(":")) fail("expected ':'");
                    skipSpace();
                    m.value = parseValue(depth + 1);
                    members.push_back(m);
                    skipSpace();
                } while (consume(","));
                if (!consume("}")) fail("expected '}'");
            }
            _members.push_back(std::move(members));
            v.type = SLUICE_VALUE_OBJECT;
            v.count = _members.back().size();
            v.members = _members.back().data();
        } else if (c == '[') {
            ++_pos;
            std::vector<sluice_value> items;
            skipSpace();
            if (!consume("]")) {
                do {
                    skipSpace();
                    items.push_back(parseValue(depth + 1));
                    skipSpace();
                } while (consume(","));
                if (!consume("]")) fail("expected ']'");
            }
            _items.push_back(std::move(items));
            v.type = SLUICE_VALUE_ARRAY;
            v.count = _items.back().size();
            v.items = _items.back().data();
        } else if (c == '"') {
            v.type = SLUICE_VALUE_STRING;
            v.text = keep(parseString());
        } else if (consume("true")) {
            v.type = SLUICE_VALUE_BOOL;
            v.boolean = 1;
        } else if (consume("false")) {
            v.type = SLUICE_VALUE_BOOL;
        } else if (consume("null")) {
            v.type = SLUICE_VALUE_NULL;
        } else {
            v = parseNumber();
        }
        return v;
    }

    std::string_view _text;
    std::size_t _pos = 0;
    // deques: element addresses stay valid as more are added.
    std::deque<std::string> _strings;
    std::deque<std::vector<sluice_member>> _members;
    std::deque<std::vector<sluice_value>> _items;
    sluice_value _root{};
};

}  // namespace sluice::sdk::testing
