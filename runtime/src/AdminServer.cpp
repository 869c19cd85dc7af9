#include "sluice/runtime/AdminServer.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <strings.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/Net/TCPServerParams.h>

#include "sluice/runtime/HostApi.h"
#include "sluice/runtime/http/HttpParser.h"

namespace sluice::runtime {

namespace {

using Clock = std::chrono::steady_clock;

// A client has this long for its whole request, however it trickles it in; then it is dropped.
constexpr auto kRequestDeadline = std::chrono::seconds(5);
constexpr auto kPollSlice = std::chrono::milliseconds(100);  // how soon a stop is noticed
constexpr int kThreads = 4;

// Admin requests are one short line and a few fields.
http::ParseLimits adminLimits()
{
    http::ParseLimits limits;
    limits.maxRequestLine = 1024;
    limits.maxHeaderBytes = 8 * 1024;
    limits.maxHeaderCount = 32;
    return limits;
}

struct Answer {
    int status = 200;
    std::string body;
    std::string allow;  // the Allow field of a 405
    bool challenge = false;  // a 401: WWW-Authenticate
};

std::string sha256(std::string_view text)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
    return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

// Whether the request carries "Authorization: Bearer <token>" with the token whose digest is
// `expected`. Digests of equal length compared in constant time: neither the token's length nor
// its prefix leaks through timing.
bool bearerMatches(const http::HeaderField* authorization, const std::string& expected)
{
    if (authorization == nullptr) {
        return false;
    }
    constexpr std::string_view kScheme = "bearer ";
    const std::string_view value = authorization->value;
    if (value.size() <= kScheme.size() || ::strncasecmp(value.data(), kScheme.data(), kScheme.size()) != 0) {
        return false;
    }
    const std::string given = sha256(value.substr(kScheme.size()));
    return given.size() == expected.size() && CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

Answer refused(int status, std::string_view why)
{
    const std::string& reason = Poco::Net::HTTPResponse::getReasonForStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
    return Answer{status, errorBody(101000 + status, reason, why), {}};
}

const http::HeaderField* field(const http::RequestHead& head, std::string_view name)
{
    for (const auto& h : head.headers) {
        if (http::fieldNameEquals(h.name, name)) {
            return &h;
        }
    }
    return nullptr;
}

// The Host a request to the admin endpoint may name: a loopback name or the address it listens
// on, with or without its port. Anything else is a request a browser was made to send (DNS
// rebinding: a page whose name now resolves to 127.0.0.1).
bool hostAllowed(std::string_view host, const std::string& bound, int port)
{
    const std::string suffix = ":" + std::to_string(port);
    std::string_view name = host;
    if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix) {
        name.remove_suffix(suffix.size());
    }
    return name == "127.0.0.1" || name == "localhost" || name == "[::1]" || name == bound ||
           (bound.find(':') != std::string::npos && name == "[" + bound + "]");
}

// Why a parsed request is refused before it is routed, or nothing. Without a token the admin
// endpoint relies on listening on loopback, so it refuses what only a browser steered by another
// site would send (with a token too), requests without the token when there is one, and anything
// with a body. (The parser already refused what the data plane refuses: other HTTP versions,
// HTTP/1.1 without Host, ambiguous framing.)
std::optional<Answer> refusal(const http::RequestHead& head, const AdminServer::Shared& shared)
{
    if (field(head, "Host") != nullptr && !hostAllowed(head.host, shared.bound, shared.port)) {
        return refused(403, "Host must name this loopback endpoint");
    }
    if (field(head, "Origin") != nullptr) {
        return refused(403, "requests from web pages are refused");
    }
    if (!shared.tokenDigest.empty() && !bearerMatches(field(head, "Authorization"), shared.tokenDigest)) {
        Answer answer{401, errorBody(900901, "Invalid Credentials", "admin requests need 'Authorization: Bearer <token>'"),
                      {}, true};
        return answer;
    }
    if (head.framing == http::BodyFraming::Chunked ||
        (head.framing == http::BodyFraming::ContentLength && head.contentLength != 0)) {
        return refused(400, "admin requests take no body");
    }
    return std::nullopt;
}

Answer route(const http::RequestHead& head, const AdminServer::Hooks& hooks)
{
    // The path, whatever the form of the target (origin or absolute) and the query.
    if (head.path == "/status") {
        if (head.method != "GET") {
            return Answer{405, errorBody(900907, "Method Not Allowed", "use GET"), "GET"};
        }
        return Answer{200, hooks.status(), {}};
    }
    if (head.path == "/reload") {
        if (head.method != "POST") {
            return Answer{405, errorBody(900907, "Method Not Allowed", "use POST"), "POST"};
        }
        auto [ok, json] = hooks.reload();
        return Answer{ok ? 200 : 422, std::move(json), {}};
    }
    return Answer{404, errorBody(900906, "Not Found", "admin resources: /status, /reload"), {}};
}

// One request per connection, read under one deadline for the whole request (a per-read timeout
// would let a client that sends a byte now and then hold a thread for ever), parsed by the data
// plane's strict parser, answered, closed.
class Connection final : public Poco::Net::TCPServerConnection {
public:
    Connection(const Poco::Net::StreamSocket& socket, const AdminServer::Shared& shared)
        : TCPServerConnection(socket), _shared(shared)
    {
    }

    void run() override
    {
        std::optional<Answer> answer;
        try {
            answer = read();
        } catch (const Poco::Exception&) {
            return;  // the client went away: nothing to tell it
        }
        if (!answer) {
            try {
                answer = route(_head, _shared.hooks);
            } catch (const std::exception&) {
                answer = refused(500, "the admin request failed");
            }
        }
        try {
            reply(*answer);
        } catch (const Poco::Exception&) {
            // the client stopped reading
        }
    }

private:
    // Reads the request into _head: nothing when it is one to route, else the refusal to send.
    // The refusal of a client that sent nothing, or left, is a bare close (an empty body).
    std::optional<Answer> read()
    {
        Poco::Net::StreamSocket& s = socket();
        const Clock::time_point deadline = Clock::now() + kRequestDeadline;
        const http::ParseLimits limits = adminLimits();
        while (true) {
            if (_shared.stopping) {
                return Answer{};
            }
            const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
            if (left.count() <= 0) {
                return _input.empty() ? Answer{} : refused(408, "the request took too long");
            }
            const auto slice = std::min<std::chrono::microseconds>(left, kPollSlice);
            if (!s.poll(Poco::Timespan(slice.count()), Poco::Net::Socket::SELECT_READ)) {
                continue;
            }
            char buffer[2048];
            const int n = s.receiveBytes(buffer, sizeof buffer);
            if (n <= 0) {
                return Answer{};  // closed before a whole request
            }
            _input.append(buffer, static_cast<std::size_t>(n));
            const http::ParseResult parsed = http::parseRequestHead(_input, limits, _head);
            if (parsed.status == http::ParseStatus::Error) {
                return refused(parsed.httpStatus, parsed.reason);
            }
            if (parsed.status == http::ParseStatus::Complete) {
                _complete = true;
                return refusal(_head, _shared);
            }
        }
    }

    void reply(const Answer& answer)
    {
        if (answer.body.empty()) {
            return;
        }
        const auto status = static_cast<Poco::Net::HTTPResponse::HTTPStatus>(answer.status);
        std::string out = "HTTP/1.1 " + std::to_string(answer.status) + " " +
                          Poco::Net::HTTPResponse::getReasonForStatus(status) + "\r\n";
        out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(answer.body.size()) + "\r\n";
        if (!answer.allow.empty()) {
            out += "Allow: " + answer.allow + "\r\n";
        }
        if (answer.challenge) {
            out += "WWW-Authenticate: Bearer realm=\"sluice-admin\"\r\n";
        }
        out += "Connection: close\r\nCache-Control: no-store\r\n\r\n";
        out += answer.body;
        Poco::Net::StreamSocket& s = socket();
        s.setSendTimeout(Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(kRequestDeadline).count()));
        s.sendBytes(out.data(), static_cast<int>(out.size()));
        s.shutdownSend();
        if (_complete && _input.size() == _head.headLength) {
            return;  // all it sent was read: closing sends no reset
        }
        // Read what the client still sends for a moment before closing, so that a close with
        // unread input (a reset) does not destroy the answer before the client reads it.
        const Clock::time_point until = Clock::now() + std::chrono::milliseconds(500);
        char sink[4096];
        std::size_t drained = 0;
        while (drained < 64 * 1024 && Clock::now() < until &&
               s.poll(Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(until - Clock::now()).count()),
                      Poco::Net::Socket::SELECT_READ)) {
            const int n = s.receiveBytes(sink, sizeof sink);
            if (n <= 0) {
                break;
            }
            drained += static_cast<std::size_t>(n);
        }
    }

    const AdminServer::Shared& _shared;
    std::string _input;
    http::RequestHead _head;  // views into _input
    bool _complete = false;   // _head holds a whole request
};

class Factory final : public Poco::Net::TCPServerConnectionFactory {
public:
    explicit Factory(const AdminServer::Shared& shared) : _shared(shared) {}
    Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override
    {
        return new Connection(socket, _shared);
    }

private:
    const AdminServer::Shared& _shared;
};

}  // namespace

AdminServer::AdminServer(const std::string& host, int port, Hooks hooks, const std::string& token)
{
    if (!token.empty()) {
        _shared.tokenDigest = sha256(token);
    }
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress(host, static_cast<Poco::UInt16>(port)), 64);
    _shared.hooks = std::move(hooks);
    _shared.bound = host;
    _shared.port = socket.address().port();
    auto* params = new Poco::Net::TCPServerParams;
    params->setMaxThreads(kThreads);
    params->setMaxQueued(16);
    _server = std::make_unique<Poco::Net::TCPServer>(new Factory(_shared), socket, params);
    _server->start();
}

AdminServer::~AdminServer()
{
    // Stop accepting, then wait for the connections being served: their hooks call into the
    // gateway, which must outlive them. A reading connection notices the stop within kPollSlice.
    _shared.stopping = true;
    _server->stop();
    const Clock::time_point limit = Clock::now() + kRequestDeadline * 2;
    while (_server->currentConnections() > 0 && Clock::now() < limit) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

std::string AdminServer::readTokenFile(const std::string& path)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        throw std::runtime_error("admin.token_file " + path + ": not a readable regular file");
    }
    if ((st.st_mode & 077) != 0) {
        throw std::runtime_error("admin.token_file " + path + ": group or others may access it; chmod 600 it");
    }
    std::ifstream in(path);
    std::string token;
    if (!in || !std::getline(in, token)) {
        throw std::runtime_error("admin.token_file " + path + ": cannot be read");
    }
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) {
        token.pop_back();
    }
    constexpr std::size_t kMinToken = 16;
    if (token.size() < kMinToken) {
        throw std::runtime_error("admin.token_file " + path + ": the token on its first line is shorter than 16 characters");
    }
    return token;
}

}  // namespace sluice::runtime
