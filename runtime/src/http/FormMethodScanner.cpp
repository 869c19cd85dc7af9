#include "sluice/runtime/http/FormMethodScanner.h"

#include "sluice/runtime/http/HttpParser.h"
#include "sluice/sdk/HttpSyntax.hpp"

#include <strings.h>

#include <algorithm>
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
    return nullptr;
}

bool BodyMethodScanner::asciiCompatibleCharset(std::string_view contentType)
{
    // Read strictly (RFC 9110 §8.3.1): a parameter list that cannot be read, or two charsets,
    // may be read otherwise by a framework (Tomcat keeps the last charset), so it is refused.
    std::string charset;
    switch (sdk::mediaTypeParameter(contentType, "charset", charset)) {
        case sdk::ParameterLookup::Absent:
            return true;
        case sdk::ParameterLookup::Malformed:
            return false;
        case sdk::ParameterLookup::Found:
            break;
    }
    // Charsets in which the ASCII bytes of "_method=" mean those characters and no other bytes
    // do: what a framework decodes the body with then reads as this scanner does.
    static constexpr std::string_view kCompatible[] = {
        "utf-8",        "utf8",         "us-ascii",     "ascii",        "iso-8859-1",   "iso-8859-2",   "iso-8859-3",
        "iso-8859-4",   "iso-8859-5",   "iso-8859-6",   "iso-8859-7",   "iso-8859-8",   "iso-8859-9",   "iso-8859-10",
        "iso-8859-13",  "iso-8859-14",  "iso-8859-15",  "iso-8859-16",  "latin1",       "windows-1250", "windows-1251",
        "windows-1252", "windows-1253", "windows-1254", "windows-1255", "windows-1256", "windows-1257", "windows-1258",
        "koi8-r",       "koi8-u",       "euc-jp",       "euc-kr",       "gb2312",       "gbk",          "gb18030",
        "big5",         "shift_jis"};
    for (std::string_view known : kCompatible) {
        if (fieldNameEquals(charset, known)) {
            return true;
        }
    }
    return false;
}

// --- application/x-www-form-urlencoded ---

bool FormMethodScanner::isFormContentType(std::string_view contentType) noexcept
{
    return fieldNameEquals(mediaType(contentType), "application/x-www-form-urlencoded");
}

void FormMethodScanner::feed(std::string_view bytes) noexcept
{
    for (char c : bytes) {
        if (_escape == 1 && hexValue(c) >= 0) {
            _escapeDigit = c;
            _escape = 2;
            continue;
        }
        if (_escape == 2 && hexValue(c) >= 0) {
            _escape = 0;
            take(static_cast<char>(hexValue(_escapeDigit) * 16 + hexValue(c)));
            continue;
        }
        flushEscape();  // not an escape: the frameworks keep such bytes as they are
        takeRaw(c);
    }
}

void FormMethodScanner::flushEscape() noexcept
{
    if (_escape == 0) {
        return;
    }
    const bool digit = _escape == 2;
    _escape = 0;
    take('%');
    if (digit) {
        take(_escapeDigit);
    }
}

void FormMethodScanner::takeRaw(char raw) noexcept
{
    switch (raw) {
        case '&':
            endPair();
            return;
        case '%':
            _escape = 1;
            return;
        case '+':
            take(' ');
            return;
        case '=':
            if (!_inValue) {
                endName();
                return;
            }
            break;
        default:
            break;
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
    for (char c : bytes) {
        if (_state == State::Headers) {
            headerByte(c);
            continue;
        }
        while (_matched > 0 && c != _delimiter[_matched]) {
            _matched = _fail[_matched];
        }
        if (c == _delimiter[_matched] && ++_matched == _delimiter.size()) {
            // The rest of the delimiter's line counts as a header line: some parsers read on.
            _matched = 0;
            _state = State::Headers;
            _lineLength = 1;
            std::fill(std::begin(_recent), std::end(_recent), '\0');
        }
    }
}

void MultipartMethodScanner::headerByte(char c) noexcept
{
    std::copy(std::begin(_recent) + 1, std::end(_recent), std::begin(_recent));
    _recent[sizeof _recent - 1] = c;
    if ((_recent[0] == '_' || _recent[0] == '.') && std::string_view(_recent + 1, 6) == "method") {
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
