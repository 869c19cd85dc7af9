#include "sluice/runtime/http/FormMethodScanner.h"

#include "sluice/runtime/http/HttpParser.h"
#include "sluice/runtime/http/JsonMethodScanner.h"
#include "sluice/sdk/HttpSyntax.hpp"

#include <strings.h>

#include <algorithm>
#include <cstring>
#include <iterator>

namespace sluice::runtime::http {

namespace {

using sdk::hexValue;

bool isSpace(char c) noexcept { return c == ' ' || c == '\t'; }

bool startsWithNoCase(std::string_view text, std::string_view prefix) noexcept
{
    return text.size() >= prefix.size() && ::strncasecmp(text.data(), prefix.data(), prefix.size()) == 0;
}

std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && isSpace(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && isSpace(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

// The media type of a Content-Type field value as the frameworks find it: up to a ';', or a ','
// (Rack) or a space (PHP).
std::string_view mediaType(std::string_view contentType) noexcept
{
    contentType = trim(contentType);
    return contentType.substr(0, contentType.find_first_of(";, \t"));
}

// Characters before a name that no framework keeps: spaces (PHP), '[' and ']' (Rack 2).
bool droppedBeforeName(char c) noexcept { return c == ' ' || c == '[' || c == ']'; }

// Where the name a framework files a value under ends: an index ('[' for PHP and Rack, ']' left
// over for Rack 2) or a NUL (PHP cuts the name there).
bool endsName(char c) noexcept { return c == '[' || c == ']' || c == '\0'; }

// Charsets in which the ASCII bytes of "_method=" mean those characters and no other bytes do:
// what a framework decodes with one of them reads as the scanners do.
bool asciiCompatibleCharsetName(std::string_view charset) noexcept
{
    static constexpr std::string_view kCompatible[] = {
        "utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5",
        "iso-8859-6", "iso-8859-7", "iso-8859-8", "iso-8859-9", "iso-8859-10", "iso-8859-13", "iso-8859-14",
        "iso-8859-15", "iso-8859-16", "latin1", "windows-1250", "windows-1251", "windows-1252", "windows-1253",
        "windows-1254", "windows-1255", "windows-1256", "windows-1257", "windows-1258", "koi8-r", "koi8-u", "euc-jp",
        "euc-kr", "gb2312", "gbk", "gb18030", "big5", "shift_jis",
        // Names Java (Tomcat) and Windows clients use for some of the same and their kin.
        "windows-31j", "ms932", "cp932", "sjis", "x-sjis", "shift-jis", "cp936", "ms936", "cp949", "ms949", "cp950",
        "ms950", "big5-hkscs", "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258",
        "iso8859_1", "iso8859-1", "iso_8859-1", "windows-874", "tis-620"};
    for (std::string_view known : kCompatible) {
        if (fieldNameEquals(charset, known)) {
            return true;
        }
    }
    return false;
}

int base64Value(char c) noexcept
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+' || c == '-') {  // '-' and '_' of the URL-safe alphabet, which lenient decoders take
        return 62;
    }
    if (c == '/' || c == '_') {
        return 63;
    }
    return -1;
}

bool isDigit(char c) noexcept { return c >= '0' && c <= '9'; }

// The next position of one byte in a text (its size when there is none), searched for again only
// once passed: a scan that asks at growing positions reads every byte at most once.
class NextByte {
public:
    explicit NextByte(char c) noexcept : _byte(c) {}

    std::size_t at(std::string_view text, std::size_t from) noexcept
    {
        if (!_known || _at < from) {
            const void* found = std::memchr(text.data() + from, _byte, text.size() - from);
            _at = found != nullptr ? static_cast<std::size_t>(static_cast<const char*>(found) - text.data())
                                   : text.size();
            _known = true;
        }
        return _at;
    }

private:
    char _byte;
    std::size_t _at = 0;
    bool _known = false;
};

}  // namespace

std::string decodeFormComponent(std::string_view in)
{
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%' && i + 2 < in.size() && hexValue(in[i + 1]) >= 0 && hexValue(in[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hexValue(in[i + 1]) * 16 + hexValue(in[i + 2])));
            i += 2;
        } else {
            out.push_back(in[i] == '+' ? ' ' : in[i]);
        }
    }
    return out;
}

bool isMethodParameterName(std::string_view decodedName) noexcept
{
    constexpr std::string_view kName = "_method";
    std::size_t i = 0;
    while (i < decodedName.size() && droppedBeforeName(decodedName[i])) {
        ++i;
    }
    std::size_t matched = 0;
    for (; i < decodedName.size() && !endsName(decodedName[i]); ++i) {
        char c = decodedName[i];
        if (c == ' ' || c == '.') {
            c = '_';
        }
        if (matched == kName.size() || c != kName[matched]) {
            return false;
        }
        ++matched;
    }
    return matched == kName.size();
}

HexEscape::Step HexEscape::take(char c) noexcept
{
    if (hexValue(c) < 0) {
        return Step::Broken;
    }
    if (_length == 1) {
        _read[1] = c;
        _length = 2;
        return Step::Continued;
    }
    _value = static_cast<char>(hexValue(_read[1]) * 16 + hexValue(c));
    _length = 0;
    return Step::Completed;
}

std::string_view HexEscape::abandon() noexcept
{
    const std::string_view read(_read, _length);
    _length = 0;
    return read;
}

void OverrideValue::clear() noexcept
{
    _length = 0;
    _tooLong = false;
}

void OverrideValue::push(char c) noexcept
{
    if (_length < kMax) {
        _bytes[_length++] = c;
    } else {
        _tooLong = true;
    }
}

bool OverrideValue::differsFrom(std::string_view method) const noexcept
{
    return _tooLong || _length != method.size() || ::strncasecmp(_bytes, method.data(), _length) != 0;
}

void BodyMethodScanner::judge(const OverrideValue& value) noexcept
{
    _overrides = _overrides || value.differsFrom(_method);
}

std::unique_ptr<BodyMethodScanner> BodyMethodScanner::forContentType(std::string_view contentType,
                                                                     std::string_view method)
{
    if (FormMethodScanner::isFormContentType(contentType)) {
        return std::make_unique<FormMethodScanner>(method);
    }
    if (MultipartMethodScanner::isMultipart(contentType)) {
        const auto boundary = MultipartMethodScanner::boundaryOf(contentType);
        if (boundary && !boundary->empty()) {
            return std::make_unique<MultipartMethodScanner>(*boundary, method);
        }
    }
    if (JsonMethodScanner::isJsonContentType(contentType)) {
        return std::make_unique<JsonMethodScanner>(method);
    }
    return nullptr;
}

bool BodyMethodScanner::asciiCompatibleCharset(std::string_view contentType)
{
    // Read strictly (RFC 9110 §8.3.1): a parameter list that cannot be read, or two charsets,
    // may be read otherwise by a framework (Tomcat keeps the last charset), so it is refused.
    std::string charset;
    switch (sdk::mediaTypeParameter(contentType, "charset", charset)) {
        case sdk::ParameterLookup::Absent: return true;
        case sdk::ParameterLookup::Malformed: return false;
        case sdk::ParameterLookup::Found: break;
    }
    return asciiCompatibleCharsetName(charset);
}

// --- application/x-www-form-urlencoded ---

bool FormMethodScanner::isFormContentType(std::string_view contentType) noexcept
{
    return fieldNameEquals(mediaType(contentType), "application/x-www-form-urlencoded");
}

bool FormMethodScanner::ignoring() const noexcept
{
    return !_escape.active() && (_inValue ? !_capturing : (_nameCut || _nameTooLong));
}

void FormMethodScanner::feed(std::string_view bytes) noexcept
{
    NextByte ampersand('&');
    NextByte semicolon(';');
    NextByte equals('=');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (ignoring()) {
            // Nothing before the next separator can change the answer: skip it at memchr speed
            // (a byte-wise look at a 10 KiB value cost about as much as proxying the request).
            const std::size_t from = i;
            i = std::min(ampersand.at(bytes, from), semicolon.at(bytes, from));
            if (!_inValue) {
                i = std::min(i, equals.at(bytes, from));
            }
            if (i == bytes.size()) {
                return;
            }
        }
        const char c = bytes[i];
        if (_escape.active()) {
            switch (_escape.take(c)) {
                case HexEscape::Step::Continued: continue;
                case HexEscape::Step::Completed: take(_escape.value()); continue;
                case HexEscape::Step::Broken:
                    flushEscape();  // not an escape: the frameworks keep such bytes as they are
                    break;
            }
        }
        takeRaw(c);
    }
}

void FormMethodScanner::flushEscape() noexcept
{
    for (char raw : _escape.abandon()) {
        take(raw);
    }
}

void FormMethodScanner::takeRaw(char raw) noexcept
{
    switch (raw) {
        case '&':
        case ';':  // PHP's arg_separator.input may add it, and Rack 1 split at it
            endPair();
            return;
        case '%': _escape.start('%'); return;
        case '+': take(' '); return;
        case '=':
            if (!_inValue) {
                endName();
                return;
            }
            break;
        default: break;
    }
    take(raw);
}

void FormMethodScanner::take(char decoded) noexcept
{
    if (_inValue) {
        if (_capturing) {
            _value.push(decoded);
        }
        return;
    }
    // The name is reduced as it comes (as isMethodParameterName() reads it), so that only its
    // first kMaxName characters need keeping.
    if (!_nameStarted && droppedBeforeName(decoded)) {
        return;
    }
    _nameStarted = true;
    if (_nameCut) {
        return;
    }
    if (endsName(decoded)) {
        _nameCut = true;
        return;
    }
    if (_nameLength < kMaxName) {
        _name[_nameLength++] = decoded;
    } else {
        _nameTooLong = true;
    }
}

void FormMethodScanner::endName() noexcept
{
    _inValue = true;
    _capturing = !_nameTooLong && isMethodParameterName(std::string_view(_name, _nameLength));
    _value.clear();
}

void FormMethodScanner::endPair() noexcept
{
    flushEscape();  // a '%' (and a digit) at the end of the pair stay as they are
    if (!_inValue && _nameLength > 0) {
        endName();  // "_method" without '=': an empty value
    }
    if (_capturing) {
        judge(_value);
    }
    _nameLength = 0;
    _nameTooLong = false;
    _nameStarted = false;
    _nameCut = false;
    _inValue = false;
    _capturing = false;
}

void FormMethodScanner::finish() noexcept { endPair(); }

// --- multipart/* ---

bool MethodNameWindow::push(char c) noexcept
{
    std::copy(std::begin(_recent) + 1, std::end(_recent), std::begin(_recent));
    _recent[sizeof _recent - 1] = c;
    return (_recent[0] == '_' || _recent[0] == '.') && std::string_view(_recent + 1, 6) == "method";
}

bool CharsetName::push(char c) noexcept
{
    if (_length == kMax) {
        return false;
    }
    _bytes[_length++] = c;
    return true;
}

bool CharsetName::asciiCompatible() const noexcept
{
    const std::string_view name(_bytes, _length);
    return asciiCompatibleCharsetName(name.substr(0, name.find('*')));
}

void PartHeaderReader::push(char c) noexcept
{
    _found = _raw.push(c) || _found;
    pushPercent(c);
    pushExtended(c);
    trackToken(c);
    pushWord(c);
}

void PartHeaderReader::pushPercent(char c) noexcept
{
    if (_escape.active()) {
        switch (_escape.take(c)) {
            case HexEscape::Step::Continued: return;
            case HexEscape::Step::Completed: _found = _percentDecoded.push(_escape.value()) || _found; return;
            case HexEscape::Step::Broken:
                for (char raw : _escape.abandon()) {  // no escape: its bytes stay as they are
                    _found = _percentDecoded.push(raw) || _found;
                }
                break;
        }
    }
    if (c == '%') {
        _escape.start('%');
        return;
    }
    _found = _percentDecoded.push(c) || _found;
}

// Whitespace as Tomcat trims it around parameter names and values (Character.isWhitespace, with
// folded lines unfolded), and any byte of a non-ASCII character, which a header decoder may read
// as one of those.
bool PartHeaderReader::looseSpace(char c) noexcept
{
    const auto u = static_cast<unsigned char>(c);
    return u == ' ' || (u >= 0x09 && u <= 0x0D) || (u >= 0x1C && u <= 0x1F) || u >= 0x80;
}

void PartHeaderReader::trackToken(char c) noexcept
{
    if (!sdk::isTokenChar(static_cast<unsigned char>(c))) {
        _tokenLength = 0;
        return;
    }
    if (_tokenLength < sizeof _token) {
        _token[_tokenLength] = static_cast<char>(c | 0x20);
    }
    if (_tokenLength <= sizeof _token) {
        ++_tokenLength;
    }
}

void PartHeaderReader::pushExtended(char c) noexcept
{
    switch (_extended) {
        case Extended::None: break;
        case Extended::Star:
            if (looseSpace(c) || c == '*') {
                return;
            }
            if (c == '=') {
                _extended = Extended::Equals;
                _extendedCharset.clear();
                return;
            }
            if (isDigit(c)) {
                _extended = Extended::StarDigits;
                return;
            }
            _extended = Extended::None;
            break;
        case Extended::StarDigits:
            if (isDigit(c) || looseSpace(c) || c == '*') {
                return;  // "*0*=": an extended continuation
            }
            if (c == '=') {
                _found = true;  // a continuation: joined, the pieces may name it
            }
            _extended = Extended::None;
            break;
        case Extended::Equals:
            if (looseSpace(c)) {
                return;
            }
            _extended = Extended::Charset;
            if (c == '"') {
                return;
            }
            [[fallthrough]];
        case Extended::Charset:
            if (c == '\'') {
                _found = _found || !(_extendedCharset.empty() || _extendedCharset.asciiCompatible());
                _extended = Extended::Value;
                _valueEscape.abandon();
                return;
            }
            if (c == ';' || c == '"' || c == '\r' || c == '\n' || !_extendedCharset.push(c)) {
                _extended = Extended::None;  // no charset: parsers keep the value as it is
                break;
            }
            return;
        case Extended::Value:
            // Tomcat decodes "%" and any two characters, a non-hex one as 0 and a non-ASCII one
            // by its low 7 bits: only plain escapes read as the %XX view does.
            if (c == ';' || c == '"' || c == '\r' || c == '\n') {
                _found = _found || !_valueEscape.abandon().empty();  // an escape cut short
                _extended = Extended::None;
                break;
            }
            if (static_cast<unsigned char>(c) >= 0x80 ||
                (_valueEscape.active() && _valueEscape.take(c) == HexEscape::Step::Broken)) {
                _found = true;
                _valueEscape.abandon();
            } else if (c == '%' && !_valueEscape.active()) {
                _valueEscape.start('%');
            }
            return;
    }
    if (c == '*' && _tokenLength == 4 && std::string_view(_token, 4) == "name") {
        // "name*": only the name parameter makes a form field (Tomcat; a filename* does not).
        _extended = Extended::Star;
    }
}

void PartHeaderReader::pushWord(char c) noexcept
{
    switch (_word) {
        case Word::None: break;
        case Word::Equals:
            if (c == '?') {
                _word = Word::Charset;
                _wordCharset.clear();
                return;
            }
            _word = Word::None;
            break;
        case Word::Charset:
            if (c == '?') {
                _word = Word::Encoding;
                return;
            }
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' || c == '=' || !_wordCharset.push(c)) {
                _word = Word::None;
                break;
            }
            return;
        case Word::Encoding:
            if (c == 'B' || c == 'b' || c == 'Q' || c == 'q') {
                _base64 = c == 'B' || c == 'b';
                _word = Word::EncodingEnd;
                return;
            }
            _word = Word::None;
            break;
        case Word::EncodingEnd:
            if (c == '?') {
                _found = _found || !_wordCharset.asciiCompatible();
                _word = Word::Text;
                _bits = 0;
                _bitCount = 0;
                _wordEscape.abandon();
                return;
            }
            _word = Word::None;
            break;
        case Word::Text:
            if (c == '?') {
                _word = Word::None;  // the end, "?="
                return;
            }
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' || c == ';') {
                // Not a word after all: decoders split words at white space and parameter values
                // end here, so a word may start right after.
                _word = Word::None;
                break;
            }
            decodeWord(c);
            return;
    }
    if (c == '=') {
        _word = Word::Equals;
    }
}

// The decoded text of all encoded words of the block goes to one window: a decoder joins
// adjacent words (and this one does not tell them from others).
void PartHeaderReader::decodeWord(char c) noexcept
{
    if (_base64) {
        const int value = base64Value(c);
        if (value < 0) {
            return;  // padding, or what lenient decoders skip
        }
        _bits = ((_bits << 6U) | static_cast<unsigned>(value)) & 0xFFFFU;
        _bitCount += 6;
        if (_bitCount >= 8) {
            _bitCount -= 8;
            _found =
                _wordsDecoded.push(static_cast<char>((_bits >> static_cast<unsigned>(_bitCount)) & 0xFFU)) || _found;
        }
        return;
    }
    if (_wordEscape.active()) {
        switch (_wordEscape.take(c)) {
            case HexEscape::Step::Continued: return;
            case HexEscape::Step::Completed: _found = _wordsDecoded.push(_wordEscape.value()) || _found; return;
            case HexEscape::Step::Broken:
                _wordEscape.abandon();  // decoders drop it
                break;
        }
    }
    if (c == '=') {
        _wordEscape.start('=');
        return;
    }
    _found = _wordsDecoded.push(c == '_' ? ' ' : c) || _found;
}

bool MultipartMethodScanner::isMultipart(std::string_view contentType) noexcept
{
    return startsWithNoCase(mediaType(contentType), "multipart/");
}

std::optional<std::string> MultipartMethodScanner::boundaryOf(std::string_view contentType)
{
    constexpr std::string_view kKey = "boundary";
    std::optional<std::string> found;
    for (std::size_t at = 0; at + kKey.size() <= contentType.size(); ++at) {
        if (!startsWithNoCase(contentType.substr(at), kKey)) {
            continue;
        }
        // The value after the next '=', as PHP takes it (even from "boundaryx=...").
        std::size_t i = contentType.find('=', at + kKey.size());
        if (i == std::string_view::npos) {
            break;
        }
        ++i;
        while (i < contentType.size() && isSpace(contentType[i])) {
            ++i;
        }
        std::string value;
        if (i < contentType.size() && contentType[i] == '"') {
            const std::size_t end = contentType.find('"', i + 1);
            value = std::string(contentType.substr(i + 1, end == std::string_view::npos ? end : end - i - 1));
        } else {
            const std::size_t end = contentType.find_first_of(";, \t\"", i);
            value = std::string(contentType.substr(i, end == std::string_view::npos ? end : end - i));
        }
        if (value.size() > kMaxBoundary || (found && *found != value)) {
            return std::nullopt;
        }
        found = std::move(value);
    }
    if (found && found->empty()) {
        return std::nullopt;
    }
    return found ? found : std::optional<std::string>(std::string());
}

MultipartMethodScanner::MultipartMethodScanner(std::string_view boundary, std::string_view method)
    : BodyMethodScanner(method), _delimiter("--" + std::string(boundary))
{
    _fail.assign(_delimiter.size() + 1, 0);
    for (std::size_t i = 1, k = 0; i < _delimiter.size(); ++i) {
        while (k > 0 && _delimiter[i] != _delimiter[k]) {
            k = _fail[k];
        }
        if (_delimiter[i] == _delimiter[k]) {
            ++k;
        }
        _fail[i + 1] = k;
    }
}

void MultipartMethodScanner::feed(std::string_view bytes) noexcept
{
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (_state == State::Headers) {
            headerByte(bytes[i]);
            continue;
        }
        if (_matched == 0) {  // content up to a byte that may start a delimiter changes nothing
            const void* next = std::memchr(bytes.data() + i, _delimiter[0], bytes.size() - i);
            if (next == nullptr) {
                return;
            }
            i = static_cast<std::size_t>(static_cast<const char*>(next) - bytes.data());
        }
        const char c = bytes[i];
        while (_matched > 0 && c != _delimiter[_matched]) {
            _matched = _fail[_matched];
        }
        if (c == _delimiter[_matched] && ++_matched == _delimiter.size()) {
            // The rest of the delimiter's line counts as a header line: some parsers read on.
            _matched = 0;
            _state = State::Headers;
            _lineLength = 1;
            _header = PartHeaderReader();
        }
    }
}

void MultipartMethodScanner::headerByte(char c) noexcept
{
    _header.push(c);
    if (_header.namesMethod()) {
        flag();
    }
    if (c == '\n') {
        if (_lineLength == 0) {
            _state = State::Content;  // the empty line: the part's content follows
        }
        _lineLength = 0;
    } else if (c != '\r') {
        ++_lineLength;
    }
}

}  // namespace sluice::runtime::http
