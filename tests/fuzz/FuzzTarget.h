#pragma once

// Shared by the fuzz targets and the corpus replay. A target is a plain function; built as a
// libFuzzer binary (SLUICE_FUZZ_LIBFUZZER) it is also exported as LLVMFuzzerTestOneInput.
// Checks abort, so both libFuzzer and ctest see a failed invariant as a crash.

#include <sluice/runtime/http/ChunkedDecoder.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#define SLUICE_FUZZ_CHECK(condition)                                                                \
    do {                                                                                            \
        if (!(condition)) {                                                                         \
            std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                           \
        }                                                                                           \
    } while (false)

namespace sluice::fuzz {

int fuzzHttpRequest(const std::uint8_t* data, std::size_t size);
int fuzzHttpResponse(const std::uint8_t* data, std::size_t size);
int fuzzPath(const std::uint8_t* data, std::size_t size);
int fuzzFormMethod(const std::uint8_t* data, std::size_t size);

inline bool inside(std::string_view part, std::string_view whole)
{
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

struct DecodeRun {
    runtime::http::ChunkedDecoder::Status status = runtime::http::ChunkedDecoder::Status::NeedMore;
    std::size_t consumed = 0;
    std::string body;
    bool tooLarge = false;
};

// Feeds `input` to a fresh decoder in pieces whose sizes come from `seed` (0: all at once) and
// checks the feed() contract on the way.
inline DecodeRun decodeInPieces(std::string_view input, unsigned seed, std::uint64_t maxBody, std::size_t maxLine,
                                std::size_t maxTrailer)
{
    using Status = runtime::http::ChunkedDecoder::Status;
    runtime::http::ChunkedDecoder decoder(maxBody, maxLine, maxTrailer);
    DecodeRun run;
    std::size_t offset = 0;
    unsigned state = seed;
    do {
        std::size_t piece = input.size() - offset;
        if (seed != 0) {
            state = state * 1103515245U + 12345U;
            piece = std::min<std::size_t>(piece, 1 + (state >> 16) % 17);
        }
        const std::string_view chunk = input.substr(offset, piece);
        std::size_t used = 0;
        run.status = decoder.feed(chunk, used, [&run, chunk](std::string_view data) {
            SLUICE_FUZZ_CHECK(!data.empty());
            SLUICE_FUZZ_CHECK(inside(data, chunk));
            run.body.append(data);
        });
        SLUICE_FUZZ_CHECK(used <= chunk.size());
        if (run.status == Status::NeedMore) {
            SLUICE_FUZZ_CHECK(used == chunk.size());
        }
        run.consumed += used;
        offset += chunk.size();
    } while (run.status == Status::NeedMore && offset < input.size());
    SLUICE_FUZZ_CHECK(decoder.bodyBytes() == run.body.size());
    SLUICE_FUZZ_CHECK(run.body.size() <= maxBody);
    run.tooLarge = decoder.tooLarge();
    if (run.status == Status::Error) {
        SLUICE_FUZZ_CHECK(decoder.error() != nullptr && decoder.error()[0] != '\0');
    } else {
        SLUICE_FUZZ_CHECK(!run.tooLarge);
    }
    if (run.status == Status::Done) {
        SLUICE_FUZZ_CHECK(run.consumed >= 5);  // "0\r\n\r\n" at least
        // Once done, the decoder takes nothing more.
        std::size_t used = 1;
        SLUICE_FUZZ_CHECK(decoder.feed("0\r\n\r\n", used, [](std::string_view) { std::abort(); }) == Status::Done);
        SLUICE_FUZZ_CHECK(used == 0);
    }
    return run;
}

// Decodes `input` at once and in pieces; both must agree on everything.
inline void checkChunked(std::string_view input, unsigned seed, std::uint64_t maxBody, std::size_t maxLine,
                         std::size_t maxTrailer)
{
    const DecodeRun whole = decodeInPieces(input, 0, maxBody, maxLine, maxTrailer);
    const DecodeRun pieces = decodeInPieces(input, seed | 1U, maxBody, maxLine, maxTrailer);
    SLUICE_FUZZ_CHECK(whole.status == pieces.status);
    SLUICE_FUZZ_CHECK(whole.body == pieces.body);
    SLUICE_FUZZ_CHECK(whole.tooLarge == pieces.tooLarge);
    if (whole.status == runtime::http::ChunkedDecoder::Status::Done) {
        SLUICE_FUZZ_CHECK(whole.consumed == pieces.consumed);
        SLUICE_FUZZ_CHECK(whole.consumed <= input.size());
    }
}

}  // namespace sluice::fuzz

#if defined(SLUICE_FUZZ_LIBFUZZER)
#define SLUICE_FUZZ_EXPORT(function) \
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { return function(data, size); }
#else
#define SLUICE_FUZZ_EXPORT(function)
#endif
