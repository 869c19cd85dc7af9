#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/abi.h"
#include "sluice/runtime/Arena.h"
#include "sluice/runtime/http/HttpParser.h"

namespace sluice::runtime {

namespace upstream {
class Endpoint;
}

// An ordered header list with case-insensitive names, as on the wire.
// Names and values live in an arena (the exchange's), so building and changing headers costs
// no allocation per header on the request path; views handed out stay valid until the arena is
// reset with the exchange.
class HeaderList {
public:
    using Entry = std::pair<std::string_view, std::string_view>;

    // How get(), remove() and set() find a field by name: case aside (Exact), or, for a request
    // on its way to the backend (Cgi), also in the spellings a CGI-style backend reads as the same
    // field (sameCgiName: "X_Internal_User" and, for PHP, "X.Internal.User" are
    // HTTP_X_INTERNAL_USER), so that a policy reads what such a backend would, and one stripping
    // or rewriting a field leaves no stand-in for it.
    enum class Matching { Exact, Cgi };

    HeaderList();  // with an arena of its own
    // In a shared arena that outlives the list's use.
    explicit HeaderList(Arena& arena, Matching matching = Matching::Exact);
    HeaderList(const HeaderList&) = delete;
    HeaderList& operator=(const HeaderList&) = delete;

    std::optional<std::string_view> get(std::string_view name, std::size_t index = 0) const;
    void set(std::string_view name, std::string_view value);
    void add(std::string_view name, std::string_view value);
    // Makes the fields named `name` one field, in the place of the first, their non-empty
    // values in order with `separator` between them ("a=1" and "b=2" with "; " make
    // "a=1; b=2"). Returns false, and changes nothing, when the arena is out of memory.
    bool joinValues(std::string_view name, std::string_view separator);
    void remove(std::string_view name);
    void clear() noexcept
    {
        _entries.clear();
        _received = 0;
    }
    const std::vector<Entry>& entries() const { return _entries; }
    std::size_t size() const { return _entries.size(); }

    // The entries present now came from the peer (the backend's response head, or a local answer
    // that response hooks may replace). add() and set() of a new name go after them, set() of a
    // name the peer sent stays among them, and remove() keeps count, so that dropReceived() takes
    // away what the peer sent, rewritten or not, and keeps the fields handlers added since.
    void markReceived() noexcept { _received = _entries.size(); }
    void dropReceived();

    // RFC 9110 field-name (token) and field-value (no CR, LF or NUL) checks.
    static bool validName(std::string_view name);
    static bool validValue(std::string_view value);

private:
    std::string_view keep(std::string_view text);
    bool named(std::string_view entry, std::string_view name) const noexcept;
    // Erases every entry named `name`; returns how many of them were received ones.
    std::size_t eraseNamed(std::string_view name);

    std::unique_ptr<Arena> _own;
    Arena* _arena;
    Matching _matching = Matching::Exact;
    std::vector<Entry> _entries;
    std::size_t _received = 0;  // leading entries that came from the peer
};

// The exchange's string properties (property_get / property_set): a handful per exchange, so a
// list searched in order, with names and values in the exchange's arena. A value set again is
// written over the old one when it fits (abi.h: a value read is valid until the property
// changes), else into a new place twice as large, so that growing a value in a loop costs
// memory in proportion to its final size.
class PropertyList {
public:
    explicit PropertyList(Arena& arena) : _arena(&arena) {}
    PropertyList(const PropertyList&) = delete;
    PropertyList& operator=(const PropertyList&) = delete;

    std::optional<std::string_view> get(std::string_view name) const noexcept;
    // false when the arena is out of memory (nothing changed then).
    bool set(std::string_view name, std::string_view value);
    void clear() noexcept { _entries.clear(); }
    std::size_t size() const noexcept { return _entries.size(); }

private:
    struct Entry {
        std::string_view name;
        char* value;
        std::size_t size;
        std::size_t capacity;
    };
    Arena* _arena;
    std::vector<Entry> _entries;
};

// The transport side of an exchange: what the host table needs from the connection that runs
// it (timers, resumption, outgoing calls). Absent (nullptr) when no transport drives the
// exchange, in which case those host calls answer SLUICE_E_UNSUPPORTED.
class ExchangeDriver {
public:
    virtual ~ExchangeDriver() = default;
    virtual sluice_status startTimer(std::uint64_t delayMs, sluice_timer_callback cb, void* user,
                                     sluice_timer_id* id) = 0;
    virtual sluice_status cancelTimer(sluice_timer_id id) = 0;
    virtual sluice_status resume(sluice_action next) = 0;
    virtual sluice_status httpCall(const sluice_http_request& request, sluice_http_callback cb, void* user) = 0;
    virtual sluice_status counterAdd(std::string_view key, std::int64_t delta, std::uint64_t windowMs,
                                     sluice_counter_callback cb, void* user) = 0;
};

class MessageCodecs;

// A message built from body bytes (message_get) or replaced by a handler (message_set).
struct BuiltMessage {
    const sluice_value* value = nullptr;
    std::string mediaType;
    bool dirty = false;  // replaced: the formatter must write it back before it leaves
    void reset()
    {
        value = nullptr;
        mediaType.clear();
        dirty = false;
    }
};

// A response the gateway prepared itself (respond / respond_error, or an error of its own).
struct LocalResponse {
    int status = 0;
    std::string contentType;
    std::string body;
};

// One request and its response as the handlers see them. The transport fills it; the host
// table (HostApi) exposes it to plugins through the opaque sluice_exchange handle.
class Exchange {
public:
    Exchange();

    // Clears everything for the next request on the same connection (keeps allocations where
    // it can) and takes a new request id.
    void reset();

    sluice_exchange* handle() noexcept { return reinterpret_cast<sluice_exchange*>(this); }
    static Exchange& from(sluice_exchange* ex) noexcept { return *reinterpret_cast<Exchange*>(ex); }

    sluice_phase phase = SLUICE_PHASE_REQUEST;
    Arena arena;  // exchange-scoped memory: plugin allocations and header storage

    // Request attributes (sluice_attribute).
    std::string method = "GET";
    std::string path = "/";
    std::string query;
    std::string scheme = "http";
    std::string host;
    std::string clientAddress;
    std::string apiName;
    std::string apiVersion;
    std::string resource;
    // Unique per exchange in this process; made on first use (most requests never ask for it).
    const std::string& requestId() const;
    std::string protocol = "HTTP/1.1";
    std::vector<std::pair<std::string, std::string>> pathParams;
    std::string resourcePath;                       // the path after context and version, as sent to the backend
    bool nothingAfterPrefix = false;                // see RouteMatch: the backend gets the endpoint's path alone
    std::optional<std::string> peerCertificatePem;  // set only when verified

    HeaderList requestHeaders;
    HeaderList responseHeaders;
    // Response fields a step removed in the request phase (names in the arena, each once): they
    // are taken off the backend's answer too, as the fields set then replace the backend's.
    std::vector<std::string_view> responseRemovedEarly;
    void removeResponseFieldEarly(std::string_view name);
    // Bodies are present only when buffered (a component asked for them).
    std::optional<std::string> requestBody;   // set when buffered (or given by a handler)
    std::optional<std::string> responseBody;  // set when buffered (or given by a handler)
    // The request has a body that streams to the backend unbuffered: it cannot be replaced.
    bool requestBodyStreams = false;
    // http.max_body_bytes: a body a handler sets is bounded as a received one is.
    std::uint64_t maxBodyBytes = std::numeric_limits<std::uint64_t>::max();
    int responseStatus = 0;

    std::optional<LocalResponse> localResponse;
    PropertyList properties;
    void* owner = nullptr;                  // the transport connection running this exchange
    ExchangeDriver* driver = nullptr;       // its async services (nullptr: none)
    const MessageCodecs* codecs = nullptr;  // builders and formatters of the snapshot
    BuiltMessage requestMessage;
    BuiltMessage responseMessage;
    bool paused = false;                // a hook returned PAUSE and has not resumed yet
    mutable std::string requestIdText;  // empty until requestId() is first called

    // The transport's per-request state, kept here while the exchange waits in the worker's
    // stock, so that an idle connection holds none of it and its capacity is reused. The
    // connection uses them in place while it holds the exchange. Not for handlers.
    struct TransportBuffers {
        http::RequestHead head;  // the request head being read or served (views into the input)
        std::string upstreamHead;
        std::string text;
        std::string requestBody;   // a request body collected for a handler, or read whole first
        std::string responseBody;  // a response body being collected for a handler
        std::string heldResponse;  // response bytes that came while the response head waits
        std::string reason;        // the backend's reason phrase
        std::string priorFor;      // X-Forwarded-For and Via lists of a trusted client
        std::string priorVia;
        std::vector<const upstream::Endpoint*> tried;  // endpoints tried for this request
    };
    TransportBuffers transportBuffers;

    std::optional<std::string_view> attribute(sluice_attribute which) const;
    // The index-th value of query parameter `name`, percent-decoded ('+' as space).
    std::optional<std::string> queryParam(std::string_view name, std::size_t index) const;
};

// Percent-decodes `in`; nullopt on a malformed escape.
std::optional<std::string> percentDecode(std::string_view in, bool plusAsSpace);

}  // namespace sluice::runtime
