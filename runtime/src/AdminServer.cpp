#include "sluice/runtime/AdminServer.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <poll.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/ServerSocket.h>

#include "sluice/runtime/HostApi.h"
#include "sluice/runtime/Logging.h"
#include "sluice/runtime/http/HttpParser.h"
#include "sluice/runtime/transport/HttpDate.h"
#include "sluice/runtime/transport/Net.h"

namespace sluice::runtime {

namespace {

using Clock = std::chrono::steady_clock;

// A client has this long for its whole request, however it trickles it in; then it is dropped.
constexpr auto kRequestDeadline = std::chrono::seconds(5);
constexpr auto kPollSlice = std::chrono::milliseconds(100);  // how soon a stop is noticed
constexpr auto kDrain = std::chrono::milliseconds(500);      // reading what follows an answered request
constexpr std::size_t kMaxConnections = 64;
constexpr std::size_t kMaxInput = 16 * 1024;               // more than the parser's limits let a request head have
constexpr auto kRefusalLogGap = std::chrono::seconds(10);  // at most one line per gap about refused tokens

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
    std::string allow;       // the Allow field of a 405
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
    const std::string& reason =
        Poco::Net::HTTPResponse::getReasonForStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
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
    // Host names compare without regard to case (RFC 9110 section 4.2.3): LOCALHOST is localhost.
    constexpr auto same = &http::fieldNameEquals;  // ASCII, case-insensitive
    return same(name, "127.0.0.1") || same(name, "localhost") || same(name, "[::1]") || same(name, bound) ||
           (bound.find(':') != std::string::npos && same(name, "[" + bound + "]"));
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
    const std::size_t authorizations = static_cast<std::size_t>(
        std::count_if(head.headers.begin(), head.headers.end(),
                      [](const http::HeaderField& h) { return http::fieldNameEquals(h.name, "Authorization"); }));
    if (authorizations > 1) {
        return refused(400, "more than one Authorization field");  // which one a proxy before it checked is unknown
    }
    if (const std::string digest = shared.tokenDigest();
        !digest.empty() && !bearerMatches(field(head, "Authorization"), digest)) {
        Answer answer{401,
                      errorBody(900901, "Invalid Credentials", "admin requests need 'Authorization: Bearer <token>'"),
                      {},
                      true};
        return answer;
    }
    if (head.framing == http::BodyFraming::Chunked ||
        (head.framing == http::BodyFraming::ContentLength && head.contentLength != 0)) {
        return refused(400, "admin requests take no body");
    }
    return std::nullopt;
}

bool isReload(const http::RequestHead& head) { return head.path == "/reload" && head.method == "POST"; }

// The answer to every request but POST /reload, which waits for the reload it starts.
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
        return Answer{405, errorBody(900907, "Method Not Allowed", "use POST"), "POST"};
    }
    return Answer{404, errorBody(900906, "Not Found", "admin resources: /status, /reload"), {}};
}

std::string responseText(const Answer& answer)
{
    const auto status = static_cast<Poco::Net::HTTPResponse::HTTPStatus>(answer.status);
    std::string out = "HTTP/1.1 " + std::to_string(answer.status) + " " +
                      Poco::Net::HTTPResponse::getReasonForStatus(status) + "\r\n";
    out += "Date: " + std::string(transport::httpDateNow()) + "\r\n";
    out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(answer.body.size()) + "\r\n";
    if (!answer.allow.empty()) {
        out += "Allow: " + answer.allow + "\r\n";
    }
    if (answer.challenge) {
        out += "WWW-Authenticate: Bearer realm=\"sluice-admin\"\r\n";
    }
    out += "Connection: close\r\nCache-Control: no-store\r\n\r\n";
    out += answer.body;
    return out;
}

// One request per connection, read under one deadline for the whole request (a per-read timeout
// would let a client that sends a byte now and then hold it for ever), parsed by the data plane's
// strict parser, answered, closed. All connections share one thread and one poll() loop, so a
// client that sends nothing, or trickles, holds up nobody; the status hook runs on that thread,
// and a reload elsewhere while its connection waits.
struct Connection {
    enum class State { Reading, Waiting, Writing, Draining };

    int fd = -1;
    std::string peer;  // the client's address, for the log
    State state = State::Reading;
    Clock::time_point deadline;  // for the whole request, then for the answer to go out
    std::uint64_t ticket = 0;    // Waiting: the reload whose result it answers with
    std::string input;
    std::string output;
    std::size_t sent = 0;
    bool inputLeft = false;  // the client sent more than the request: drain it before closing
};

// Reads what the socket has. Returns false when the client closed or failed.
bool readInto(int fd, std::string& input)
{
    char buffer[2048];
    while (input.size() < kMaxInput) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n > 0) {
            input.append(buffer, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        return false;
    }
    return true;
}

}  // namespace

// Reloads finish on another thread, which posts their answers here for the serving thread. The
// eventfd that wakes it belongs to the mailbox, so a reload that ends after the server is gone
// writes to a descriptor nobody else has been given.
class AdminServer::Mailbox {
public:
    struct Finished {
        std::uint64_t ticket;
        Answer answer;
    };

    Mailbox() : _fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC))
    {
        if (_fd < 0) {
            throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
        }
    }
    ~Mailbox() { ::close(_fd); }
    Mailbox(const Mailbox&) = delete;
    Mailbox& operator=(const Mailbox&) = delete;

    int fd() const noexcept { return _fd; }

    void post(std::uint64_t ticket, Answer answer)
    {
        {
            std::lock_guard<std::mutex> lock(_mutex);
            _finished.push_back({ticket, std::move(answer)});
        }
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(_fd, &one, sizeof one);  // fails only when it is already readable
    }

    std::vector<Finished> take()
    {
        std::uint64_t count = 0;
        [[maybe_unused]] const ssize_t n = ::read(_fd, &count, sizeof count);
        std::lock_guard<std::mutex> lock(_mutex);
        return std::exchange(_finished, {});
    }

private:
    const int _fd;
    std::mutex _mutex;
    std::vector<Finished> _finished;  // guarded by _mutex
};

class AdminServer::Loop {
public:
    Loop(int listener, Shared& shared, std::shared_ptr<Mailbox> mailbox)
        : _listener(listener), _shared(shared), _mailbox(std::move(mailbox))
    {
    }
    ~Loop()
    {
        for (auto& c : _connections) {
            close(*c);
        }
    }
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    void run();

private:
    void accept();
    void expire(Clock::time_point now);
    void serve(Connection& c);
    void startReload(Connection& c);
    void deliverReloads();
    void answer(Connection& c, const Answer& a);
    void noteRefusedToken(const Connection& c, bool tokenGiven);
    void write(Connection& c);
    static void close(Connection& c);
    void dropClosed();

    int _listener;
    Shared& _shared;
    const std::shared_ptr<Mailbox> _mailbox;
    std::uint64_t _tickets = 0;
    Clock::time_point _refusalLogged;                       // the last line about a refused token
    std::size_t _refusalsUnlogged = 0;                      // refused since then
    std::vector<std::unique_ptr<Connection>> _connections;  // oldest first
    Clock::time_point _acceptAfter;                         // out of descriptors: not before then
};

AdminServer::AdminServer(const std::string& host, int port, Hooks hooks, const std::string& token)
{
    setToken(token);
    _mailbox = std::make_shared<Mailbox>();
    // Without SO_REUSEPORT (which ServerSocket's constructor sets along with SO_REUSEADDR): a
    // port a listener of this gateway or another program holds is an error, not a port whose
    // connections the kernel spreads over both.
    _socket = std::make_unique<Poco::Net::ServerSocket>();
    try {
        _socket->bind(Poco::Net::SocketAddress(host, static_cast<Poco::UInt16>(port)), true, false);
        _socket->listen(64);
    } catch (const Poco::Exception& e) {
        throw std::runtime_error(e.displayText());
    }
    _socket->setBlocking(false);
    _shared.hooks = std::move(hooks);
    _shared.bound = host;
    _shared.port = _socket->address().port();
    _loop = std::make_unique<Loop>(_socket->impl()->sockfd(), _shared, _mailbox);
    _thread = std::thread([this] { _loop->run(); });
}

AdminServer::~AdminServer()
{
    // The status hook calls into the gateway, which must outlive it: the loop ends (within
    // kPollSlice) before the server is gone. A reload still running posts to the mailbox it keeps.
    _shared.stopping = true;
    _thread.join();
}

void AdminServer::Loop::run()
{
    std::vector<pollfd> polled;
    while (!_shared.stopping) {
        const Clock::time_point now = Clock::now();
        expire(now);
        polled.clear();
        polled.push_back({_listener, static_cast<short>(now < _acceptAfter ? 0 : POLLIN), 0});
        polled.push_back({_mailbox->fd(), POLLIN, 0});
        constexpr std::size_t kFirstConnection = 2;
        Clock::time_point wake = now + kPollSlice;
        for (const auto& c : _connections) {
            // A connection waiting for its reload is not read meanwhile (what it sends more is
            // drained after the answer).
            const short events = c->state == Connection::State::Writing   ? POLLOUT
                                 : c->state == Connection::State::Waiting ? 0
                                                                          : POLLIN;
            polled.push_back({c->fd, events, 0});
            wake = std::min(wake, c->deadline);
        }
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count();
        const int ready = ::poll(polled.data(), polled.size(), static_cast<int>(std::max<long long>(wait, 0) + 1));
        if (ready <= 0) {
            continue;
        }
        // Connections first (accepting may close the oldest to make room, which would shift them).
        for (std::size_t i = polled.size() - 1; i >= kFirstConnection; --i) {
            Connection& c = *_connections[i - kFirstConnection];
            if (c.state == Connection::State::Waiting) {
                if ((polled[i].revents & (POLLERR | POLLHUP)) != 0) {
                    close(c);  // gone: its reload goes on, unanswered
                }
            } else if (polled[i].revents != 0) {
                serve(c);
            }
        }
        if (polled[1].revents != 0) {
            deliverReloads();
        }
        dropClosed();
        if (polled[0].revents != 0) {
            accept();
        }
    }
    // Stopping: the answers posted last (a reload not done for the shutdown) go out if the
    // sockets take them now; nothing is waited for.
    deliverReloads();
}

void AdminServer::Loop::accept()
{
    while (true) {
        transport::Address peer;
        peer.length = sizeof peer.storage;
        const int fd = ::accept4(_listener, peer.sockaddrPtr(), &peer.length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // The backlog keeps the rest; the listener stays readable, so leave it alone for
                // a moment rather than spin on it.
                _acceptAfter = Clock::now() + kPollSlice;
            }
            return;
        }
        if (_connections.size() >= kMaxConnections) {
            // Make room: the oldest that is still reading its request goes (a client that sends
            // nothing cannot keep others out longer than it takes newer ones to come), else the
            // oldest waiting for a reload (which goes on, unanswered): requests for reloads,
            // or clients that asked for one and left, do not keep /status out.
            auto oldest = std::find_if(
                _connections.begin(), _connections.end(),
                [](const std::unique_ptr<Connection>& c) { return c->state == Connection::State::Reading; });
            if (oldest == _connections.end()) {
                oldest = std::find_if(
                    _connections.begin(), _connections.end(),
                    [](const std::unique_ptr<Connection>& c) { return c->state == Connection::State::Waiting; });
            }
            if (oldest == _connections.end()) {
                ::close(fd);  // all are answering: this one may try again
                continue;
            }
            ::close((*oldest)->fd);
            _connections.erase(oldest);
        }
        auto c = std::make_unique<Connection>();
        c->fd = fd;
        c->peer = peer.ip();
        c->deadline = Clock::now() + kRequestDeadline;
        _connections.push_back(std::move(c));
    }
}

void AdminServer::Loop::expire(Clock::time_point now)
{
    for (auto& c : _connections) {
        if (now < c->deadline) {
            continue;
        }
        if (c->state != Connection::State::Draining) {
            // What came while the thread was held up (by the status hook, on a busy machine)
            // counts: read or write once more before judging.
            serve(*c);
            if (c->fd < 0 || Clock::now() < c->deadline) {
                continue;  // closed, or answered (a new deadline for the answer)
            }
        }
        if (c->state == Connection::State::Reading && !c->input.empty()) {
            c->inputLeft = true;
            answer(*c, refused(408, "the request took too long"));
        } else {
            close(*c);
        }
    }
    dropClosed();
}

void AdminServer::Loop::serve(Connection& c)
{
    switch (c.state) {
        case Connection::State::Reading: {
            const bool open = readInto(c.fd, c.input);
            http::RequestHead head;
            const http::ParseResult parsed = http::parseRequestHead(c.input, adminLimits(), head);
            if (parsed.status == http::ParseStatus::Error) {
                c.inputLeft = true;
                answer(c, refused(parsed.httpStatus, parsed.reason));
            } else if (parsed.status == http::ParseStatus::Complete) {
                c.inputLeft = c.input.size() != head.headLength;
                std::optional<Answer> refusedAnswer = refusal(head, _shared);
                if (refusedAnswer) {
                    if (refusedAnswer->challenge) {
                        noteRefusedToken(c, field(head, "Authorization") != nullptr);
                    }
                    answer(c, *refusedAnswer);
                } else if (isReload(head)) {
                    startReload(c);
                } else {
                    try {
                        answer(c, route(head, _shared.hooks));
                    } catch (const std::exception&) {
                        answer(c, refused(500, "the admin request failed"));
                    }
                }
            } else if (!open || c.input.size() >= kMaxInput) {
                close(c);  // gone before a whole request (the parser bounds what it waits for)
            }
            return;
        }
        case Connection::State::Waiting: return;  // answered by deliverReloads()
        case Connection::State::Writing: write(c); return;
        case Connection::State::Draining: {
            // Read what the client still sends for a moment before closing, so that a close with
            // unread input (a reset) does not destroy the answer before the client reads it.
            std::string sink;
            if (!readInto(c.fd, sink) || sink.empty()) {
                close(c);
            }
            return;
        }
    }
}

// A request without the right token may be someone trying tokens: the log says so, with the
// client's address (never what it sent), at most once per kRefusalLogGap with a count of the
// others, so that a flood of them does not flood the log.
void AdminServer::Loop::noteRefusedToken(const Connection& c, bool tokenGiven)
{
    const Clock::time_point now = Clock::now();
    if (_refusalLogged != Clock::time_point() && now - _refusalLogged < kRefusalLogGap) {
        ++_refusalsUnlogged;
        return;
    }
    Logging::get("admin")->warn(
        "admin request from {} refused: {}{}", c.peer, tokenGiven ? "wrong bearer token" : "no bearer token",
        _refusalsUnlogged == 0 ? std::string()
                               : "; " + std::to_string(_refusalsUnlogged) + " more refused since the last message");
    _refusalLogged = now;
    _refusalsUnlogged = 0;
}

void AdminServer::Loop::startReload(Connection& c)
{
    c.state = Connection::State::Waiting;
    c.ticket = ++_tickets;
    c.deadline = Clock::time_point::max();  // a reload takes what it takes; SIGHUP would too
    try {
        _shared.hooks.reload([mailbox = _mailbox, ticket = c.ticket](int status, std::string json) {
            mailbox->post(ticket, Answer{status, std::move(json), {}});
        });
    } catch (const std::exception&) {
        answer(c, refused(500, "the admin request failed"));
    }
}

void AdminServer::Loop::deliverReloads()
{
    for (auto& finished : _mailbox->take()) {
        for (auto& c : _connections) {
            if (c->fd >= 0 && c->state == Connection::State::Waiting && c->ticket == finished.ticket) {
                answer(*c, finished.answer);
            }
        }
    }
}

void AdminServer::Loop::answer(Connection& c, const Answer& a)
{
    if (a.body.empty()) {
        close(c);  // a bare close: nothing to tell a client that sent nothing, or left
        return;
    }
    c.output = responseText(a);
    c.sent = 0;
    c.state = Connection::State::Writing;
    c.deadline = Clock::now() + kRequestDeadline;  // for the answer to go out
    write(c);
}

void AdminServer::Loop::write(Connection& c)
{
    while (c.sent < c.output.size()) {
        const ssize_t n = ::send(c.fd, c.output.data() + c.sent, c.output.size() - c.sent, MSG_NOSIGNAL);
        if (n > 0) {
            c.sent += static_cast<std::size_t>(n);
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;  // POLLOUT brings the rest, before the deadline
        } else if (!(n < 0 && errno == EINTR)) {
            close(c);
            return;
        }
    }
    ::shutdown(c.fd, SHUT_WR);
    if (!c.inputLeft) {
        close(c);  // all it sent was read: closing sends no reset
        return;
    }
    c.state = Connection::State::Draining;
    c.deadline = std::min(c.deadline, Clock::now() + kDrain);
}

void AdminServer::Loop::dropClosed()
{
    _connections.erase(std::remove_if(_connections.begin(), _connections.end(),
                                      [](const std::unique_ptr<Connection>& c) { return c->fd < 0; }),
                       _connections.end());
}

void AdminServer::Loop::close(Connection& c)
{
    if (c.fd >= 0) {
        ::close(c.fd);
        c.fd = -1;
    }
}

bool AdminServer::setToken(const std::string& token)
{
    std::string digest = token.empty() ? std::string() : sha256(token);
    std::lock_guard<std::mutex> lock(_shared.tokenMutex);
    if (digest == _shared.digest) {
        return false;
    }
    _shared.digest = std::move(digest);
    return true;
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
        throw std::runtime_error("admin.token_file " + path +
                                 ": the token on its first line is shorter than 16 characters");
    }
    return token;
}

}  // namespace sluice::runtime
