#include "sluice/runtime/http/HttpParser.h"

#include "sluice/sdk/HttpSyntax.hpp"

#include <algorithm>
#include <array>
#include <cstring>

// One left-to-right pass over the head. Every check that can refuse a message looks only at bytes
// already scanned, which is what makes "a prefix is Incomplete or has the whole message's answer"
// hold: the scan stops at the first byte it cannot accept, at the end of the buffer, or where a
// limit makes the message certain to be too large.

namespace sluice::runtime::http {
namespace {

// ---- character classes -------------------------------------------------------------------------

enum : std::uint8_t {
    kTchar = 1U << 0,       // token character (RFC 9110 §5.6.2)
    kFieldValue = 1U << 1,  // HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5)
    kTarget = 1U << 2,      // request-target byte: VCHAR except '#' (fragments are refused)
    kHex = 1U << 3,         // HEXDIG
    kHostName = 1U << 4,    // a host name's byte: ALPHA / DIGIT / "-" / "." / "_" (see isAuthority)
    kQdText = 1U << 5,      // qdtext of a quoted-string (RFC 9110 §5.6.4)
};

constexpr bool isAlpha(unsigned c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

constexpr bool isDigit(unsigned c) { return c >= '0' && c <= '9'; }

constexpr bool inSet(const char* set, unsigned c)
{
    for (; *set != '\0'; ++set) {
        if (static_cast<unsigned char>(*set) == c) {
            return true;
        }
    }
    return false;
}

constexpr std::array<std::uint8_t, 256> makeCharTable()
{
    std::array<std::uint8_t, 256> table{};
    for (unsigned c = 0; c < 256; ++c) {
        std::uint8_t bits = 0;
        const bool vchar = c >= 0x21 && c <= 0x7E;
        const bool alnum = isAlpha(c) || isDigit(c);
        if (alnum || inSet("!#$%&'*+-.^_`|~", c)) {
            bits |= kTchar;
        }
        if (vchar || c == ' ' || c == '\t' || c >= 0x80) {
            bits |= kFieldValue;
        }
        if (vchar && c != '#') {
            bits |= kTarget;
        }
        if (isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
            bits |= kHex;
        }
        if (alnum || inSet("-._", c)) {
            bits |= kHostName;
        }
        if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E) || c >= 0x80) {
            bits |= kQdText;
        }
        table[c] = bits;
    }
    return table;
}

constexpr std::array<std::uint8_t, 256> kChars = makeCharTable();

inline bool is(unsigned char c, std::uint8_t cls) noexcept { return (kChars[c] & cls) != 0; }

// ---- eight bytes at a time ----------------------------------------------------------------------
// Field values and request targets are most of a head's bytes (cookies, tokens, user agents, query
// strings). These word tests let the scans skip 8 plain bytes per step; a word that may hold an
// interesting byte is handed to the byte loop, which has the final say. Each test is exact: it
// answers "does any byte of the word ..." without false negatives.

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

inline std::uint64_t load8(const unsigned char* p) noexcept
{
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    return word;
}

// Some byte < n (n <= 128); bytes >= 0x80 never count.
constexpr std::uint64_t anyBelow(std::uint64_t w, std::uint64_t n) noexcept { return (w - kOnes * n) & ~w & kHighBits; }

// Some byte == b.
constexpr std::uint64_t anyEqual(std::uint64_t w, std::uint64_t b) noexcept
{
    const std::uint64_t x = w ^ (kOnes * b);
    return (x - kOnes) & ~x & kHighBits;
}

// All bytes are SP, VCHAR or obs-text (HTAB, though valid, goes to the byte loop).
constexpr bool plainFieldValue(std::uint64_t w) noexcept { return (anyBelow(w, 0x20) | anyEqual(w, 0x7F)) == 0; }

// All bytes are VCHAR other than '#'.
constexpr bool plainTarget(std::uint64_t w) noexcept
{
    return ((w & kHighBits) | anyBelow(w, 0x21) | anyEqual(w, 0x7F) | anyEqual(w, '#')) == 0;
}

static_assert(plainFieldValue(0x2020202020202020ULL) && !plainFieldValue(0x2020202020202009ULL) &&
                  !plainFieldValue(0x7F20202020202020ULL) && plainFieldValue(0xFF80FF80FF80FF80ULL) &&
                  !plainFieldValue(0x202020200D202020ULL),
              "field value word test");
static_assert(plainTarget(0x7E21212121212121ULL) && !plainTarget(0x2121212123212121ULL) &&
                  !plainTarget(0x2121212121212120ULL) && !plainTarget(0x8021212121212121ULL),
              "target word test");

// Advances `pos` over bytes of class `cls` (up to `end`), using `plain` to skip whole words.
template <bool (*plain)(std::uint64_t) noexcept>
inline std::size_t scan(const unsigned char* p, std::size_t pos, std::size_t end, std::uint8_t cls) noexcept
{
    while (true) {
        while (pos + 8 <= end && plain(load8(p + pos))) {
            pos += 8;
        }
        const std::size_t stop = pos + 8 < end ? pos + 8 : end;
        while (pos < stop && is(p[pos], cls)) {
            ++pos;
        }
        if (pos < stop || pos == end) {
            return pos;
        }
    }
}

inline bool isOws(unsigned char c) noexcept { return c == ' ' || c == '\t'; }

// NEL (0x85) and NBSP (0xA0) are white space to servers that read field values as Latin-1 and
// trim them with Python's str.strip() (waitress, Tornado): "admin\xA0" reaches the application
// as "admin", which a policy refusing "admin" let through. A request value may not begin with one
// (no UTF-8 character does) or end with one, unless it is the last byte of a UTF-8 character
// other than U+0085 and U+00A0 themselves (such a server trims "caf\xC3\xA0" to "caf\xC3": another
// value, but none that a policy could have meant).
inline bool latin1Space(unsigned char c) noexcept { return c == 0x85 || c == 0xA0; }

bool endsInLatin1Space(std::string_view value) noexcept
{
    const auto* v = reinterpret_cast<const unsigned char*>(value.data());
    const std::size_t n = value.size();
    if (n == 0) {
        return false;
    }
    if (latin1Space(v[0])) {
        return true;
    }
    if (!latin1Space(v[n - 1])) {
        return false;
    }
    // The UTF-8 character the last byte ends: a lead byte, then continuation bytes up to it.
    // `first` is the first of those continuation bytes, v[first - 1] the lead byte.
    std::size_t first = n - 1;
    while (first > 0 && n - first < 4 && v[first - 1] >= 0x80 && v[first - 1] <= 0xBF) {
        --first;
    }
    if (first == 0) {
        return true;
    }
    const unsigned char c = v[first - 1];
    const std::size_t length = n - first + 1;  // the lead byte and what follows it
    const bool utf8 = (c >= 0xC3 && c <= 0xDF && length == 2) || (c >= 0xE0 && c <= 0xEF && length == 3) ||
                      (c >= 0xF0 && c <= 0xF4 && length == 4);
    return !utf8;
}

inline unsigned char toLower(unsigned char c) noexcept
{
    return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c | 0x20U) : c;
}

// `lower` must already be lower case (a literal).
inline bool equalsLower(std::string_view text, std::string_view lower) noexcept
{
    if (text.size() != lower.size()) {
        return false;
    }
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (toLower(static_cast<unsigned char>(text[i])) != static_cast<unsigned char>(lower[i])) {
            return false;
        }
    }
    return true;
}

bool startsWithLower(std::string_view text, std::string_view lower) noexcept
{
    return text.size() >= lower.size() && equalsLower(text.substr(0, lower.size()), lower);
}

std::string_view trimOws(std::string_view text) noexcept
{
    std::size_t begin = 0;
    std::size_t end = text.size();
    while (begin < end && isOws(static_cast<unsigned char>(text[begin]))) {
        ++begin;
    }
    while (end > begin && isOws(static_cast<unsigned char>(text[end - 1]))) {
        --end;
    }
    return text.substr(begin, end - begin);
}

// Calls f(element) for each non-empty, OWS-trimmed element of a comma-separated list (RFC 9110
// §5.6.1: empty elements are tolerated). Stops early when f returns false; returns that.
template <typename F>
bool forEachListElement(std::string_view value, F&& f)
{
    std::size_t start = 0;
    while (start <= value.size()) {
        std::size_t comma = value.find(',', start);
        if (comma == std::string_view::npos) {
            comma = value.size();
        }
        const std::string_view element = trimOws(value.substr(start, comma - start));
        if (!element.empty() && !f(element)) {
            return false;
        }
        start = comma + 1;
    }
    return true;
}

ParseResult fail(int status, const char* reason) noexcept
{
    ParseResult result;
    result.status = ParseStatus::Error;
    result.httpStatus = status;
    result.reason = reason;
    return result;
}

ParseResult incomplete() noexcept { return ParseResult{}; }

ParseResult complete() noexcept
{
    ParseResult result;
    result.status = ParseStatus::Complete;
    return result;
}

std::size_t saturatingAdd(std::size_t a, std::size_t b) noexcept { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

// ---- authority syntax (RFC 3986 §3.2.2, RFC 9110 §7.2) -------------------------------------------

bool isDecOctet(std::string_view s) noexcept
{
    if (s.empty() || s.size() > 3) {
        return false;
    }
    unsigned value = 0;
    for (char ch : s) {
        if (!isDigit(static_cast<unsigned char>(ch))) {
            return false;
        }
        value = value * 10 + static_cast<unsigned>(ch - '0');
    }
    return value <= 255 && (s.size() == 1 || s[0] != '0');
}

bool isIpv4(std::string_view s) noexcept
{
    for (int part = 0; part < 4; ++part) {
        const std::size_t dot = s.find('.');
        if ((part < 3) != (dot != std::string_view::npos)) {
            return false;
        }
        if (!isDecOctet(s.substr(0, dot))) {
            return false;
        }
        s = part < 3 ? s.substr(dot + 1) : std::string_view{};
    }
    return true;
}

bool isIpv6(std::string_view s) noexcept
{
    const std::size_t n = s.size();
    std::size_t i = 0;
    int groups = 0;
    bool compressed = false;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        compressed = true;
        i = 2;
    } else if (n >= 1 && s[0] == ':') {
        return false;
    }
    while (i < n) {
        const std::size_t start = i;
        while (i < n && is(static_cast<unsigned char>(s[i]), kHex)) {
            ++i;
        }
        if (i < n && s[i] == '.') {  // ls32 as an IPv4 address: must be the last piece
            if (!isIpv4(s.substr(start))) {
                return false;
            }
            groups += 2;
            break;
        }
        if (i == start || i - start > 4) {
            return false;
        }
        ++groups;
        if (i == n) {
            break;
        }
        if (s[i] != ':') {
            return false;
        }
        ++i;
        if (i < n && s[i] == ':') {
            if (compressed) {
                return false;
            }
            compressed = true;
            ++i;
        } else if (i == n) {
            return false;  // a single trailing ':'
        }
        if (groups > 8) {
            return false;
        }
    }
    return compressed ? groups <= 7 : groups == 8;
}

// uri-host [ ":" port ], port being 1 to 5 digits up to 65535. An empty string is accepted only
// when `allowEmpty` (a Host header may be empty, RFC 9112 §3.2; an http URI's host may not).
// A host is an IPv6 literal in brackets, or a name or IPv4 address of letters, digits, "-", "."
// and "_". RFC 3986's reg-name also allows sub-delims and %XX, but no DNS name holds them, and
// the host is passed on in X-Forwarded-Host, a list that frameworks cut at "," (Express keeps
// the first element, Rack the last) or decode: "evil,api.example.com" would be one host to one
// and another to the next, so such hosts are refused (as Apache httpd's strict mode). IPvFuture
// literals go too: nothing uses them.
bool isAuthority(std::string_view s, bool allowEmpty) noexcept
{
    if (s.empty()) {
        return allowEmpty;
    }
    std::size_t i = 0;
    if (s[0] == '[') {
        const std::size_t close = s.find(']');
        if (close == std::string_view::npos || !isIpv6(s.substr(1, close - 1))) {
            return false;
        }
        i = close + 1;
    } else {
        while (i < s.size() && s[i] != ':') {
            if (!is(static_cast<unsigned char>(s[i]), kHostName)) {
                return false;
            }
            ++i;
        }
        if (i == 0) {
            return false;  // ":80" - a port without a host
        }
    }
    if (i == s.size()) {
        return true;
    }
    if (s[i] != ':') {
        return false;
    }
    const std::string_view port = s.substr(i + 1);
    if (port.empty() || port.size() > 5) {
        return false;
    }
    unsigned value = 0;
    for (char ch : port) {
        if (!isDigit(static_cast<unsigned char>(ch))) {
            return false;
        }
        value = value * 10 + static_cast<unsigned>(ch - '0');
    }
    return value <= 65535;
}

// ---- field semantics ------------------------------------------------------------------------------

// 1*DIGIT, at most 19 digits (so it fits in 64 bits without an overflow check).
bool parseContentLength(std::string_view value, std::uint64_t& out) noexcept
{
    if (value.empty() || value.size() > 19) {
        return false;
    }
    std::uint64_t result = 0;
    for (char ch : value) {
        if (!isDigit(static_cast<unsigned char>(ch))) {
            return false;
        }
        result = result * 10 + static_cast<std::uint64_t>(ch - '0');
    }
    out = result;
    return true;
}

// The transfer codings of every Transfer-Encoding line, in order, reduced to what framing needs.
struct Codings {
    unsigned count = 0;
    unsigned chunked = 0;
    bool lastIsChunked = false;
    bool chunkedHasParameters = false;
    bool other = false;
};

void skipOws(std::string_view v, std::size_t& i) noexcept
{
    while (i < v.size() && isOws(static_cast<unsigned char>(v[i]))) {
        ++i;
    }
}

bool skipToken(std::string_view v, std::size_t& i) noexcept
{
    const std::size_t start = i;
    while (i < v.size() && is(static_cast<unsigned char>(v[i]), kTchar)) {
        ++i;
    }
    return i > start;
}

bool skipQuotedString(std::string_view v, std::size_t& i) noexcept
{
    if (i >= v.size() || v[i] != '"') {
        return false;
    }
    ++i;
    while (i < v.size()) {
        const auto c = static_cast<unsigned char>(v[i]);
        if (c == '"') {
            ++i;
            return true;
        }
        if (c == '\\') {
            if (i + 1 >= v.size() || !is(static_cast<unsigned char>(v[i + 1]), kFieldValue)) {
                return false;
            }
            i += 2;
            continue;
        }
        if (!is(c, kQdText)) {
            return false;
        }
        ++i;
    }
    return false;
}

// Transfer-Encoding = #transfer-coding; transfer-coding = token *( OWS ";" OWS transfer-parameter );
// transfer-parameter = token BWS "=" BWS ( token / quoted-string ). Returns false on bad syntax.
bool addTransferCodings(std::string_view v, Codings& codings) noexcept
{
    std::size_t i = 0;
    while (true) {
        skipOws(v, i);
        if (i == v.size()) {
            return true;
        }
        if (v[i] == ',') {
            ++i;
            continue;
        }
        const std::size_t nameStart = i;
        if (!skipToken(v, i)) {
            return false;
        }
        const std::string_view name = v.substr(nameStart, i - nameStart);
        bool parameters = false;
        skipOws(v, i);
        while (i < v.size() && v[i] == ';') {
            ++i;
            skipOws(v, i);
            if (!skipToken(v, i)) {
                return false;
            }
            skipOws(v, i);
            if (i == v.size() || v[i] != '=') {
                return false;
            }
            ++i;
            skipOws(v, i);
            if (i < v.size() && v[i] == '"' ? !skipQuotedString(v, i) : !skipToken(v, i)) {
                return false;
            }
            skipOws(v, i);
            parameters = true;
        }
        if (i < v.size() && v[i] != ',') {
            return false;
        }
        ++codings.count;
        if (equalsLower(name, "chunked")) {
            ++codings.chunked;
            codings.lastIsChunked = true;
            codings.chunkedHasParameters = codings.chunkedHasParameters || parameters;
        } else {
            codings.other = true;
            codings.lastIsChunked = false;
        }
    }
}

// What the field section says about framing and the connection, gathered while scanning it.
struct Facts {
    std::size_t hostCount = 0;
    std::size_t authorizationCount = 0;
    std::string_view host;
    std::size_t contentLengthCount = 0;
    std::uint64_t contentLength = 0;
    std::size_t transferEncodingCount = 0;
    Codings codings;
    bool connectionClose = false;
    bool connectionKeepAlive = false;
    bool expectContinue = false;
    bool expectOther = false;
};

// Looks at one field line. Host and Expect mean something in requests only.
ParseResult noteField(std::string_view name, std::string_view value, bool request, Facts& facts)
{
    switch (name.size()) {
        case 4:
            if (request && equalsLower(name, "host")) {
                if (++facts.hostCount > 1) {
                    return fail(400, "more than one Host header");
                }
                if (!isAuthority(value, true)) {
                    return fail(400, "invalid Host header");
                }
                facts.host = value;
            }
            break;
        case 6:
            if (request && equalsLower(name, "expect")) {
                forEachListElement(value, [&facts](std::string_view e) {
                    if (equalsLower(e, "100-continue")) {
                        facts.expectContinue = true;
                    } else {
                        facts.expectOther = true;
                    }
                    return true;
                });
            }
            break;
        case 10:
            if (equalsLower(name, "connection")) {
                forEachListElement(value, [&facts](std::string_view e) {
                    if (equalsLower(e, "close")) {
                        facts.connectionClose = true;
                    } else if (equalsLower(e, "keep-alive")) {
                        facts.connectionKeepAlive = true;
                    }
                    return true;
                });
            }
            break;
        case 13:
            // Credentials are one value (RFC 9110 §11.6.2), not a list: a policy reads the first
            // field, while PHP joins both ("Bearer good, Bearer evil") and Laravel's bearerToken()
            // takes the last. Refused, as nginx does.
            if (request && equalsLower(name, "authorization") && ++facts.authorizationCount > 1) {
                return fail(400, "more than one Authorization header");
            }
            break;
        case 14:
            if (equalsLower(name, "content-length")) {
                if (++facts.contentLengthCount > 1) {
                    return fail(400, "more than one Content-Length header");
                }
                if (!parseContentLength(value, facts.contentLength)) {
                    return fail(400, "invalid Content-Length");
                }
            }
            break;
        case 17:
            if (equalsLower(name, "transfer-encoding")) {
                ++facts.transferEncodingCount;
                if (!addTransferCodings(value, facts.codings)) {
                    return fail(400, "invalid Transfer-Encoding");
                }
            }
            break;
        default: break;
    }
    return complete();
}

// ---- the scan --------------------------------------------------------------------------------------

struct Scanner {
    const unsigned char* p;
    std::size_t end;      // min(buffer size, maxHead)
    std::size_t maxHead;  // limits.maxHeaderBytes

    // The head needs the byte at `at` and it is not there (yet).
    ParseResult needMore(std::size_t at) const noexcept
    {
        return at >= maxHead ? fail(431, "header section too large") : incomplete();
    }

    // Expects CRLF at `pos`; on success moves past it.
    ParseResult crlf(std::size_t& pos) const noexcept
    {
        if (pos >= end) {
            return needMore(pos);
        }
        if (p[pos] != '\r') {
            return fail(400, p[pos] == '\n' ? "bare LF" : "unexpected character before end of line");
        }
        if (pos + 1 >= end) {
            return needMore(pos + 1);
        }
        if (p[pos + 1] != '\n') {
            return fail(400, "CR not followed by LF");
        }
        pos += 2;
        return complete();
    }
};

constexpr int kMaxLeadingEmptyLines = 4;

// Field lines up to and including the empty line that ends the head.
ParseResult parseFieldSection(const Scanner& s, std::size_t& pos, std::size_t maxCount, bool request,
                              std::vector<HeaderField>& headers, Facts& facts)
{
    const unsigned char* p = s.p;
    while (true) {
        if (pos >= s.end) {
            return s.needMore(pos);
        }
        const unsigned char first = p[pos];
        if (first == '\r' || first == '\n') {
            return s.crlf(pos);
        }
        if (isOws(first)) {
            return fail(400, "obs-fold or whitespace before a field name");
        }
        if (headers.size() >= maxCount) {
            return fail(431, "too many header fields");
        }
        const std::size_t nameStart = pos;
        while (pos < s.end && is(p[pos], kTchar)) {
            ++pos;
        }
        if (pos >= s.end) {
            return s.needMore(pos);
        }
        if (p[pos] != ':') {
            if (isOws(p[pos])) {
                return fail(400, "whitespace before the colon of a field");
            }
            if (p[pos] == '\r' || p[pos] == '\n') {
                return fail(400, "field line without a colon");
            }
            return fail(400, "invalid character in a field name");
        }
        if (pos == nameStart) {
            return fail(400, "empty field name");
        }
        const std::string_view name(reinterpret_cast<const char*>(p + nameStart), pos - nameStart);
        ++pos;
        while (pos < s.end && isOws(p[pos])) {
            ++pos;
        }
        const std::size_t valueStart = pos;
        pos = scan<plainFieldValue>(p, pos, s.end, kFieldValue);
        if (pos >= s.end) {
            return s.needMore(pos);
        }
        if (p[pos] != '\r' && p[pos] != '\n') {
            return fail(400, "invalid character in a field value");
        }
        std::size_t valueEnd = pos;
        if (ParseResult r = s.crlf(pos); r.status != ParseStatus::Complete) {
            return r;
        }
        while (valueEnd > valueStart && isOws(p[valueEnd - 1])) {
            --valueEnd;
        }
        const std::string_view value(reinterpret_cast<const char*>(p + valueStart), valueEnd - valueStart);
        if (request && endsInLatin1Space(value)) {
            return fail(400, "a field value begins or ends with a byte some servers trim (0x85 or 0xA0)");
        }
        headers.push_back(HeaderField{name, value});
        if (ParseResult r = noteField(name, value, request, facts); r.status == ParseStatus::Error) {
            return r;
        }
    }
}

// "HTTP/" DIGIT "." DIGIT at `pos`, checked byte by byte. Sets major/minor digits.
ParseResult parseVersion(const Scanner& s, std::size_t& pos, std::size_t lineLimit, int lineStatus, int& major,
                         int& minor)
{
    static constexpr char kPattern[] = "HTTP/#.#";
    for (std::size_t i = 0; i < 8; ++i) {
        const std::size_t at = pos + i;
        if (at >= lineLimit) {
            return fail(lineStatus, "start line too long");
        }
        if (at >= s.end) {
            return s.needMore(at);
        }
        const unsigned char c = s.p[at];
        const bool ok = kPattern[i] == '#' ? isDigit(c) : c == static_cast<unsigned char>(kPattern[i]);
        if (!ok) {
            return fail(400, "malformed HTTP version");
        }
    }
    major = s.p[pos + 5] - '0';
    minor = s.p[pos + 7] - '0';
    pos += 8;
    return complete();
}

ParseResult classifyTarget(RequestHead& out)
{
    static constexpr std::string_view kRootPath = "/";
    const std::string_view target = out.target;
    if (target[0] == '/') {
        const std::size_t q = target.find('?');
        out.path = target.substr(0, q);
        out.query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
        return complete();
    }
    if (target == "*") {
        if (out.method != "OPTIONS") {
            return fail(400, "asterisk-form target with a method other than OPTIONS");
        }
        return complete();
    }
    std::size_t schemeLength = 0;
    if (startsWithLower(target, "http://")) {
        schemeLength = 7;
    } else if (startsWithLower(target, "https://")) {
        schemeLength = 8;
    } else {
        return fail(400, "invalid request target");
    }
    const std::string_view rest = target.substr(schemeLength);
    std::size_t authorityEnd = rest.find_first_of("/?");
    if (authorityEnd == std::string_view::npos) {
        authorityEnd = rest.size();
    }
    const std::string_view authority = rest.substr(0, authorityEnd);
    if (authority.find('@') != std::string_view::npos) {
        return fail(400, "userinfo in request target");
    }
    if (!isAuthority(authority, false)) {
        return fail(400, "invalid authority in request target");
    }
    out.host = authority;
    const std::string_view pathAndQuery = rest.substr(authorityEnd);
    const std::size_t q = pathAndQuery.find('?');
    out.path = pathAndQuery.substr(0, q);
    out.query = q == std::string_view::npos ? std::string_view{} : pathAndQuery.substr(q + 1);
    if (out.path.empty()) {
        out.path = kRootPath;
    }
    return complete();
}

ParseResult parseRequestLine(const Scanner& s, std::size_t& pos, std::size_t maxLine, RequestHead& out)
{
    const unsigned char* p = s.p;
    const std::size_t lineLimit = saturatingAdd(pos, maxLine);
    const std::size_t contentEnd = s.end < lineLimit ? s.end : lineLimit;
    auto stopped = [&](std::size_t at) {
        return at >= lineLimit ? fail(414, "request line too long") : s.needMore(at);
    };

    const std::size_t methodStart = pos;
    while (pos < contentEnd && is(p[pos], kTchar)) {
        ++pos;
    }
    if (pos >= contentEnd) {
        return stopped(pos);
    }
    if (p[pos] != ' ') {
        return fail(400, "invalid character in method");
    }
    if (pos == methodStart) {
        return fail(400, "empty method");
    }
    out.method = std::string_view(reinterpret_cast<const char*>(p + methodStart), pos - methodStart);
    ++pos;

    const std::size_t targetStart = pos;
    pos = scan<plainTarget>(p, pos, contentEnd, kTarget);
    if (pos >= contentEnd) {
        return stopped(pos);
    }
    if (p[pos] != ' ') {
        if (p[pos] == '#') {
            return fail(400, "fragment in request target");
        }
        if (p[pos] == '\r' || p[pos] == '\n') {
            return fail(400, "request line without HTTP version");
        }
        return fail(400, "invalid character in request target");
    }
    if (pos == targetStart) {
        return fail(400, "empty request target");
    }
    out.target = std::string_view(reinterpret_cast<const char*>(p + targetStart), pos - targetStart);
    ++pos;

    int major = 0;
    int minor = 0;
    if (ParseResult r = parseVersion(s, pos, lineLimit, 414, major, minor); r.status != ParseStatus::Complete) {
        return r;
    }
    if (pos >= s.end) {
        return s.needMore(pos);
    }
    if (p[pos] != '\r' && p[pos] != '\n') {
        return fail(400, "malformed HTTP version");
    }
    if (ParseResult r = s.crlf(pos); r.status != ParseStatus::Complete) {
        return r;
    }
    if (major != 1 || minor > 1) {
        return fail(505, "HTTP version not supported");
    }
    out.versionMinor = minor;
    if (out.method == "CONNECT") {
        return fail(501, "CONNECT is not supported");
    }
    return classifyTarget(out);
}

ParseResult finishRequest(const Facts& facts, RequestHead& out)
{
    const bool http11 = out.versionMinor == 1;
    if (http11 && facts.hostCount == 0) {
        return fail(400, "missing Host header");
    }
    if (out.host.empty()) {  // not set from an absolute-form target, whose authority is never empty
        // An empty Host says the target URI has no authority (RFC 9112 §3.2), which no http or
        // https URI lacks; the gateway would then write no X-Forwarded-Host, leaving room for a
        // field that stands in for it. Refused, as nginx does.
        if (facts.hostCount == 1 && facts.host.empty()) {
            return fail(400, "empty Host header");
        }
        out.host = facts.host;
    }
    if (facts.transferEncodingCount > 0) {
        const Codings& c = facts.codings;
        if (!http11) {
            return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
        }
        if (facts.contentLengthCount > 0) {
            return fail(400, "both Content-Length and Transfer-Encoding");
        }
        if (c.count == 0) {
            return fail(400, "empty Transfer-Encoding");
        }
        if (c.chunked > 1) {
            return fail(400, "chunked applied more than once");
        }
        if (!c.lastIsChunked) {
            return fail(400, "chunked is not the final transfer coding");
        }
        if (c.chunkedHasParameters) {
            return fail(400, "parameters on the chunked coding");
        }
        if (c.other) {
            return fail(501, "unsupported transfer coding");
        }
        out.framing = BodyFraming::Chunked;
    } else if (facts.contentLengthCount > 0) {
        out.framing = BodyFraming::ContentLength;
        out.contentLength = facts.contentLength;
    }
    out.keepAlive = !facts.connectionClose && (http11 || facts.connectionKeepAlive);
    if (facts.expectOther) {
        return fail(417, "unsupported expectation");
    }
    out.expectContinue = http11 && facts.expectContinue;
    return complete();
}

ParseResult parseRequestImpl(std::string_view buffer, const ParseLimits& limits, RequestHead& out)
{
    const Scanner s{reinterpret_cast<const unsigned char*>(buffer.data()),
                    buffer.size() < limits.maxHeaderBytes ? buffer.size() : limits.maxHeaderBytes,
                    limits.maxHeaderBytes};
    std::size_t pos = 0;
    for (int emptyLines = 0;; ++emptyLines) {
        if (pos >= s.end) {
            return s.needMore(pos);
        }
        if (s.p[pos] != '\r' && s.p[pos] != '\n') {
            break;
        }
        if (emptyLines == kMaxLeadingEmptyLines) {
            return fail(400, "too many empty lines before the request line");
        }
        if (ParseResult r = s.crlf(pos); r.status != ParseStatus::Complete) {
            return r;
        }
    }
    if (ParseResult r = parseRequestLine(s, pos, limits.maxRequestLine, out); r.status != ParseStatus::Complete) {
        return r;
    }
    Facts facts;
    if (ParseResult r = parseFieldSection(s, pos, limits.maxHeaderCount, true, out.headers, facts);
        r.status != ParseStatus::Complete) {
        return r;
    }
    if (ParseResult r = finishRequest(facts, out); r.status != ParseStatus::Complete) {
        return r;
    }
    out.headLength = pos;
    return complete();
}

ParseResult parseStatusLine(const Scanner& s, std::size_t& pos, std::size_t maxLine, ResponseHead& out)
{
    const unsigned char* p = s.p;
    const std::size_t lineLimit = saturatingAdd(pos, maxLine);
    auto stopped = [&](std::size_t at) { return at >= lineLimit ? fail(502, "status line too long") : s.needMore(at); };

    int major = 0;
    int minor = 0;
    if (ParseResult r = parseVersion(s, pos, lineLimit, 502, major, minor); r.status != ParseStatus::Complete) {
        return r;
    }
    // SP 3DIGIT, then SP reason-phrase or (tolerated) nothing before the CRLF.
    for (std::size_t i = 0; i < 4; ++i) {
        const std::size_t at = pos + i;
        if (at >= lineLimit || at >= s.end) {
            return stopped(at);
        }
        const bool ok = i == 0 ? p[at] == ' ' : isDigit(p[at]);
        if (!ok) {
            return fail(400, i == 0 ? "malformed status line" : "malformed status code");
        }
    }
    out.status = (p[pos + 1] - '0') * 100 + (p[pos + 2] - '0') * 10 + (p[pos + 3] - '0');
    pos += 4;
    // The CR may sit exactly at lineLimit; any content byte there makes the line too long.
    if (pos >= s.end) {
        return s.needMore(pos);
    }
    if (p[pos] == ' ') {
        if (pos >= lineLimit) {
            return stopped(pos);
        }
        ++pos;
        const std::size_t reasonStart = pos;
        const std::size_t contentEnd = s.end < lineLimit ? s.end : lineLimit;
        while (pos < contentEnd && is(p[pos], kFieldValue)) {
            ++pos;
        }
        if (pos >= s.end) {
            return s.needMore(pos);
        }
        if (is(p[pos], kFieldValue)) {  // only possible at lineLimit
            return stopped(pos);
        }
        out.reason = std::string_view(reinterpret_cast<const char*>(p + reasonStart), pos - reasonStart);
    }
    if (p[pos] != '\r' && p[pos] != '\n') {
        return fail(400, "invalid character in status line");
    }
    if (ParseResult r = s.crlf(pos); r.status != ParseStatus::Complete) {
        return r;
    }
    if (major != 1 || minor > 1) {
        return fail(502, "HTTP version not supported");
    }
    if (out.status < 100 || out.status > 599) {
        return fail(502, "status code outside 100-599");  // RFC 9110 §15
    }
    out.versionMinor = minor;
    return complete();
}

ParseResult finishResponse(const Facts& facts, std::string_view requestMethod, ResponseHead& out)
{
    const bool http11 = out.versionMinor == 1;
    out.keepAlive = !facts.connectionClose && (http11 || facts.connectionKeepAlive);
    if (facts.transferEncodingCount > 0 && !http11) {
        return fail(502, "Transfer-Encoding in an HTTP/1.0 response");
    }
    const int status = out.status;
    if (requestMethod == "CONNECT" && status >= 200 && status < 300) {
        return fail(502, "tunnel response to CONNECT");
    }
    // RFC 9112 §6.3 rule 1: these end at the empty line whatever the fields say.
    if (requestMethod == "HEAD" || status < 200 || status == 204 || status == 304) {
        out.framing = BodyFraming::None;
        return complete();
    }
    if (facts.transferEncodingCount > 0) {
        const Codings& c = facts.codings;
        if (c.count != 1 || c.chunked != 1 || c.chunkedHasParameters) {
            return fail(502, "unsupported Transfer-Encoding");
        }
        out.framing = BodyFraming::Chunked;
        if (facts.contentLengthCount > 0) {
            out.keepAlive = false;  // RFC 9112 §6.3 rule 3: chunked wins, but do not reuse
        }
        return complete();
    }
    if (facts.contentLengthCount > 0) {
        out.framing = BodyFraming::ContentLength;
        out.contentLength = facts.contentLength;
        return complete();
    }
    out.framing = BodyFraming::UntilClose;
    out.keepAlive = false;
    return complete();
}

ParseResult parseResponseImpl(std::string_view buffer, const ParseLimits& limits, std::string_view requestMethod,
                              ResponseHead& out)
{
    const Scanner s{reinterpret_cast<const unsigned char*>(buffer.data()),
                    buffer.size() < limits.maxHeaderBytes ? buffer.size() : limits.maxHeaderBytes,
                    limits.maxHeaderBytes};
    std::size_t pos = 0;
    if (ParseResult r = parseStatusLine(s, pos, limits.maxRequestLine, out); r.status != ParseStatus::Complete) {
        return r;
    }
    Facts facts;
    if (ParseResult r = parseFieldSection(s, pos, limits.maxHeaderCount, false, out.headers, facts);
        r.status != ParseStatus::Complete) {
        return r;
    }
    if (ParseResult r = finishResponse(facts, requestMethod, out); r.status != ParseStatus::Complete) {
        return r;
    }
    out.headLength = pos;
    return complete();
}

}  // namespace

ParseResult parseRequestHead(std::string_view buffer, const ParseLimits& limits, RequestHead& out)
{
    out.method = {};
    out.target = {};
    out.path = {};
    out.query = {};
    out.host = {};
    out.versionMinor = 1;
    out.headers.clear();
    out.framing = BodyFraming::None;
    out.contentLength = 0;
    out.keepAlive = true;
    out.expectContinue = false;
    out.headLength = 0;
    return parseRequestImpl(buffer, limits, out);
}

ParseResult parseResponseHead(std::string_view buffer, const ParseLimits& limits, std::string_view requestMethod,
                              ResponseHead& out)
{
    out.versionMinor = 1;
    out.status = 0;
    out.reason = {};
    out.headers.clear();
    out.framing = BodyFraming::None;
    out.contentLength = 0;
    out.keepAlive = true;
    out.headLength = 0;
    ParseResult result = parseResponseImpl(buffer, limits, requestMethod, out);
    if (result.status == ParseStatus::Error) {
        result.httpStatus = 502;  // whatever is wrong with an upstream head, the client gets 502
    }
    return result;
}

namespace {

// Whether a Connection field of `headers` has a token that `same` finds equal to `token`.
template <typename Same>
bool connectionNames(const std::vector<HeaderField>& headers, std::string_view token, Same same)
{
    if (token.empty()) {
        return false;
    }
    for (const HeaderField& field : headers) {
        if (equalsLower(field.name, "connection") &&
            !forEachListElement(field.value, [&](std::string_view element) { return !same(element, token); })) {
            return true;
        }
    }
    return false;
}

}  // namespace

bool connectionHasToken(const std::vector<HeaderField>& headers, std::string_view token)
{
    return connectionNames(headers, token, fieldNameEquals);
}

bool headWorthParsing(std::string_view input, std::size_t scanned, std::size_t parsedSize, std::size_t lineLimit,
                      std::size_t headLimit) noexcept
{
    if (scanned == 0 || scanned > input.size()) {
        return true;
    }
    auto crossed = [&](std::size_t limit) { return scanned <= limit && input.size() > limit; };
    if (crossed(lineLimit) || crossed(headLimit) || input.size() >= 2 * parsedSize) {
        return true;
    }
    const std::size_t start = input.find_first_not_of("\r\n");
    if (start == std::string_view::npos) {
        return true;  // only empty lines so far (few: the parser bounds them)
    }
    const std::size_t firstEnd = input.find('\n', start);
    if (firstEnd != std::string_view::npos && firstEnd >= scanned) {
        return true;
    }
    const std::string_view seam = input.substr(scanned >= 2 ? scanned - 2 : 0);  // an end across reads
    return seam.find("\n\r\n") != std::string_view::npos || seam.find("\n\n") != std::string_view::npos;
}

namespace {

// The order of names as sameCgiName sees them: folded by sdk::cgiFold, then by length (names
// equal under sameCgiName are neither less than the other).
bool cgiNameLess(std::string_view a, std::string_view b) noexcept
{
    const std::size_t n = a.size() < b.size() ? a.size() : b.size();
    for (std::size_t i = 0; i < n; ++i) {
        const char x = sdk::cgiFold(a[i]);
        const char y = sdk::cgiFold(b[i]);
        if (x != y) {
            return static_cast<unsigned char>(x) < static_cast<unsigned char>(y);
        }
    }
    return a.size() < b.size();
}

}  // namespace

bool isHopByHop(std::string_view name, const std::vector<HeaderField>& headers)
{
    return HopByHopFilter(headers)(name);
}

HopByHopFilter::HopByHopFilter(const std::vector<HeaderField>& headers)
{
    for (const HeaderField& field : headers) {
        if (!equalsLower(field.name, "connection")) {
            continue;
        }
        forEachListElement(field.value, [this](std::string_view token) {
            if (_tokenCount < kKeptTokens) {
                _tokens[_tokenCount++] = token;
                return true;
            }
            if (_manyTokens.empty()) {
                _manyTokens.assign(std::begin(_tokens), std::end(_tokens));
            }
            _manyTokens.push_back(token);
            return true;
        });
    }
    std::sort(_manyTokens.begin(), _manyTokens.end(), cgiNameLess);
}

// Asked for every field both ways: the length picks the one or two names to compare with, and
// most fields have a length no hop-by-hop name has.
bool isHopByHopName(std::string_view name) noexcept
{
    switch (name.size()) {
        case 2: return equalsLower(name, "te");
        case 7: return equalsLower(name, "trailer") || equalsLower(name, "upgrade");
        case 10: return equalsLower(name, "connection") || equalsLower(name, "keep-alive");
        case 14: return equalsLower(name, "http2-settings");  // RFC 9113 §3.2.1: of the connection
        case 16: return equalsLower(name, "proxy-connection");
        case 17: return equalsLower(name, "transfer-encoding");
        case 18: return equalsLower(name, "proxy-authenticate");
        case 19: return equalsLower(name, "proxy-authorization");
        default: return false;
    }
}

bool isGatewayOwnedField(std::string_view name) noexcept
{
    return fieldNameEquals(name, "host") || fieldNameEquals(name, "content-length") ||
           fieldNameEquals(name, "expect") || isHopByHopName(name);
}

CgiLookAlikes::CgiLookAlikes(const std::vector<HeaderField>& headers)
{
    const auto hasLookAlikeByte = [](const HeaderField& h) { return sdk::hasCgiLookAlikeByte(h.name); };
    if (std::none_of(headers.begin(), headers.end(), hasLookAlikeByte)) {
        return;
    }
    std::vector<std::size_t> order(headers.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
        order[i] = i;
    }
    std::sort(order.begin(), order.end(),
              [&headers](std::size_t a, std::size_t b) { return cgiNameLess(headers[a].name, headers[b].name); });
    _marked.assign(headers.size(), false);
    // Runs of names equal under sameCgiName; a run spelt more than one way loses its members
    // with '_' or '.'.
    for (std::size_t begin = 0; begin < order.size();) {
        std::size_t end = begin + 1;
        bool spelledOtherwise = false;
        while (end < order.size() && !cgiNameLess(headers[order[begin]].name, headers[order[end]].name)) {
            spelledOtherwise =
                spelledOtherwise || !fieldNameEquals(headers[order[begin]].name, headers[order[end]].name);
            ++end;
        }
        for (std::size_t i = begin; spelledOtherwise && i < end; ++i) {
            _marked[order[i]] = hasLookAlikeByte(headers[order[i]]);
        }
        begin = end;
    }
}

bool HopByHopFilter::operator()(std::string_view name) const noexcept
{
    if (isHopByHopName(name)) {
        return true;
    }
    if (!_manyTokens.empty()) {
        return std::binary_search(_manyTokens.begin(), _manyTokens.end(), name, cgiNameLess);
    }
    for (std::size_t i = 0; i < _tokenCount; ++i) {
        if (sameCgiName(_tokens[i], name)) {
            return true;
        }
    }
    return false;
}

}  // namespace sluice::runtime::http
