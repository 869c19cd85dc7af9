#include "sluice/runtime/http/ChunkedDecoder.h"

#include <string_view>

#include "sluice/sdk/HttpSyntax.hpp"

namespace sluice::runtime::http {
namespace {

// tchar of RFC 9110 §5.6.2, as every other token the gateway reads.
bool isTchar(unsigned char c) noexcept { return sdk::isTokenChar(c); }

bool isWs(unsigned char c) noexcept { return c == ' ' || c == '\t'; }

// HTAB / SP / VCHAR / obs-text: a field-value byte (RFC 9110 §5.5), also what a quoted-pair quotes.
bool isFieldValueByte(unsigned char c) noexcept { return c == '\t' || (c >= 0x20 && c != 0x7F); }

// qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
bool isQdText(unsigned char c) noexcept { return isFieldValueByte(c) && c != '"' && c != '\\'; }

constexpr int kMaxSizeDigits = 16;  // 64 bits
constexpr std::uint64_t kMaxChunkSize = 0x7fffffffffffffffULL;

}  // namespace

ChunkedDecoder::ChunkedDecoder(std::uint64_t maxBodyBytes, std::size_t maxLineBytes, std::size_t maxTrailerBytes)
    : _maxBody(maxBodyBytes), _maxLine(maxLineBytes), _maxTrailer(maxTrailerBytes)
{
}

ChunkedDecoder::Status ChunkedDecoder::fail(std::size_t at, std::size_t& consumed, const char* why) noexcept
{
    _state = State::Error;
    _error = why;
    consumed = at;
    return Status::Error;
}

// One byte of a chunk extension other than the CR that ends the line.
bool ChunkedDecoder::extensionByte(unsigned char c) noexcept
{
    switch (_ext) {
        case Ext::BeforeSemicolon:
            if (c == ';') {
                _ext = Ext::BeforeName;
                return true;
            }
            return isWs(c);
        case Ext::BeforeName:
            if (isTchar(c)) {
                _ext = Ext::Name;
                return true;
            }
            return isWs(c);
        case Ext::Name:
        case Ext::AfterName:
            if (c == '=') {
                _ext = Ext::BeforeValue;
                return true;
            }
            if (c == ';') {
                _ext = Ext::BeforeName;
                return true;
            }
            if (isWs(c)) {
                _ext = Ext::AfterName;
                return true;
            }
            return _ext == Ext::Name && isTchar(c);
        case Ext::BeforeValue:
            if (isTchar(c)) {
                _ext = Ext::TokenValue;
                return true;
            }
            if (c == '"') {
                _ext = Ext::QuotedValue;
                return true;
            }
            return isWs(c);
        case Ext::TokenValue:
        case Ext::AfterQuoted:
            if (c == ';') {
                _ext = Ext::BeforeName;
                return true;
            }
            if (isWs(c)) {
                _ext = Ext::BeforeSemicolon;
                return true;
            }
            return _ext == Ext::TokenValue && isTchar(c);
        case Ext::QuotedValue:
            if (c == '"') {
                _ext = Ext::AfterQuoted;
                return true;
            }
            if (c == '\\') {
                _ext = Ext::QuotedPair;
                return true;
            }
            return isQdText(c);
        case Ext::QuotedPair: _ext = Ext::QuotedValue; return isFieldValueByte(c);
    }
    return false;
}

void ChunkedDecoder::rememberNameByte(unsigned char c) noexcept
{
    if (_trailerNameLength < kTrailerNameKeep) {
        _trailerName[_trailerNameLength] =
            static_cast<char>(c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c | 0x20U) : c);
    }
    if (_trailerNameLength <= kTrailerNameKeep) {
        ++_trailerNameLength;  // kTrailerNameKeep + 1 means "longer than any forbidden name"
    }
}

bool ChunkedDecoder::forbiddenTrailerName() const noexcept
{
    if (_trailerNameLength > kTrailerNameKeep) {
        return false;
    }
    const std::string_view name(_trailerName, _trailerNameLength);
    return name == "content-length" || name == "transfer-encoding" || name == "host";
}

// One byte of the trailer section, before its final CRLF.
bool ChunkedDecoder::trailerByte(unsigned char c) noexcept
{
    switch (_trailerLine) {
        case TrailerLine::Start:
            if (c == '\r') {
                _state = State::TrailerLf;  // the empty line that ends the message
                return true;
            }
            _trailerNameLength = 0;
            if (isTchar(c)) {
                _trailerLine = TrailerLine::Name;
                rememberNameByte(c);
                return true;
            }
            return false;  // obs-fold, empty field name, bare LF, garbage
        case TrailerLine::Name:
            if (c == ':') {
                _trailerLine = TrailerLine::Value;
                return !forbiddenTrailerName();
            }
            rememberNameByte(c);
            return isTchar(c);
        case TrailerLine::Value:
            if (c == '\r') {
                _trailerLine = TrailerLine::Lf;
                return true;
            }
            return isFieldValueByte(c);
        case TrailerLine::Lf: _trailerLine = TrailerLine::Start; return c == '\n';
    }
    return false;
}

ChunkedDecoder::Status ChunkedDecoder::step(std::string_view input, std::size_t& consumed, std::size_t& dataBegin,
                                            std::size_t& dataLength)
{
    consumed = 0;
    dataBegin = 0;
    dataLength = 0;
    const auto* p = reinterpret_cast<const unsigned char*>(input.data());
    const std::size_t n = input.size();
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char c = p[i];
        switch (_state) {
            case State::Size: {
                if (c != '\r' && ++_lineBytes > _maxLine) {
                    return fail(i, consumed, "chunk size line too long");
                }
                const int digit = sdk::hexValue(static_cast<char>(c));
                if (digit >= 0) {
                    if (++_sizeDigits > kMaxSizeDigits) {
                        return fail(i, consumed, "chunk size has too many digits");
                    }
                    // At most 2^63 - 1, as nginx (off_t): no real chunk is larger, and a size
                    // near 2^64 is a sign of a peer probing for an overflow.
                    if (_chunkRemaining > (kMaxChunkSize >> 4)) {
                        return fail(i, consumed, "chunk size too large");
                    }
                    _chunkRemaining = (_chunkRemaining << 4) | static_cast<std::uint64_t>(digit);
                    if (_chunkRemaining > _maxBody - _bodyBytes) {
                        _tooLarge = true;
                        return fail(i, consumed, "chunked body too large");
                    }
                    break;
                }
                if (_sizeDigits == 0) {
                    return fail(i, consumed, "chunk size is not a hexadecimal number");
                }
                if (c == '\r') {
                    _state = State::SizeLf;
                } else if (c == ';') {
                    _state = State::Extension;
                    _ext = Ext::BeforeName;
                } else if (isWs(c)) {
                    _state = State::Extension;
                    _ext = Ext::BeforeSemicolon;
                } else {
                    return fail(i, consumed, "invalid character after chunk size");
                }
                break;
            }
            case State::Extension:
                if (c != '\r' && ++_lineBytes > _maxLine) {
                    return fail(i, consumed, "chunk size line too long");
                }
                if (c == '\r') {
                    if (_ext != Ext::Name && _ext != Ext::TokenValue && _ext != Ext::AfterQuoted) {
                        return fail(i, consumed, "incomplete chunk extension");
                    }
                    _state = State::SizeLf;
                } else if (!extensionByte(c)) {
                    return fail(i, consumed, "invalid chunk extension");
                }
                break;
            case State::SizeLf:
                if (c != '\n') {
                    return fail(i, consumed, "chunk size line not ended by CRLF");
                }
                _lineBytes = 0;
                _sizeDigits = 0;
                if (_chunkRemaining == 0) {
                    _lastChunk = true;
                    _state = State::Trailer;
                    _trailerLine = TrailerLine::Start;
                } else {
                    _state = State::Data;
                }
                break;
            case State::Data: {
                const std::size_t available = n - i;
                const std::size_t take =
                    _chunkRemaining < available ? static_cast<std::size_t>(_chunkRemaining) : available;
                dataBegin = i;
                dataLength = take;
                _chunkRemaining -= take;
                _bodyBytes += take;
                if (_chunkRemaining == 0) {
                    _state = State::DataCr;
                }
                consumed = i + take;
                return Status::NeedMore;  // one run per step; feed() calls again for the rest
            }
            case State::DataCr:
                if (c != '\r') {
                    return fail(i, consumed, "chunk data not followed by CRLF");
                }
                _state = State::DataLf;
                break;
            case State::DataLf:
                if (c != '\n') {
                    return fail(i, consumed, "chunk data not followed by CRLF");
                }
                _state = State::Size;
                break;
            case State::Trailer:
                if (++_trailerBytes > _maxTrailer) {
                    return fail(i, consumed, "trailer section too large");
                }
                if (!trailerByte(c)) {
                    // Only the colon after a forbidden name is refused in the Value state.
                    const bool forbidden = _trailerLine == TrailerLine::Value && c == ':';
                    return fail(
                        i, consumed,
                        forbidden ? "framing or routing field in the chunked trailer" : "invalid trailer field");
                }
                break;
            case State::TrailerLf:
                if (++_trailerBytes > _maxTrailer) {
                    return fail(i, consumed, "trailer section too large");
                }
                if (c != '\n') {
                    return fail(i, consumed, "trailer section not ended by CRLF");
                }
                _state = State::Done;
                consumed = i + 1;
                return Status::Done;
            case State::Done: consumed = i; return Status::Done;
            case State::Error: consumed = i; return Status::Error;
        }
    }
    consumed = n;
    if (_state == State::Done) {
        return Status::Done;
    }
    return _state == State::Error ? Status::Error : Status::NeedMore;
}

}  // namespace sluice::runtime::http
