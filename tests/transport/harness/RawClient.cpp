#include "RawClient.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace sluice::transport_test {

namespace {

constexpr std::size_t kNpos = std::string::npos;

bool isTokenChar(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool allDigits(std::string_view s)
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const
{
    for (const auto& [n, v] : headers) {
        if (equalsIgnoreCase(n, name)) {
            return v;
        }
    }
    return std::nullopt;
}

std::size_t HttpResponse::headerCount(std::string_view name) const
{
    return static_cast<std::size_t>(
        std::count_if(headers.begin(), headers.end(), [&](const auto& h) { return equalsIgnoreCase(h.first, name); }));
}

bool HttpResponse::hasToken(std::string_view name, std::string_view token) const
{
    for (const auto& [n, v] : headers) {
        if (!equalsIgnoreCase(n, name)) {
            continue;
        }
        std::string_view rest(v);
        while (!rest.empty()) {
            std::size_t comma = rest.find(',');
            if (equalsIgnoreCase(trim(rest.substr(0, comma)), token)) {
                return true;
            }
            rest = comma == kNpos ? std::string_view{} : rest.substr(comma + 1);
        }
    }
    return false;
}

long long HttpResponse::errorCode() const
{
    std::size_t at = body.find("\"code\":");
    if (at == kNpos) {
        return -1;
    }
    std::size_t pos = at + 7;
    while (pos < body.size() && body[pos] == ' ') {
        ++pos;
    }
    std::size_t end = pos;
    while (end < body.size() && std::isdigit(static_cast<unsigned char>(body[end])) != 0) {
        ++end;
    }
    return end == pos ? -1 : std::stoll(body.substr(pos, end - pos));
}

RawClient::RawClient(int port) : RawClient("127.0.0.1", port) {}

RawClient::RawClient(const std::string& ipv4, int port)
{
    int error = 0;
    _fd = connectAddress(ipv4, port, error);
    if (_fd < 0) {
        throw std::runtime_error("cannot connect to " + ipv4 + ":" + std::to_string(port) + ": " +
                                 std::strerror(error));
    }
}

RawClient::~RawClient()
{
    if (_fd >= 0) {
        ::close(_fd);
    }
}

bool RawClient::send(std::string_view bytes) { return sendAll(_fd, bytes); }

bool RawClient::sendSlowly(std::string_view bytes, Duration gap)
{
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (!sendAll(_fd, bytes.substr(i, 1))) {
            return false;
        }
        if (i + 1 < bytes.size()) {
            std::this_thread::sleep_for(gap);  // the slowness is the point: a slowloris client
        }
    }
    return true;
}

void RawClient::shutdownWrite() { ::shutdown(_fd, SHUT_WR); }

RawClient::Fill RawClient::fill(Clock::time_point deadline)
{
    if (_eof) {
        return Fill::Closed;
    }
    std::size_t before = _in.size();
    ReadStatus st = readSome(_fd, _in, deadline);
    _received.append(_in, before, kNpos);
    switch (st) {
        case ReadStatus::Data: return Fill::Ok;
        case ReadStatus::Timeout: return Fill::Timeout;
        default: _eof = true; return Fill::Closed;
    }
}

bool RawClient::fail(std::string message)
{
    _error = std::move(message);
    return false;
}

std::optional<HttpResponse> RawClient::read(Duration timeout, std::string_view requestMethod)
{
    _error.clear();
    auto deadline = Clock::now() + timeout;
    auto need = [&](auto&& ready, const char* what) -> bool {
        while (!ready()) {
            Fill f = fill(deadline);
            if (f == Fill::Timeout) {
                return fail(std::string("timed out waiting for ") + what);
            }
            if (f == Fill::Closed && !ready()) {
                return fail(std::string("connection closed before ") + what + " (" + std::to_string(_in.size()) +
                            " unparsed bytes)");
            }
        }
        return true;
    };

    if (!need([&] { return _in.find("\r\n\r\n") != kNpos; }, "the end of the response head")) {
        return std::nullopt;
    }
    std::size_t headEnd = _in.find("\r\n\r\n") + 4;
    std::string head = _in.substr(0, headEnd);
    for (std::size_t i = 0; i < head.size(); ++i) {
        if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) {
            fail("bare LF in the response head");
            return std::nullopt;
        }
    }
    HttpResponse r;
    std::size_t lineEnd = head.find("\r\n");
    std::string_view statusLine(head.data(), lineEnd);
    if (statusLine.size() < 13 || statusLine.substr(0, 7) != "HTTP/1." ||
        (statusLine[7] != '0' && statusLine[7] != '1') || statusLine[8] != ' ' || !allDigits(statusLine.substr(9, 3)) ||
        statusLine[12] != ' ') {
        fail("malformed status line: " + std::string(statusLine));
        return std::nullopt;
    }
    r.versionMinor = statusLine[7] - '0';
    r.status = std::stoi(std::string(statusLine.substr(9, 3)));
    r.reason = std::string(statusLine.substr(13));
    for (std::size_t pos = lineEnd + 2; pos < headEnd - 2;) {
        std::size_t end = head.find("\r\n", pos);
        std::string_view line(head.data() + pos, end - pos);
        std::size_t colon = line.find(':');
        if (colon == kNpos || colon == 0 ||
            !std::all_of(line.begin(), line.begin() + static_cast<long>(colon), isTokenChar)) {
            fail("malformed field line: " + std::string(line));
            return std::nullopt;
        }
        r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
        pos = end + 2;
    }

    bool noBody = (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304 || requestMethod == "HEAD";
    auto te = r.header("Transfer-Encoding");
    auto cl = r.header("Content-Length");
    std::uint64_t length = 0;
    if (noBody) {
        r.framing = HttpResponse::Framing::None;
    } else if (te) {
        if (!equalsIgnoreCase(*te, "chunked") || cl || r.headerCount("Transfer-Encoding") != 1) {
            fail("unexpected framing: Transfer-Encoding '" + *te + "'" + (cl ? " with Content-Length" : ""));
            return std::nullopt;
        }
        r.framing = HttpResponse::Framing::Chunked;
    } else if (cl) {
        if (!allDigits(*cl) || r.headerCount("Content-Length") != 1) {
            fail("bad Content-Length: " + *cl);
            return std::nullopt;
        }
        r.framing = HttpResponse::Framing::Length;
        length = std::stoull(*cl);
    } else {
        r.framing = HttpResponse::Framing::Close;
    }
    if (noBody && cl && !allDigits(*cl)) {
        fail("bad Content-Length: " + *cl);
        return std::nullopt;
    }
    _in.erase(0, headEnd);
    r.raw = head;

    switch (r.framing) {
        case HttpResponse::Framing::None: break;
        case HttpResponse::Framing::Length:
            if (!need([&] { return _in.size() >= length; }, "the end of a Content-Length body")) {
                r.raw += _in;
                return std::nullopt;
            }
            r.body = _in.substr(0, length);
            r.raw += r.body;
            _in.erase(0, length);
            break;
        case HttpResponse::Framing::Close:
            while (fill(deadline) == Fill::Ok) {
            }
            if (!_eof) {
                fail("timed out waiting for the end of a close-delimited body");
                return std::nullopt;
            }
            r.body = std::move(_in);
            r.raw += r.body;
            _in.clear();
            break;
        case HttpResponse::Framing::Chunked:
            for (;;) {
                if (!need([&] { return _in.find("\r\n") != kNpos; }, "a chunk-size line")) {
                    return std::nullopt;
                }
                std::size_t end = _in.find("\r\n");
                std::string sizeText = _in.substr(0, _in.find_first_of(";\r"));
                if (sizeText.empty() || sizeText.size() > 16 ||
                    !std::all_of(sizeText.begin(), sizeText.end(),
                                 [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; })) {
                    fail("malformed chunk-size line: " + _in.substr(0, end));
                    return std::nullopt;
                }
                std::size_t size = std::stoull(sizeText, nullptr, 16);
                r.raw += _in.substr(0, end + 2);
                _in.erase(0, end + 2);
                if (size == 0) {
                    for (;;) {  // trailer fields, then the empty line
                        if (!need([&] { return _in.find("\r\n") != kNpos; }, "the end of the trailers")) {
                            return std::nullopt;
                        }
                        std::size_t lineLength = _in.find("\r\n");
                        r.raw += _in.substr(0, lineLength + 2);
                        _in.erase(0, lineLength + 2);
                        if (lineLength == 0) {
                            break;
                        }
                    }
                    break;
                }
                if (!need([&] { return _in.size() >= size + 2; }, "the end of a chunk")) {
                    return std::nullopt;
                }
                if (_in.compare(size, 2, "\r\n") != 0) {
                    fail("chunk data not followed by CRLF");
                    return std::nullopt;
                }
                r.body.append(_in, 0, size);
                r.raw += _in.substr(0, size + 2);
                _in.erase(0, size + 2);
            }
            break;
    }
    return r;
}

bool RawClient::waitFor(std::string_view needle, Duration timeout)
{
    auto deadline = Clock::now() + timeout;
    while (_received.find(needle) == kNpos) {
        if (fill(deadline) != Fill::Ok) {
            return false;
        }
    }
    return true;
}

bool RawClient::waitClosed(Duration timeout, std::string* extra)
{
    auto deadline = Clock::now() + timeout;
    while (!_eof) {
        if (fill(deadline) == Fill::Timeout) {
            return false;
        }
    }
    if (extra != nullptr) {
        *extra = _in;
    }
    return _in.empty();
}

std::optional<HttpResponse> RawClient::exchange(std::string_view request, Duration timeout)
{
    if (!send(request)) {
        _error = "send failed";
        return std::nullopt;
    }
    std::string_view method = request.substr(0, request.find(' '));
    return read(timeout, method);
}

std::string getRequest(std::string_view path, const std::vector<std::string>& fields, std::string_view method)
{
    std::string text = std::string(method) + " " + std::string(path) + " HTTP/1.1\r\nHost: gateway.test\r\n";
    for (const auto& f : fields) {
        text += f + "\r\n";
    }
    return text + "\r\n";
}

std::string bodyRequest(std::string_view method, std::string_view path, std::string_view body,
                        const std::vector<std::string>& fields)
{
    std::string text = std::string(method) + " " + std::string(path) +
                       " HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    for (const auto& f : fields) {
        text += f + "\r\n";
    }
    return text + "\r\n" + std::string(body);
}

}  // namespace sluice::transport_test
