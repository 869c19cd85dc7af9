#pragma once

// What the parts of HttpConnection (HttpConnection.cpp, HttpConnectionProxy.cpp,
// HttpConnectionMethodOverride.cpp) share: limits, error codes, messages and small writers.
// Internal to the transport; included only by those files.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/runtime/Exchange.h"
#include "sluice/runtime/http/HttpParser.h"

namespace sluice::runtime::transport::connection {

// Exchanges of connections that went idle, kept per worker thread for the next request of any
// connection: an idle keep-alive connection holds none (10,000 idle clients must cost little),
// and a busy one takes a warm one (its vectors and strings keep their capacity) without malloc.
inline constexpr std::size_t kSpareExchanges = 256;
// A spare exchange keeps body buffers up to this capacity for reuse; larger ones are freed. Small:
// after a spike of long held bodies the spares would otherwise keep 256 of them per worker.
inline constexpr std::size_t kKeptBodyCapacity = 16 * 1024;

inline std::vector<std::unique_ptr<Exchange>>& spareExchanges()
{
    thread_local std::vector<std::unique_ptr<Exchange>> spare;
    return spare;
}

inline constexpr std::size_t kReadChunk = 32 * 1024;
inline constexpr std::size_t kGatherBytes = 64 * 1024;  // request body bytes read ahead into the input buffer, at most
// Request bodies with a Content-Length go from the client's socket to the backend's through one
// per-thread block (no copy unless the backend's socket is full): at most this much per read.
inline constexpr std::size_t kBodyBlock = 128 * 1024;

inline char* bodyBlock()
{
    thread_local std::unique_ptr<char[]> block(new char[kBodyBlock]);
    return block.get();  // NOLINT(clang-analyzer-cplusplus.NewDelete): the analyzer loses the thread_local owner
}
inline constexpr std::size_t kHighWatermark = 256 * 1024;
// Pipelined requests answered without a backend in one go before the connection yields.
inline constexpr std::size_t kAnsweredPerTurn = 32;
// Moves to the next address of an endpoint's host name, per exchange, after connect failures.
inline constexpr std::uint8_t kMaxAddressMoves = 8;
// Lingering close after an answer with input still arriving: at most this long in all, closed
// earlier when the client is silent for kLingerIdleMs; reads per loop iteration are bounded.
inline constexpr int kLingerTotalMs = 5000;
inline constexpr int kLingerIdleMs = 1000;
inline constexpr std::size_t kLingerReadBytes = 256 * 1024;

// nginx's status for an exchange its client abandoned; only ever logged, never sent.
inline constexpr int kClientClosedRequest = 499;

// Stable error codes of the gateway's own responses (README, "Errors").
inline constexpr std::int64_t kBadRequest = 101400;
inline constexpr std::int64_t kRequestTimeout = 101408;
inline constexpr std::int64_t kTooLarge = 101413;
inline constexpr std::int64_t kUriTooLong = 101414;
inline constexpr std::int64_t kUnsupportedMediaType = 101415;
inline constexpr std::int64_t kInternal = 101500;
inline constexpr std::int64_t kBackendUnreachable = 101503;
inline constexpr std::int64_t kBackendTimeout = 101504;
inline constexpr std::int64_t kBackendBadResponse = 101502;
inline constexpr std::int64_t kNoEndpoint = 101507;
inline constexpr std::int64_t kNoLocalResources = 101508;
inline constexpr auto kLocalFailureLogEvery = std::chrono::seconds(10);
inline constexpr std::int64_t kNoResource = 900906;
inline constexpr std::int64_t kMethodNotAllowed = 900907;

inline constexpr std::string_view kFormOverrideRefused =
    "A _method parameter in a form body (or a JSON one) is not accepted: send the request with the method itself.";
inline constexpr std::string_view kFormTypeRefused =
    "A POST body needs one Content-Type, in ASCII, and a multipart one exactly one boundary of at most 200 "
    "characters.";
inline constexpr std::string_view kFormCharsetRefused =
    "A form body (or a JSON one) in this charset is not accepted: send it in UTF-8 (or another ASCII-compatible "
    "charset).";
inline constexpr std::string_view kFormOrJsonRefused =
    "A POST body's Content-Type names a form and JSON at once: send one of them.";
inline constexpr std::string_view kEncodedFormRefused =
    "A form or JSON body is not accepted with a Content-Encoding: send it uncompressed.";

using http::fieldNameEquals;

// Every answer has one Date: the first that says something; a second one, or an empty one, is
// left out (and the gateway's written when none was kept).
class OneDate {
public:
    // True for a Date field to leave out.
    bool extra(std::string_view name, std::string_view value) noexcept
    {
        if (!fieldNameEquals(name, "date")) {
            return false;
        }
        if (_seen || value.find_first_not_of(" \t") == std::string_view::npos) {
            return true;
        }
        _seen = true;
        return false;
    }
    bool seen() const noexcept { return _seen; }

private:
    bool _seen = false;
};

// One append per field line of usual size (four appends cost about twice as many instructions).
inline void appendHeader(std::string& out, std::string_view name, std::string_view value)
{
    char line[256];
    const std::size_t length = name.size() + value.size() + 4;
    if (length > sizeof line) {
        out.append(name);
        out.append(": ");
        out.append(value);
        out.append("\r\n");
        return;
    }
    char* p = line;
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = ':';
    *p++ = ' ';
    if (!value.empty()) {  // an empty view may have no data pointer
        std::memcpy(p, value.data(), value.size());
        p += value.size();
    }
    *p++ = '\r';
    *p = '\n';
    out.append(line, length);
}

inline void appendHex(std::string& out, std::size_t n)
{
    char buf[20];
    int len = std::snprintf(buf, sizeof buf, "%zx\r\n", n);
    out.append(buf, static_cast<std::size_t>(len));
}

}  // namespace sluice::runtime::transport::connection
