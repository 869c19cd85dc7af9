#pragma once

// Incremental, strict decoder of the chunked transfer coding (RFC 9112 §7.1).
// chunk-size is 1*HEXDIG only (no sign, no "0x", no whitespace inside or before it), at most 16
// hex digits and bounded by the caller's body limit (checked as soon as the digits are read, before
// any data of that chunk). Chunk extensions follow the grammar exactly,
//   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
// so SP/HTAB is accepted only next to ';' and '=' ("5 ;a=b" is fine, "5 " or "5 x" is not); names
// are tokens, values tokens or quoted-strings; they are dropped. The whole chunk-size line is
// bounded by maxLineBytes (CRLF not counted). Every line ends in CRLF (bare LF refused); chunk
// data must be followed by CRLF. Trailer field lines are syntax-checked like header fields (no
// obs-fold), bounded in total by maxTrailerBytes (counting the final CRLF), and dropped. A trailer
// field that would frame or route the message (Content-Length, Transfer-Encoding, Host; RFC 9110
// §6.5.1) is refused: it is never used, but whoever sends one is probing for a hop that merges
// trailers into the header section. An Error after the last chunk (dataComplete()) is about the
// trailers alone: a response's body is then whole, and the transport passes it on.
//
// One decoder per message body: after Done or Error it stays in that state.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice::runtime::http {

class ChunkedDecoder {
public:
    enum class Status {
        NeedMore,  // all input consumed, message not finished
        Done,      // the last chunk and trailers are complete; bytes after are the next message
        Error      // malformed or over a limit: refuse with 400 (or 413 when tooLarge()) and close
    };

    explicit ChunkedDecoder(std::uint64_t maxBodyBytes = UINT64_MAX, std::size_t maxLineBytes = 4096,
                            std::size_t maxTrailerBytes = 8192);

    // Consumes bytes from `input` (possibly not all of it on Done/Error); for each run of decoded
    // body bytes calls sink(std::string_view). Returns the status and sets `consumed`: on Done, the
    // bytes after `consumed` belong to the next message; on NeedMore it is input.size().
    // The sink runs synchronously and receives views into `input`.
    template <typename Sink>
    Status feed(std::string_view input, std::size_t& consumed, Sink&& sink);

    bool tooLarge() const noexcept { return _tooLarge; }
    // The last chunk was read: every byte of the body is known, whatever the trailer section
    // holds. An Error now is about the trailers alone.
    bool dataComplete() const noexcept { return _lastChunk; }
    std::uint64_t bodyBytes() const noexcept { return _bodyBytes; }
    const char* error() const noexcept { return _error; }

private:
    // The non-template part: advances the state machine over `input` and returns, via `dataBegin`
    // and `dataLength`, at most one run of body bytes per call (dataLength 0 when none).
    Status step(std::string_view input, std::size_t& consumed, std::size_t& dataBegin, std::size_t& dataLength);

    enum class State { Size, Extension, SizeLf, Data, DataCr, DataLf, Trailer, TrailerLf, Done, Error };
    State _state = State::Size;
    std::uint64_t _maxBody;
    std::size_t _maxLine;
    std::size_t _maxTrailer;
    std::uint64_t _chunkRemaining = 0;
    std::uint64_t _bodyBytes = 0;
    std::size_t _lineBytes = 0;
    std::size_t _trailerBytes = 0;
    int _sizeDigits = 0;
    bool _lastChunk = false;
    bool _tooLarge = false;
    const char* _error = "";
    // Where in a chunk extension (State::Extension) or a trailer line (State::Trailer) we are.
    enum class Ext : unsigned char {
        BeforeSemicolon,  // BWS seen after the size, a name or a value: only ';' or more BWS
        BeforeName,       // after ';'
        Name,
        AfterName,    // BWS after a name: '=' or ';'
        BeforeValue,  // after '='
        TokenValue,
        QuotedValue,
        QuotedPair,  // after '\\' in a quoted value
        AfterQuoted
    };
    enum class TrailerLine : unsigned char { Start, Name, Value, Lf };
    Ext _ext = Ext::BeforeSemicolon;
    TrailerLine _trailerLine = TrailerLine::Start;
    // The current trailer field name, lower-cased, as far as a forbidden name could reach
    // (longer names cannot be one of them).
    static constexpr std::size_t kTrailerNameKeep = 17;  // strlen("transfer-encoding")
    char _trailerName[kTrailerNameKeep] = {};
    std::size_t _trailerNameLength = 0;
    void rememberNameByte(unsigned char c) noexcept;
    bool forbiddenTrailerName() const noexcept;

    Status fail(std::size_t at, std::size_t& consumed, const char* why) noexcept;
    bool extensionByte(unsigned char c) noexcept;
    bool trailerByte(unsigned char c) noexcept;
};

template <typename Sink>
ChunkedDecoder::Status ChunkedDecoder::feed(std::string_view input, std::size_t& consumed, Sink&& sink)
{
    consumed = 0;
    while (true) {
        std::size_t used = 0;
        std::size_t begin = 0;
        std::size_t length = 0;
        Status s = step(input.substr(consumed), used, begin, length);
        if (length > 0) {
            sink(input.substr(consumed + begin, length));
        }
        consumed += used;
        if (s != Status::NeedMore || consumed >= input.size()) {
            return s;
        }
    }
}

}  // namespace sluice::runtime::http
