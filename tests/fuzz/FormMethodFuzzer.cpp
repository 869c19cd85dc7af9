// Fuzz target: the check of a form body's `_method` parameters as it streams (FormMethodScanner.h).
// Input: one byte choosing the request's method and the body's kind (urlencoded or multipart with
// the boundary "XyZ"), one choosing where the body is split, then the body. Invariants: any split
// gives the answer of the body fed whole, and that answer is the one of a plain reading of the
// whole body without the streaming scanners' state machines and bounds: for urlencoded, split on
// '&' and ';', decodeFormComponent, compare; for multipart, string searches for delimiters, empty
// lines and the two names, in each header block as it is, with its %XX escapes decoded, and with
// its encoded words decoded where all are well-formed. The multipart scanner reads more than that
// (loose encoded words, RFC 2231 charsets): so its answer must include the reference's, and equal
// it in a body without "=?" or '*'.

#include "FuzzTarget.h"

#include <sluice/runtime/http/FormMethodScanner.h>

#include <strings.h>

#include <cctype>
#include <optional>
#include <string>

namespace sluice::fuzz {
namespace {

using runtime::http::FormMethodScanner;
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
    const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);
    const std::size_t cut = body.empty() ? 0 : data[1] % (body.size() + 1);

    auto make = [&]() -> std::unique_ptr<runtime::http::BodyMethodScanner> {
        if (multipart) {
            return std::make_unique<MultipartMethodScanner>("XyZ", method);
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
    if (!multipart) {
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
