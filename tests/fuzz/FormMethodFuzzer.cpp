// Fuzz target: the check of a form or JSON body's `_method` parameters as it streams
// (FormMethodScanner.h, JsonMethodScanner.h). Input: one byte choosing the request's method and the
// body's kind (urlencoded, multipart with the boundary "XyZ", or JSON), one choosing where the body
// is split, then the body. Invariants: any split
// gives the answer of the body fed whole, and that answer is the one of a plain reading of the
// whole body without the streaming scanners' state machines and bounds: for urlencoded, split on
// '&' and ';', decodeFormComponent, compare; for multipart, string searches for delimiters, empty
// lines and the two names, in each header block as it is, with its %XX escapes decoded, and with
// its encoded words decoded where all are well-formed. The multipart scanner reads more than that
// (loose encoded words, RFC 2231 charsets): so its answer must include the reference's, and equal
// it in a body without "=?" or '*'. For JSON, a strict recursive reader (RFC 8259) of the whole
// body: when the body is valid JSON, the scanner's answer is whether a member `_method` of the
// top-level object has a value other than a string naming the method; invalid JSON, which no
// framework decodes, is only held to the split invariant.

#include "FuzzTarget.h"

#include <sluice/runtime/http/FormMethodScanner.h>

#include <strings.h>

#include <cctype>
#include <optional>
#include <string>

#include <sluice/runtime/http/JsonMethodScanner.h>

namespace sluice::fuzz {
namespace {

using runtime::http::FormMethodScanner;
using runtime::http::JsonMethodScanner;
using runtime::http::MultipartMethodScanner;

// As documented in FormMethodScanner.h, a method longer than 16 bytes is never matched.
bool referenceOverrides(std::string_view body, std::string_view method)
{
    constexpr std::size_t kLongestMatched = 16;
    bool overrides = false;
    std::size_t start = 0;
    while (start <= body.size()) {
        std::size_t end = body.find_first_of("&;", start);
        if (end == std::string_view::npos) {
            end = body.size();
        }
        const std::string_view pair = body.substr(start, end - start);
        const std::size_t eq = pair.find('=');
        const std::string name = runtime::http::decodeFormComponent(pair.substr(0, eq));
        if (runtime::http::isMethodParameterName(name)) {
            const std::string value =
                eq == std::string_view::npos ? std::string() : runtime::http::decodeFormComponent(pair.substr(eq + 1));
            overrides = overrides || method.size() > kLongestMatched || value.size() != method.size() ||
                        ::strncasecmp(value.data(), method.data(), method.size()) != 0;
        }
        start = end + 1;
    }
    return overrides;
}

std::string percentDecoded(std::string_view in)
{
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%' && i + 2 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1])) != 0 &&
            std::isxdigit(static_cast<unsigned char>(in[i + 2])) != 0) {
            out.push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(in[i]);
        }
    }
    return out;
}

bool namesMethod(std::string_view text)
{
    return text.find("_method") != std::string_view::npos || text.find(".method") != std::string_view::npos;
}

int base64Digit(char c)
{
    static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const std::size_t at = kAlphabet.find(c);
    return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

// The RFC 2047 encoded words of a header block, decoded and joined, when every "=?" in it starts
// a well-formed one (=?charset?B|Q?text?= with a token charset and text of the encoding's own
// characters); nullopt otherwise, as the scanner's looser reading is not modelled here.
// `foreign` is set when a word names a charset that is not ASCII-compatible.
std::optional<std::string> strictEncodedWords(std::string_view block, bool& foreign)
{
    std::string out;
    std::size_t at = block.find("=?");
    while (at != std::string_view::npos) {
        std::size_t i = at + 2;
        const std::size_t charsetStart = i;
        while (i < block.size() &&
               (std::isalnum(static_cast<unsigned char>(block[i])) != 0 || block[i] == '-' || block[i] == '_')) {
            ++i;
        }
        const std::string_view charset = block.substr(charsetStart, i - charsetStart);
        if (charset.empty() || charset.size() > 40 || i + 2 >= block.size() || block[i] != '?' ||
            std::string_view("BbQq").find(block[i + 1]) == std::string_view::npos || block[i + 2] != '?') {
            return std::nullopt;
        }
        const bool base64 = block[i + 1] == 'B' || block[i + 1] == 'b';
        const std::size_t textStart = i + 3;
        const std::size_t textEnd = block.find('?', textStart);
        if (textEnd == std::string_view::npos || textEnd + 1 >= block.size() || block[textEnd + 1] != '=') {
            return std::nullopt;
        }
        foreign = foreign || !runtime::http::BodyMethodScanner::asciiCompatibleCharset("text/plain; charset=" +
                                                                                       std::string(charset));
        const std::string_view text = block.substr(textStart, textEnd - textStart);
        unsigned bits = 0;
        int count = 0;
        for (std::size_t k = 0; k < text.size(); ++k) {
            const char c = text[k];
            if (base64) {
                if (c == '=') {
                    continue;
                }
                const int digit = base64Digit(c);
                if (digit < 0) {
                    return std::nullopt;
                }
                bits = ((bits << 6U) | static_cast<unsigned>(digit)) & 0xFFFFU;
                count += 6;
                if (count >= 8) {
                    count -= 8;
                    out.push_back(static_cast<char>((bits >> static_cast<unsigned>(count)) & 0xFFU));
                }
            } else if (c == '=') {
                if (k + 2 >= text.size() || std::isxdigit(static_cast<unsigned char>(text[k + 1])) == 0 ||
                    std::isxdigit(static_cast<unsigned char>(text[k + 2])) == 0) {
                    return std::nullopt;
                }
                out.push_back(static_cast<char>(std::stoi(std::string(text.substr(k + 1, 2)), nullptr, 16)));
                k += 2;
            } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' || c == ';') {
                return std::nullopt;
            } else {
                out.push_back(c == '_' ? ' ' : c);
            }
        }
        at = block.find("=?", textEnd + 1);  // "?=?" starts another
    }
    return out;
}

// The multipart reading of MultipartMethodScanner, on the whole body with plain searches: every
// "--XyZ" starts a header block that runs to the first empty line (the delimiter's own line is
// never empty; a line of '\r' only is); "_method" or ".method" inside one, as it is or with its
// escapes decoded, overrides.
bool referenceMultipart(std::string_view body)
{
    const std::string_view delimiter = "--XyZ";
    std::size_t pos = 0;
    for (;;) {
        const std::size_t at = body.find(delimiter, pos);
        if (at == std::string_view::npos) {
            return false;
        }
        const std::size_t start = at + delimiter.size();
        std::size_t end = body.size();
        std::size_t lineStart = start;
        for (std::size_t i = start; i < body.size(); ++i) {
            if (body[i] != '\n') {
                continue;
            }
            const std::string_view line = body.substr(lineStart, i - lineStart);
            if (lineStart != start && line.find_first_not_of('\r') == std::string_view::npos) {
                end = i + 1;
                break;
            }
            lineStart = i + 1;
        }
        const std::string_view block = body.substr(start, end - start);
        if (namesMethod(block) || namesMethod(percentDecoded(block))) {
            return true;
        }
        bool foreign = false;
        const auto words = strictEncodedWords(block, foreign);
        if (words && (foreign || namesMethod(*words))) {
            return true;
        }
        if (end >= body.size()) {
            return false;
        }
        pos = end;
    }
}

// A strict JSON reader of a whole text: whether the top-level object's `_method` members override
// `method`, or nullopt for text that is not JSON (or nested deeper than it cares to follow).
class JsonReference {
public:
    JsonReference(std::string_view text, std::string_view method) : _text(text), _method(method) {}

    std::optional<bool> overrides()
    {
        skipSpace();
        if (!value(0)) {
            return std::nullopt;
        }
        skipSpace();
        if (_at != _text.size()) {
            return std::nullopt;
        }
        return _overrides;
    }

private:
    static constexpr int kMaxDepth = 64;
    static constexpr std::size_t kLongestMatched = 16;

    bool more() const { return _at < _text.size(); }
    char peek() const { return _text[_at]; }
    void skipSpace()
    {
        while (more() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) {
            ++_at;
        }
    }
    bool literal(std::string_view word)
    {
        if (_text.substr(_at, word.size()) != word) {
            return false;
        }
        _at += word.size();
        return true;
    }
    bool digits()
    {
        const std::size_t from = _at;
        while (more() && std::isdigit(static_cast<unsigned char>(peek())) != 0) {
            ++_at;
        }
        return _at > from;
    }
    bool number()
    {
        if (more() && peek() == '-') {
            ++_at;
        }
        if (more() && peek() == '0') {
            ++_at;
        } else if (!digits()) {
            return false;
        }
        if (more() && peek() == '.') {
            ++_at;
            if (!digits()) {
                return false;
            }
        }
        if (more() && (peek() == 'e' || peek() == 'E')) {
            ++_at;
            if (more() && (peek() == '+' || peek() == '-')) {
                ++_at;
            }
            if (!digits()) {
                return false;
            }
        }
        return true;
    }
    // A string at _at (its opening quote), decoded: escapes to the code unit's value, as UTF-8
    // when it is not ASCII (a method name never is).
    std::optional<std::string> string()
    {
        if (!more() || peek() != '"') {
            return std::nullopt;
        }
        ++_at;
        std::string out;
        while (more()) {
            const char c = _text[_at++];
            if (c == '"') {
                return out;
            }
            if (static_cast<unsigned char>(c) < 0x20) {
                return std::nullopt;
            }
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (!more()) {
                return std::nullopt;
            }
            const char e = _text[_at++];
            const std::string_view simple = "\"\\/bfnrt";
            const std::string_view meant = "\"\\/\b\f\n\r\t";
            if (simple.find(e) != std::string_view::npos) {
                out.push_back(meant[simple.find(e)]);
                continue;
            }
            if (e != 'u' || _at + 4 > _text.size()) {
                return std::nullopt;
            }
            const std::string hex(_text.substr(_at, 4));
            if (hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
                return std::nullopt;
            }
            _at += 4;
            const unsigned long unit = std::stoul(hex, nullptr, 16);
            if (unit < 0x80) {
                out.push_back(static_cast<char>(unit));
            } else {
                out += "\xC2\x80";  // some character that is not ASCII
            }
        }
        return std::nullopt;
    }
    bool value(int depth)
    {
        if (!more() || depth > kMaxDepth) {
            return false;
        }
        switch (peek()) {
            case '{': return object(depth);
            case '[': return array(depth);
            case '"': return string().has_value();
            case 't': return literal("true");
            case 'f': return literal("false");
            case 'n': return literal("null");
            default: return number();
        }
    }
    bool array(int depth)
    {
        ++_at;
        skipSpace();
        if (more() && peek() == ']') {
            ++_at;
            return true;
        }
        while (true) {
            skipSpace();
            if (!value(depth + 1)) {
                return false;
            }
            skipSpace();
            if (!more()) {
                return false;
            }
            const char c = _text[_at++];
            if (c == ']') {
                return true;
            }
            if (c != ',') {
                return false;
            }
        }
    }
    bool object(int depth)
    {
        ++_at;
        skipSpace();
        if (more() && peek() == '}') {
            ++_at;
            return true;
        }
        while (true) {
            skipSpace();
            const auto name = string();
            if (!name) {
                return false;
            }
            skipSpace();
            if (!more() || _text[_at++] != ':') {
                return false;
            }
            skipSpace();
            const std::size_t valueAt = _at;
            if (!value(depth + 1)) {
                return false;
            }
            if (depth == 0 && *name == "_method") {
                judge(_text.substr(valueAt, _at - valueAt));
            }
            skipSpace();
            if (!more()) {
                return false;
            }
            const char c = _text[_at++];
            if (c == '}') {
                return true;
            }
            if (c != ',') {
                return false;
            }
        }
    }
    void judge(std::string_view valueText)
    {
        if (valueText.empty() || valueText.front() != '"') {
            _overrides = true;
            return;
        }
        JsonReference inner(valueText, _method);
        const std::string named = *inner.string();
        _overrides = _overrides || _method.size() > kLongestMatched || named.size() != _method.size() ||
                     ::strncasecmp(named.data(), _method.data(), _method.size()) != 0;
    }

    std::string_view _text;
    std::string_view _method;
    std::size_t _at = 0;
    bool _overrides = false;
};

}  // namespace

int fuzzFormMethod(const std::uint8_t* data, std::size_t size)
{
    if (size < 2) {
        return 0;
    }
    static const std::string longMethod(20, 'M');
    const std::string_view methods[] = {"POST", "PUT", "DELETE", "post", longMethod};
    const std::string_view method = methods[data[0] % 5];
    const bool multipart = (data[0] & 0x80) != 0;
    const bool json = !multipart && (data[0] & 0x40) != 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);
    const std::size_t cut = body.empty() ? 0 : data[1] % (body.size() + 1);

    auto make = [&]() -> std::unique_ptr<runtime::http::BodyMethodScanner> {
        if (multipart) {
            return std::make_unique<MultipartMethodScanner>("XyZ", method);
        }
        if (json) {
            return std::make_unique<JsonMethodScanner>(method);
        }
        return std::make_unique<FormMethodScanner>(method);
    };
    auto whole = make();
    whole->feed(body);
    whole->finish();
    auto split = make();
    split->feed(body.substr(0, cut));
    split->feed(body.substr(cut));
    split->finish();
    SLUICE_FUZZ_CHECK(split->overrides() == whole->overrides());
    if (json) {
        const std::optional<bool> reference = JsonReference(body, method).overrides();
        SLUICE_FUZZ_CHECK(!reference || *reference == whole->overrides());
    } else if (!multipart) {
        SLUICE_FUZZ_CHECK(whole->overrides() == referenceOverrides(body, method));
    } else if (body.find("=?") == std::string_view::npos && body.find('*') == std::string_view::npos) {
        SLUICE_FUZZ_CHECK(whole->overrides() == referenceMultipart(body));
    } else {
        SLUICE_FUZZ_CHECK(whole->overrides() || !referenceMultipart(body));
    }
    return 0;
}

}  // namespace sluice::fuzz

#ifdef SLUICE_FUZZ_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    return sluice::fuzz::fuzzFormMethod(data, size);
}
#endif
