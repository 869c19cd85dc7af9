#pragma once

// Method overrides carried in a request's parameters. Rails (Rack::MethodOverride), Laravel and
// Symfony, and Spring's HiddenHttpMethodFilter run a POST as the method named by a `_method`
// parameter of a form body (application/x-www-form-urlencoded or multipart); some also
// read it from the query. The gateway routed and policed the request line's method, so such a
// parameter naming another one is refused (http.method_override).
//
// Names are compared as the frameworks read them: percent-decoded, '+' as a space, as PHP
// registers variables (leading spaces dropped, ' ' and '.' read as '_', cut at a NUL, and
// `_method[...]` an array under the name `_method`) and as Rack 2 does (leading and trailing
// brackets dropped). Pairs end at '&' or ';'. Values compare case-insensitively, as the
// frameworks upper-case them; an empty or missing value counts as another method.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::runtime::http {

// True when a parameter name, already percent-decoded, is read as `_method`: after leading
// spaces (PHP) and brackets (Rack 2), up to an index ('[' or ']') or a NUL (PHP cuts there).
bool isMethodParameterName(std::string_view decodedName) noexcept;

// A name or value of a form or query as the frameworks decode it: %XX escapes, '+' a space, and
// a '%' that starts no escape kept as it is.
std::string decodeFormComponent(std::string_view in);

// A two-hex-digit escape (%5F, or Q-encoding's =5F) as it streams, once its introducer is read.
class HexEscape {
public:
    enum class Step { Continued, Completed, Broken };

    void start(char introducer) noexcept
    {
        _read[0] = introducer;
        _length = 1;
    }
    bool active() const noexcept { return _length > 0; }
    // What `c` does to the escape: continues it, completes it (value() is then the byte it
    // stands for), or breaks it (it stays as it was, for abandon()).
    Step take(char c) noexcept;
    char value() const noexcept { return _value; }
    // The bytes read of a broken escape ("%" or "%5"); the escape ends.
    std::string_view abandon() noexcept;

private:
    char _read[2] = {};
    std::size_t _length = 0;
    char _value = 0;
};

// The value of one `_method` parameter, kept up to a bound: a longer one is no method.
class OverrideValue {
public:
    void clear() noexcept;
    void push(char c) noexcept;
    // Whether it names another method than `method` (case-insensitively).
    bool differsFrom(std::string_view method) const noexcept;

private:
    static constexpr std::size_t kMax = 16;
    char _bytes[kMax] = {};
    std::size_t _length = 0;
    bool _tooLong = false;
};

// Scans a form (or JSON) body as it streams, in pieces split anywhere, with bounded state.
class BodyMethodScanner {
public:
    virtual ~BodyMethodScanner() = default;

    virtual void feed(std::string_view bytes) noexcept = 0;
    // The body has ended: the last parameter is complete.
    virtual void finish() noexcept = 0;
    // Some `_method` parameter seen so far names another method than the request's.
    bool overrides() const noexcept { return _overrides; }

    // A scanner for a body with this Content-Type field value, or null when it is no form and no
    // JSON (JsonMethodScanner.h), or a multipart one without a boundary, which no framework reads
    // either (see MultipartMethodScanner::boundaryOf for one that is ambiguous).
    static std::unique_ptr<BodyMethodScanner> forContentType(std::string_view contentType, std::string_view method);

    // Whether the charset parameter of a Content-Type (none: yes) is one in which the scanner
    // reads what a framework decoding the body with it reads (UTF-8, ISO-8859-*, ...). A form in
    // another one (UTF-16, UTF-7, EBCDIC) could name `_method` in bytes the scanner cannot see;
    // so could one whose parameters cannot be read strictly, or that names two charsets.
    static bool asciiCompatibleCharset(std::string_view contentType);

protected:
    explicit BodyMethodScanner(std::string_view method) : _method(method) {}
    void judge(const OverrideValue& value) noexcept;
    void flag() noexcept { _overrides = true; }

private:
    std::string _method;
    bool _overrides = false;
};

// application/x-www-form-urlencoded: name=value pairs separated by '&', or by ';' for the
// frameworks that read it so. Reading both is safe: a value that a '&'-only reading would end
// later (`_method=POST;x`) names no method there.
class FormMethodScanner final : public BodyMethodScanner {
public:
    explicit FormMethodScanner(std::string_view method) : BodyMethodScanner(method) {}

    void feed(std::string_view bytes) noexcept override;
    void finish() noexcept override;

    // Whether a Content-Type field value is application/x-www-form-urlencoded (any parameters).
    static bool isFormContentType(std::string_view contentType) noexcept;

private:
    static constexpr std::size_t kMaxName = 16;

    // Whether bytes up to the next separator change nothing: the value of another name, or the
    // rest of a name that can no longer be `_method`.
    bool ignoring() const noexcept;
    void take(char decoded) noexcept;
    void takeRaw(char raw) noexcept;
    void flushEscape() noexcept;
    void endName() noexcept;
    void endPair() noexcept;

    char _name[kMaxName] = {};
    std::size_t _nameLength = 0;
    bool _nameTooLong = false;
    bool _nameStarted = false;  // past the leading spaces PHP drops
    bool _nameCut = false;      // past a '[': the rest is an array index
    OverrideValue _value;
    bool _inValue = false;
    bool _capturing = false;  // the current pair's name is `_method`
    HexEscape _escape;
};

// The last bytes of a text as it streams, to find "_method" or ".method" (PHP reads '.' as '_').
class MethodNameWindow {
public:
    // Whether the text, with `c` added, ends in one of the names.
    bool push(char c) noexcept;

private:
    char _recent[7] = {};
};

// A charset name as it streams, kept up to a bound.
class CharsetName {
public:
    void clear() noexcept { _length = 0; }
    // False when the name is too long to be one (it is then no longer kept).
    bool push(char c) noexcept;
    // Whether text decoded with it reads "_method" only where its bytes are those (UTF-8,
    // ISO-8859-*, ...), so that the decoded bytes show what a framework reads. A language tag
    // after '*' (RFC 2231 §5) is ignored.
    bool asciiCompatible() const noexcept;
    bool empty() const noexcept { return _length == 0; }

private:
    static constexpr std::size_t kMax = 40;
    char _bytes[kMax] = {};
    std::size_t _length = 0;
};

// One multipart header block read for "_method" (or ".method") as it is and as parsers that
// decode parameter values read it. Tomcat and Commons FileUpload (Spring) decode a part's name
// given as an RFC 2231 extended value (`name*=UTF-8''%5Fmethod`) or as RFC 2047 encoded words
// (`name="=?UTF-8?B?X21ldGhvZA==?="`, several adjacent ones joined), and Go joins RFC 2231
// continuations (`name*0="_met"; name*1="hod"`). So the names are also looked for in the block
// with every %XX decoded, and in the decoded text of all its encoded words joined, anywhere in
// it, whatever the parameter; an encoded word in a charset that is not ASCII-compatible (UTF-16,
// EBCDIC: Java decodes both) counts as naming it. RFC 2231 is judged on the `name` parameter
// only (a filename makes no field): an extended value in such a charset, or with an escape
// Tomcat reads otherwise, and any continuation count as naming it.
class PartHeaderReader {
public:
    void push(char c) noexcept;
    bool namesMethod() const noexcept { return _found; }

private:
    static bool looseSpace(char c) noexcept;
    void pushPercent(char c) noexcept;
    void trackToken(char c) noexcept;
    void pushExtended(char c) noexcept;
    void pushWord(char c) noexcept;
    void decodeWord(char c) noexcept;

    bool _found = false;
    MethodNameWindow _raw;
    MethodNameWindow _percentDecoded;
    MethodNameWindow _wordsDecoded;

    HexEscape _escape;  // %XX

    // The token being read (RFC 9110 tchar), lower-cased: its first bytes and its length (up to
    // one more than kept), to tell a `name` parameter from `filename`.
    char _token[4] = {};
    std::size_t _tokenLength = 0;

    // RFC 2231 on the name parameter: "name*=" then charset'language'value; "name*0=" or
    // "name*0*=" a continuation (StarDigits).
    enum class Extended { None, Star, StarDigits, Equals, Charset, Value };
    Extended _extended = Extended::None;
    CharsetName _extendedCharset;
    HexEscape _valueEscape;  // a '%' in the value

    // RFC 2047: =?charset?B|Q?text?=
    enum class Word { None, Equals, Charset, Encoding, EncodingEnd, Text };
    Word _word = Word::None;
    CharsetName _wordCharset;
    bool _base64 = false;
    unsigned _bits = 0;  // base64 bits not yet a byte
    int _bitCount = 0;
    HexEscape _wordEscape;  // Q's =XX
};

// multipart/* (RFC 7578 and RFC 2046; Rack parses mixed and related too). The parsers of the
// frameworks disagree on where parts and their headers begin (a delimiter after CRLF, after a bare
// LF or anywhere; headers folded, split at a buffer size, or matched anywhere in the header
// block). So that none of their readings is missed, this scanner reads more delimiters than any
// of them ("--boundary" anywhere) and takes the whole of every header block, from the delimiter
// to the first empty line, as one text: a part whose header block holds "_method" or ".method"
// (PHP reads '.' as '_') anywhere is taken for a method override, whatever its content (no
// client needs a multipart `_method` naming the request's own method). The names are looked for
// in the block as it is and as parsers decode parameter values (PartHeaderReader).
class MultipartMethodScanner final : public BodyMethodScanner {
public:
    MultipartMethodScanner(std::string_view boundary, std::string_view method);

    void feed(std::string_view bytes) noexcept override;
    void finish() noexcept override {}

    // The boundary of a multipart/* Content-Type field value as every parser would find it: the
    // value after the '=' that follows each "boundary" in it, in any case (quoted, or up to ';',
    // ',', a space or a quote). Empty when there is none (no framework parses such a body);
    // nullopt when they differ, one is empty or one is longer than kMaxBoundary: parsers may
    // disagree on it.
    static std::optional<std::string> boundaryOf(std::string_view contentType);
    static bool isMultipart(std::string_view contentType) noexcept;

    static constexpr std::size_t kMaxBoundary = 200;

private:
    enum class State { Content, Headers };

    void headerByte(char c) noexcept;

    std::string _delimiter;          // "--" + boundary
    std::vector<std::size_t> _fail;  // KMP: longest proper border of each prefix of _delimiter
    std::size_t _matched = 0;
    State _state = State::Content;
    PartHeaderReader _header;
    std::size_t _lineLength = 0;  // bytes of the current header line, '\r' not counted
};

}  // namespace sluice::runtime::http
