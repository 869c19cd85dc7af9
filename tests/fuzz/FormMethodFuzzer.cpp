// Fuzz target: the check of a form body's `_method` parameters as it streams (FormMethodScanner.h).
// Input: one byte choosing the request's method and the body's kind (urlencoded or multipart with
// the boundary "XyZ"), one choosing where the body is split, then the body. Invariants: any split
// gives the answer of the body fed whole, and that answer is the one of a plain reading of the
// whole body without the streaming scanners' state machines and bounds: for urlencoded, split on
// '&' and ';', decodeFormComponent, compare; for multipart, string searches for delimiters, empty lines
// and the two names, in each header block as it is and with its %XX escapes decoded. The
// multipart scanner also decodes RFC 2047 encoded words and checks RFC 2231 charsets: so its
// answer must include the reference's, and equal it in a body without "=?" or '*'.

#include "FuzzTarget.h"

#include <sluice/runtime/http/FormMethodScanner.h>

#include <strings.h>

#include <cctype>
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
