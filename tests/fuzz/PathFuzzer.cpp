// Fuzz target: normalizePath, the canonical form that routing, every policy and the backend see.
// The whole input is the path as it came in the request target (without the query).
//
// Invariants of an accepted path: it starts with '/', fits kMaxNormalizedPathBytes, has no empty,
// "." or ".." segment, no dot segment hiding behind a ';' parameter, no segment of parameters
// only, only upper-case escapes of reserved or non-ASCII bytes, and it is a fixed point that a
// second pass leaves alone (no '..' left to report). The '..' bookkeeping stays within its limits.

#include "FuzzTarget.h"

#include <sluice/runtime/routing/PathNormalizer.h>

namespace sluice::fuzz {
namespace {

using namespace runtime::routing;

bool isUnreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

int hexDigit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;  // lower case is not canonical
}

void checkSegments(std::string_view path)
{
    std::size_t pos = 1;
    while (pos < path.size()) {
        std::size_t end = path.find('/', pos);
        if (end == std::string_view::npos) {
            end = path.size();
        }
        std::string_view segment = path.substr(pos, end - pos);
        // Only the final segment may be empty (a trailing slash).
        SLUICE_FUZZ_CHECK(!segment.empty() || end == path.size());
        std::string_view name = segment.substr(0, segment.find(';'));
        SLUICE_FUZZ_CHECK(segment.empty() || (name != "." && name != ".."));
        SLUICE_FUZZ_CHECK(segment.empty() || !name.empty());  // no segment of parameters only
        for (std::size_t i = 0; i < segment.size(); ++i) {
            if (segment[i] != '%') {
                continue;
            }
            SLUICE_FUZZ_CHECK(i + 2 < segment.size());
            const int high = hexDigit(segment[i + 1]);
            const int low = hexDigit(segment[i + 2]);
            SLUICE_FUZZ_CHECK(high >= 0 && low >= 0);
            const int byte = high * 16 + low;
            SLUICE_FUZZ_CHECK(!isUnreserved(static_cast<unsigned char>(byte)));
            SLUICE_FUZZ_CHECK(byte != '/' && byte != '\\' && byte != 0);
        }
        pos = end + 1;
    }
}

}  // namespace

int fuzzPath(const std::uint8_t* data, std::size_t size)
{
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    std::string error;
    NormalizeInfo info;
    std::optional<std::string> path = normalizePath(input, error, info);
    if (!path) {
        SLUICE_FUZZ_CHECK(!error.empty());
        SLUICE_FUZZ_CHECK(info.keptSegments == kAllSegmentsKept && info.beforePops.empty());
        return 0;
    }
    SLUICE_FUZZ_CHECK(!path->empty() && path->front() == '/');
    SLUICE_FUZZ_CHECK(path->size() <= kMaxNormalizedPathBytes);
    SLUICE_FUZZ_CHECK(path->find("//") == std::string::npos);
    checkSegments(*path);

    SLUICE_FUZZ_CHECK(info.beforePops.size() <= kMaxDotDotSegments);
    SLUICE_FUZZ_CHECK(info.beforePops.empty() == (info.keptSegments == kAllSegmentsKept));
    for (const std::string& before : info.beforePops) {
        SLUICE_FUZZ_CHECK(before.size() > 1 && before.front() == '/' && before.back() != '/');
        SLUICE_FUZZ_CHECK(before.find("//") == std::string::npos);
    }
    if (info.keptSegments != kAllSegmentsKept) {
        const std::size_t depth =
            static_cast<std::size_t>(std::count(path->begin(), path->end(), '/')) - (path->back() == '/' ? 1 : 0);
        SLUICE_FUZZ_CHECK(info.keptSegments <= depth);
    }

    std::string again;
    NormalizeInfo second;
    std::optional<std::string> fixed = normalizePath(*path, again, second);
    SLUICE_FUZZ_CHECK(fixed.has_value() && *fixed == *path);
    SLUICE_FUZZ_CHECK(second.keptSegments == kAllSegmentsKept && second.beforePops.empty());
    return 0;
}

}  // namespace sluice::fuzz

#ifdef SLUICE_FUZZ_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    return sluice::fuzz::fuzzPath(data, size);
}
#endif
