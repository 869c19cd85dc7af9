#pragma once

// Strict HTTP/1.1 message-head parser (RFC 9110 / RFC 9112). The gateway must frame every message
// exactly as the backend will, so anything ambiguous is refused rather than interpreted:
// bare LF, obs-fold, whitespace before the colon, invalid token or field-value characters,
// Content-Length that is not 1*DIGIT or disagrees with another Content-Length, Content-Length
// together with Transfer-Encoding, a Transfer-Encoding whose final coding is not "chunked" (or any
// coding other than chunked), HTTP/1.0 with Transfer-Encoding, a missing or repeated Host in
// HTTP/1.1. No RFC 2047 decoding, no number prefixes, no lenient whitespace.
//
// The parser works on a contiguous buffer holding the start of the connection's input and never
// copies: every string_view points into that buffer (or, for a defaulted path, into static storage),
// valid while the buffer is unchanged. It keeps no state between calls: each call parses from the
// start of the buffer, and for any prefix of a message the answer is either Incomplete or the answer
// for the whole message, so a caller may simply call again when more bytes arrive. To keep a slow
// sender from costing quadratic time, call again only when the new bytes contain a '\n' or the
// buffer has grown past limits.maxRequestLine (first line) or limits.maxHeaderBytes; every field
// line ends in a LF, and the field count is bounded, so that bounds the number of re-parses.

#include <strings.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "sluice/sdk/HttpSyntax.hpp"

namespace sluice::runtime::http {

struct HeaderField {
    std::string_view name;
    std::string_view value;  // optional whitespace around it already trimmed
};

enum class BodyFraming {
    None,           // no body (no CL/TE in a request; 1xx/204/304 or HEAD responses)
    ContentLength,  // exactly `contentLength` bytes follow
    Chunked,        // chunked transfer coding (see ChunkedDecoder)
    UntilClose      // responses only: body runs until the connection closes
};

// Exceeding a limit is refused as soon as it is certain, without waiting for the end of the line
// or head. Responses are parsed under limits of their own (maxRequestLine bounding the status
// line; http.max_response_header_bytes and max_response_headers for proxied answers) and
// answer 502 instead.
struct ParseLimits {
    std::size_t maxRequestLine = 8 * 1024;   // request line without CRLF (and without skipped
                                             // empty lines before it) longer -> 414
    std::size_t maxHeaderBytes = 32 * 1024;  // whole head (headLength) longer -> 431
    std::size_t maxHeaderCount = 100;        // more field lines -> 431
};

enum class ParseStatus {
    Incomplete,  // need more bytes (and the limits are not exceeded yet)
    Complete,    // `headLength` bytes form a valid head
    Error        // refuse with `httpStatus` and close the connection
};

struct ParseResult {
    ParseStatus status = ParseStatus::Incomplete;
    int httpStatus = 0;       // on Error: requests 400, 414, 417, 431, 501 or 505;
                              // responses always 502 (the upstream sent something unusable)
    const char* reason = "";  // on Error: a short, static, log-safe explanation
};

struct RequestHead {
    std::string_view method;
    std::string_view target;           // request-target exactly as sent (origin-form "/p?q",
                                       // absolute-form "http://h/p", or "*")
    std::string_view path;             // path of an origin- or absolute-form target, not decoded;
                                       // "/" when an absolute-form target has none; empty for "*"
    std::string_view query;            // without '?'; empty when absent
    std::string_view host;             // Host header (authority syntax checked, may be empty in
                                       // HTTP/1.0 without Host), or the authority of an absolute-form
                                       // target, which wins over the Host header
    int versionMinor = 1;              // HTTP/1.<minor>: 0 or 1
    std::vector<HeaderField> headers;  // in wire order, all of them
    BodyFraming framing = BodyFraming::None;
    std::uint64_t contentLength = 0;  // when framing == ContentLength
    bool keepAlive = true;            // after this exchange (version default + Connection tokens;
                                      // "close" wins over "keep-alive")
    bool expectContinue = false;      // "Expect: 100-continue" in an HTTP/1.1 request (ignored in 1.0,
                                      // RFC 9110 §10.1.1); any other expectation is an Error 417
    std::size_t headLength = 0;       // bytes of the head including the final CRLF CRLF
};

struct ResponseHead {
    int versionMinor = 1;
    int status = 0;
    std::string_view reason;
    std::vector<HeaderField> headers;
    BodyFraming framing = BodyFraming::None;
    std::uint64_t contentLength = 0;
    bool keepAlive = true;
    std::size_t headLength = 0;
};

// Parses a request head from the start of `buffer`. On Complete, `out` is filled and
// out.headLength bytes are the head. Pipelined bytes after the head are left untouched.
// `out` is reset on entry (its headers vector keeps its capacity); on Incomplete or Error its
// contents are unspecified. Up to 4 empty lines (CRLF) before the request line are skipped and
// counted in headLength. CONNECT is refused with 501 (no tunnelling).
ParseResult parseRequestHead(std::string_view buffer, const ParseLimits& limits, RequestHead& out);

// Parses a response head. `requestMethod` decides framing for HEAD (no body) and CONNECT (a 2xx
// answer to CONNECT would start a tunnel, which the gateway never asked for: Error 502).
// Interim 1xx responses are returned as Complete with framing None; the caller skips them (101
// included: the gateway strips Upgrade, so a 101 it did not ask for is the caller's to refuse).
// The status line is bounded by limits.maxRequestLine. Transfer-Encoding must be exactly
// "chunked" (like nginx: any other coding is an Error, not "read until close"); with both
// Transfer-Encoding and Content-Length the chunked framing wins and keepAlive is false.
ParseResult parseResponseHead(std::string_view buffer, const ParseLimits& limits, std::string_view requestMethod,
                              ResponseHead& out);

// Whether parsing a head in `input` again can decide anything, when the first `scanned` bytes
// were already tried without an answer and the last whole parse saw `parsedSize` bytes: a line
// limit or the head limit has just been passed, the first line (after leading empty lines) has
// just ended (a bad request or status line is refused at once), an empty line has come (the head
// may be whole), or the input has doubled since the last parse. Heads are parsed whole, so a
// peer sending a line (or a byte) at a time would otherwise cost lines x head size; this way the
// parses add up to a few times the head. True when nothing was tried yet.
bool headWorthParsing(std::string_view input, std::size_t scanned, std::size_t parsedSize, std::size_t lineLimit,
                      std::size_t headLimit) noexcept;

// Field names compare case-insensitively (ASCII).
inline bool fieldNameEquals(std::string_view a, std::string_view b) noexcept
{
    return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Methods a client may send again after a connection failed (RFC 9110 §9.2.2): a proxy retries
// only these on its own (RFC 9112 §9.3.1.1).
inline bool isIdempotentMethod(std::string_view method) noexcept
{
    return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" || method == "OPTIONS";
}

// Field names that CGI-style servers (PHP, WSGI, Rack) read as one: case aside, '-', '_' and '.'
// alike ("X_Secret" is HTTP_X_SECRET, as "X-Secret" is, and "X.Secret" too in PHP): sdk::cgiFold.
using sdk::sameCgiName;

// True when `name` appears as a token in any Connection header of `headers` (case-insensitive).
bool connectionHasToken(const std::vector<HeaderField>& headers, std::string_view token);

// Hop-by-hop headers (RFC 9110 §7.6.1): Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
// Transfer-Encoding, Upgrade, Proxy-Authenticate, Proxy-Authorization, HTTP2-Settings, plus every
// field named in a Connection header, also when one spells '-' as '_' and the other does not
// ("Connection: X-Secret" names "X_Secret", which CGI-style servers read as the same field).
// `isHopByHop` answers for one name against those lists.
bool isHopByHop(std::string_view name, const std::vector<HeaderField>& headers);
// The same for the fixed list only (no message's Connection fields to consult).
bool isHopByHopName(std::string_view name) noexcept;
// Fields of a request the gateway makes itself (a health-check probe, a plugin's http_call) that
// only the gateway may write: framing, Host, Expect and the hop-by-hop ones. In a health check's
// configuration they are an error; from a plugin's http_call they are dropped.
bool isGatewayOwnedField(std::string_view name) noexcept;

// The same answer for every field of one message, with the tokens of its Connection fields
// collected once (the per-name form rescans all headers for each name). `headers` must outlive
// the filter.
class HopByHopFilter {
public:
    explicit HopByHopFilter(const std::vector<HeaderField>& headers);
    bool operator()(std::string_view name) const noexcept;

private:
    // Up to this many tokens are compared one by one; more (rare, and a client's choice) are
    // sorted once in sameCgiName's order and searched, so that a message with thousands of
    // tokens and fields costs (tokens + fields) x log tokens, not their product. Not a hash set:
    // a client could choose tokens that all fall into one bucket.
    static constexpr std::size_t kKeptTokens = 8;

    std::string_view _tokens[kKeptTokens];
    std::size_t _tokenCount = 0;
    std::vector<std::string_view> _manyTokens;  // all of them, sorted, once there are more
};

// The fields of one message whose name has '_' or '.' and reads (sameCgiName) as the name of
// another of its fields spelt otherwise ("X_Api_Key" beside "X-Api-Key", or "X.Api.Key"): a
// CGI-style backend sees one variable for them, holding one of the values. Fields are asked for
// by their index in `headers`. Costs one scan for a message without such names (nearly every
// one), and fields x log fields for one with them, however many there are.
class CgiLookAlikes {
public:
    explicit CgiLookAlikes(const std::vector<HeaderField>& headers);
    bool operator()(std::size_t index) const noexcept { return index < _marked.size() && _marked[index]; }

private:
    std::vector<bool> _marked;  // empty when no field is marked
};

}  // namespace sluice::runtime::http
