#pragma once

// A raw HTTP/1.1 client for the transport tests: sends exact bytes (optionally one at a time) and
// reads responses with a strict parser (status line, CRLF-terminated fields, body by
// Content-Length, chunked, or until close), every read bounded by a timeout.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "Sockets.h"

namespace sluice::transport_test {

struct HttpResponse {
    enum class Framing { None, Length, Chunked, Close };

    int versionMinor = 1;
    int status = 0;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    Framing framing = Framing::None;
    std::string raw;  // the response's bytes as received

    std::optional<std::string> header(std::string_view name) const;
    std::size_t headerCount(std::string_view name) const;
    // True when a comma-separated field `name` carries `token` (case-insensitive).
    bool hasToken(std::string_view name, std::string_view token) const;
    // The "code" member of a gateway error body, or -1.
    long long errorCode() const;
};

class RawClient {
public:
    using Duration = std::chrono::milliseconds;

    // Connects to 127.0.0.1:port; throws when refused.
    explicit RawClient(int port);
    // Connects to `ipv4`:port (e.g. "127.0.0.2"); throws when refused.
    RawClient(const std::string& ipv4, int port);
    ~RawClient();
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    bool send(std::string_view bytes);
    // One byte at a time with `gap` between bytes.
    bool sendSlowly(std::string_view bytes, Duration gap);
    void shutdownWrite();

    // Reads the next response (a 1xx interim response is returned on its own). `requestMethod`
    // decides the framing of a HEAD answer. nullopt on timeout, early close or a malformed
    // response; error() says which.
    std::optional<HttpResponse> read(Duration timeout = Duration(5000), std::string_view requestMethod = "GET");
    const std::string& error() const noexcept { return _error; }
    // All bytes received so far (including those of responses already returned).
    const std::string& received() const noexcept { return _received; }

    // Reads until everything received so far contains `needle`; false after `timeout` or a close.
    bool waitFor(std::string_view needle, Duration timeout);

    // True when the server closes the connection (EOF or reset) within `timeout` without sending
    // anything more; `extra` receives unexpected bytes.
    bool waitClosed(Duration timeout, std::string* extra = nullptr);

    // Sends `request` and reads one response.
    std::optional<HttpResponse> exchange(std::string_view request, Duration timeout = Duration(5000));

private:
    enum class Fill { Ok, Closed, Timeout };
    Fill fill(Clock::time_point deadline);
    bool fail(std::string message);

    int _fd = -1;
    std::string _in;        // received, not yet parsed
    std::string _received;  // everything received
    bool _eof = false;
    std::string _error;
};

// "GET <path> HTTP/1.1" with Host and the given extra field lines (each "Name: value").
std::string getRequest(std::string_view path, const std::vector<std::string>& fields = {},
                       std::string_view method = "GET");
// A request with a Content-Length body.
std::string bodyRequest(std::string_view method, std::string_view path, std::string_view body,
                        const std::vector<std::string>& fields = {});

}  // namespace sluice::transport_test
