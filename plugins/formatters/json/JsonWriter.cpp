#include "JsonWriter.h"

#include "codec/JsonNumber.h"
#include "codec/Utf8.h"

namespace sluice::plugins {

namespace {

constexpr char kHex[] = "0123456789abcdef";

void appendU(std::string& out, char32_t unit)
{
    char buf[6] = {
        '\\', 'u', kHex[(unit >> 12) & 0xF], kHex[(unit >> 8) & 0xF], kHex[(unit >> 4) & 0xF], kHex[unit & 0xF]};
    out.append(buf, sizeof buf);
}

}  // namespace

bool JsonWriter::fail(std::string reason)
{
    _error = std::move(reason);
    return false;
}

bool JsonWriter::write(sdk::ValueView v, std::string& out)
{
    _error.clear();
    if (v.isMissing()) {
        return fail("no message");
    }
    return value(v, 0, out);
}

bool JsonWriter::value(sdk::ValueView v, std::size_t depth, std::string& out)
{
    const sluice_value& raw = *v.raw();
    switch (raw.type) {
        case SLUICE_VALUE_NULL: out += "null"; return true;
        case SLUICE_VALUE_BOOL: out += raw.boolean != 0 ? "true" : "false"; return true;
        case SLUICE_VALUE_NUMBER:
            return codec::appendJsonNumber(raw, out) || fail("a number that is not finite has no JSON form");
        case SLUICE_VALUE_STRING: return string(v.asString(), out);
        case SLUICE_VALUE_ARRAY:
        case SLUICE_VALUE_OBJECT: break;
        default: return fail("unknown value type " + std::to_string(raw.type));
    }
    if (depth >= _options.maxDepth) {
        return fail("nesting deeper than max_depth");
    }
    const bool object = raw.type == SLUICE_VALUE_OBJECT;
    out.push_back(object ? '{' : '[');
    for (std::size_t i = 0; i < raw.count; ++i) {
        if (i > 0) {
            out.push_back(',');
        }
        if (object) {
            if (!string(v.keyAt(i), out)) {
                return false;
            }
            out.push_back(':');
        }
        if (!value(object ? v.valueAt(i) : v[i], depth + 1, out)) {
            return false;
        }
    }
    out.push_back(object ? '}' : ']');
    return true;
}

bool JsonWriter::string(std::string_view s, std::string& out)
{
    out.push_back('"');
    std::size_t run = 0;
    std::size_t pos = 0;
    while (pos < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[pos]);
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            ++pos;
            continue;
        }
        out.append(s.substr(run, pos - run));
        if (c < 0x80) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                default: appendU(out, c); break;
            }
            run = ++pos;
            continue;
        }
        const std::size_t start = pos;
        const char32_t cp = codec::decodeUtf8(s, pos);
        if (cp == codec::kInvalidCodePoint) {
            return fail("a string is not valid UTF-8");
        }
        if (cp == 0x2028 || cp == 0x2029) {
            appendU(out, cp);
        } else if (!_options.asciiOnly) {
            out.append(s.substr(start, pos - start));
        } else if (cp < 0x10000) {
            appendU(out, cp);
        } else {
            appendU(out, 0xD800 + ((cp - 0x10000) >> 10));
            appendU(out, 0xDC00 + ((cp - 0x10000) & 0x3FF));
        }
        run = pos;
    }
    out.append(s.substr(run));
    out.push_back('"');
    return true;
}

}  // namespace sluice::plugins
