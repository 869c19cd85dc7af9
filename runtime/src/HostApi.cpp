#include "sluice/runtime/HostApi.h"

#include <chrono>
#include <cstdint>
#include <cstring>

#include "sluice/runtime/Exchange.h"
#include "sluice/runtime/Json.h"
#include "sluice/runtime/Logging.h"
#include "sluice/runtime/MessageCodecs.h"
#include "sluice/runtime/Version.h"
#include "sluice/sdk/HttpSyntax.hpp"

namespace sluice::runtime {

namespace {

std::string_view sv(sluice_str s) { return s.data == nullptr ? std::string_view{} : std::string_view(s.data, s.len); }

sluice_str out(std::string_view s) { return sluice_str{s.data(), s.size()}; }

bool validStr(sluice_str s) { return s.data != nullptr || s.len == 0; }

bool inPhase(const Exchange& ex, std::initializer_list<sluice_phase> phases)
{
    for (auto p : phases) {
        if (ex.phase == p) {
            return true;
        }
    }
    return false;
}

constexpr auto kReadPhases = {SLUICE_PHASE_REQUEST, SLUICE_PHASE_RESPONSE, SLUICE_PHASE_LOG};
constexpr auto kActivePhases = {SLUICE_PHASE_REQUEST, SLUICE_PHASE_RESPONSE};

spdlog::level::level_enum toSpd(sluice_log_level level)
{
    switch (level) {
        case SLUICE_LOG_TRACE: return spdlog::level::trace;
        case SLUICE_LOG_DEBUG: return spdlog::level::debug;
        case SLUICE_LOG_INFO: return spdlog::level::info;
        case SLUICE_LOG_WARN: return spdlog::level::warn;
        case SLUICE_LOG_ERROR: return spdlog::level::err;
    }
    return spdlog::level::err;
}

// --- logging
void hostLog(const sluice_logger* logger, sluice_log_level level, sluice_str message)
{
    if (logger == nullptr || !logger->logger || !validStr(message)) {
        return;
    }
    spdlog::logger& out = *logger->logger;
    const spdlog::level::level_enum spd = toSpd(level);
    if (!out.should_log(spd)) {
        return;
    }
    if (spd < spdlog::level::warn) {
        out.log(spd, "{}", sv(message));  // a level the operator chose to see: every line
        return;
    }
    std::uint64_t dropped = 0;
    const std::int64_t nowMs =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    const LogBudget::Verdict verdict = logger->problems.take(nowMs, dropped);
    if (dropped != 0) {
        out.warn("{} warning and error line(s) of this plugin were dropped (more than {} a second)", dropped,
                 logger->problems.perWindow());
    }
    if (verdict == LogBudget::Verdict::Drop) {
        return;
    }
    out.log(spd, "{}", sv(message));
    if (verdict == LogBudget::Verdict::WriteLast) {
        out.warn("{} warning and error lines within a second: the rest of this second's are dropped and counted",
                 logger->problems.perWindow());
    }
}

int hostLogEnabled(const sluice_logger* logger, sluice_log_level level)
{
    return logger != nullptr && logger->logger && logger->logger->should_log(toSpd(level)) ? 1 : 0;
}

// --- attributes
sluice_status getAttribute(sluice_exchange* h, sluice_attribute which, sluice_str* o)
{
    if (h == nullptr || o == nullptr) return SLUICE_E_INVALID;
    Exchange& ex = Exchange::from(h);
    if (!inPhase(ex, kReadPhases)) return SLUICE_E_WRONG_PHASE;
    auto value = ex.attribute(which);
    if (!value) return SLUICE_E_INVALID;
    *o = out(*value);
    return SLUICE_OK;
}

sluice_status getPathParam(sluice_exchange* h, sluice_str name, sluice_str* o)
{
    if (h == nullptr || o == nullptr || !validStr(name)) return SLUICE_E_INVALID;
    Exchange& ex = Exchange::from(h);
    if (!inPhase(ex, kReadPhases)) return SLUICE_E_WRONG_PHASE;
    for (const auto& [k, v] : ex.pathParams) {
        if (k == sv(name)) {
            *o = out(v);
            return SLUICE_OK;
        }
    }
    return SLUICE_E_NOT_FOUND;
}

sluice_status getQueryParam(sluice_exchange* h, sluice_str name, size_t index, sluice_str* o)
{
    if (h == nullptr || o == nullptr || !validStr(name)) return SLUICE_E_INVALID;
    Exchange& ex = Exchange::from(h);
    if (!inPhase(ex, kReadPhases)) return SLUICE_E_WRONG_PHASE;
    auto value = ex.queryParam(sv(name), index);
    if (!value) return SLUICE_E_NOT_FOUND;
    // The decoded copy must outlive this call: keep it in the exchange's arena.
    char* p = ex.arena.allocateArray<char>(value->size() + 1);
    if (p == nullptr) return SLUICE_E_NO_MEMORY;
    // NOLINTNEXTLINE(clang-analyzer-cplusplus.InnerPointer): `value` is not touched by the arena
    std::memcpy(p, value->data(), value->size());
    p[value->size()] = '\0';
    *o = sluice_str{p, value->size()};
    return SLUICE_OK;
}

sluice_status getPeerCertificate(sluice_exchange* h, sluice_str* o)
{
    if (h == nullptr || o == nullptr) return SLUICE_E_INVALID;
    Exchange& ex = Exchange::from(h);
    if (!inPhase(ex, kReadPhases)) return SLUICE_E_WRONG_PHASE;
    if (!ex.peerCertificatePem) return SLUICE_E_NOT_FOUND;
    *o = out(*ex.peerCertificatePem);
    return SLUICE_OK;
}

// --- headers
HeaderList* headersOf(Exchange& ex, sluice_message_kind msg)
{
    if (msg == SLUICE_MSG_REQUEST) return &ex.requestHeaders;
    if (msg == SLUICE_MSG_RESPONSE) return &ex.responseHeaders;
    return nullptr;
}

bool mayChangeHeaders(const Exchange& ex, sluice_message_kind msg)
{
    return msg == SLUICE_MSG_REQUEST ? ex.phase == SLUICE_PHASE_REQUEST : inPhase(ex, kActivePhases);
}

sluice_status headerGet(sluice_exchange* h, sluice_message_kind msg, sluice_str name, size_t index, sluice_str* o)
{
    if (h == nullptr || o == nullptr || !validStr(name)) return SLUICE_E_INVALID;
    Exchange& ex = Exchange::from(h);
    HeaderList* list = headersOf(ex, msg);
    if (list == nullptr) return SLUICE_E_INVALID;
    if (!inPhase(ex, kReadPhases)) return SLUICE_E_WRONG_PHASE;
    auto value = list->get(sv(name), index);
    if (!value) return SLUICE_E_NOT_FOUND;
    *o = out(*value);
    return SLUICE_OK;
}

sluice_status headerCount(sluice_exchange* h, sluice_message_kind msg, size_t* o)
{
    if (h == nullptr || o == nullptr) return SLUICE_E_INVALID;
    Exchange& ex = Exchange::from(h);
    HeaderList* list = headersOf(ex, msg);
    if (list == nullptr) return SLUICE_E_INVALID;
    if (!inPhase(ex, kReadPhases)) return SLUICE_E_WRONG_PHASE;
    *o = list->size();
    return SLUICE_OK;
}

sluice_status headerAt(sluice_exchange* h, sluice_message_kind msg, size_t index, sluice_header* o)
{
    if (h == nullptr || o == nullptr) return SLUICE_E_INVALID;
    Exchange& ex = Exchange::from(h);
    HeaderList* list = headersOf(ex, msg);
    if (list == nullptr) return SLUICE_E_INVALID;
    if (!inPhase(ex, kReadPhases)) return SLUICE_E_WRONG_PHASE;
    if (index >= list->size()) return SLUICE_E_NOT_FOUND;
    const auto& e = list->entries()[index];
    o->name = out(e.first);
    o->value = out(e.second);
    return SLUICE_OK;
}

enum class HeaderOp { Set, Add, Remove };

// header_add (abi.h, since 1.6): a message never gets a second field of a name that takes one
// value (the new value replaces it, as header_set would), and a request keeps one Cookie field.
void addHeader(HeaderList& list, sluice_message_kind msg, std::string_view name, std::string_view value)
{
    if (msg == SLUICE_MSG_REQUEST && sdk::sameFieldName(name, "cookie")) {
        list.add(name, value);
        (void)list.joinValues(name, "; ");  // with the arena out of memory the fields stay apart
    } else if (sdk::takesOneValue(name)) {
        list.set(name, value);  // adds the field when there is none
    } else {
        list.add(name, value);
    }
}

sluice_status headerChange(sluice_exchange* h, sluice_message_kind msg, sluice_str name, sluice_str value, HeaderOp op)
{
    if (h == nullptr || !validStr(name) || !validStr(value)) return SLUICE_E_INVALID;
    Exchange& ex = Exchange::from(h);
    HeaderList* list = headersOf(ex, msg);
    if (list == nullptr || !HeaderList::validName(sv(name))) return SLUICE_E_INVALID;
    if (op != HeaderOp::Remove && !HeaderList::validValue(sv(value))) return SLUICE_E_INVALID;
    if (!mayChangeHeaders(ex, msg)) return SLUICE_E_WRONG_PHASE;
    switch (op) {
        case HeaderOp::Set: list->set(sv(name), sv(value)); break;
        case HeaderOp::Add: addHeader(*list, msg, sv(name), sv(value)); break;
        case HeaderOp::Remove:
            if (msg == SLUICE_MSG_RESPONSE && ex.phase == SLUICE_PHASE_REQUEST) {
                ex.removeResponseFieldEarly(sv(name));
            } else {
                list->remove(sv(name));
            }
            break;
    }
    return SLUICE_OK;
}

sluice_status headerSet(sluice_exchange* h, sluice_message_kind msg, sluice_str name, sluice_str value)
{
    return headerChange(h, msg, name, value, HeaderOp::Set);
}
sluice_status headerAdd(sluice_exchange* h, sluice_message_kind msg, sluice_str name, sluice_str value)
{
    return headerChange(h, msg, name, value, HeaderOp::Add);
}
sluice_status headerRemove(sluice_exchange* h, sluice_message_kind msg, sluice_str name)
{
    return headerChange(h, msg, name, sluice_str{"", 0}, HeaderOp::Remove);
}

// --- bodies
std::optional<std::string>* bodyOf(Exchange& ex, sluice_message_kind msg)
{
    if (msg == SLUICE_MSG_REQUEST) return &ex.requestBody;
    if (msg == SLUICE_MSG_RESPONSE) return &ex.responseBody;
    return nullptr;
}

sluice_status bodyGet(sluice_exchange* h, sluice_message_kind msg, sluice_str* o)
{
    if (h == nullptr || o == nullptr) return SLUICE_E_INVALID;
    Exchange& ex = Exchange::from(h);
    auto* body = bodyOf(ex, msg);
    if (body == nullptr) return SLUICE_E_INVALID;
    bool legal =
        msg == SLUICE_MSG_REQUEST ? inPhase(ex, kReadPhases) : inPhase(ex, {SLUICE_PHASE_RESPONSE, SLUICE_PHASE_LOG});
    if (!legal) return SLUICE_E_WRONG_PHASE;
    if (!body->has_value()) return SLUICE_E_UNSUPPORTED;  // streamed, not buffered
    // A step earlier in the chain replaced the message (a conversion): these are its bytes now,
    // formatted here rather than at the end of the chain, so that this step works on them.
    BuiltMessage& m = msg == SLUICE_MSG_REQUEST ? ex.requestMessage : ex.responseMessage;
    if (m.dirty && ex.codecs != nullptr) {
        const sluice_status formatted = ex.codecs->format(ex, msg);
        if (formatted != SLUICE_OK) return formatted;
    }
    *o = out(**body);
    return SLUICE_OK;
}

sluice_status bodySet(sluice_exchange* h, sluice_message_kind msg, sluice_str bytes)
{
    if (h == nullptr || !validStr(bytes)) return SLUICE_E_INVALID;
    Exchange& ex = Exchange::from(h);
    auto* body = bodyOf(ex, msg);
    if (body == nullptr) return SLUICE_E_INVALID;
    bool legal = msg == SLUICE_MSG_REQUEST ? ex.phase == SLUICE_PHASE_REQUEST : ex.phase == SLUICE_PHASE_RESPONSE;
    if (!legal) return SLUICE_E_WRONG_PHASE;
    // A body that streams through (no handler declared it needs it) is already on its way: a
    // replacement could not be framed. A request without a body may be given one.
    bool streams = msg == SLUICE_MSG_REQUEST ? ex.requestBodyStreams : !body->has_value();
    if (streams) return SLUICE_E_UNSUPPORTED;
    if (bytes.len > ex.maxBodyBytes) return SLUICE_E_TOO_LARGE;
    *body = std::string(sv(bytes));
    // These bytes win over a message an earlier step replaced (it is not formatted over them at
    // the end of the chain), and a later message_get builds from them.
    (msg == SLUICE_MSG_REQUEST ? ex.requestMessage : ex.responseMessage).reset();
    return SLUICE_OK;
}

sluice_status messageGet(sluice_exchange* h, sluice_message_kind msg, const sluice_value** o)
{
    if (h == nullptr || o == nullptr || (msg != SLUICE_MSG_REQUEST && msg != SLUICE_MSG_RESPONSE))
        return SLUICE_E_INVALID;
    Exchange& ex = Exchange::from(h);
    bool legal =
        msg == SLUICE_MSG_REQUEST ? inPhase(ex, kReadPhases) : inPhase(ex, {SLUICE_PHASE_RESPONSE, SLUICE_PHASE_LOG});
    if (!legal) return SLUICE_E_WRONG_PHASE;
    if (ex.codecs == nullptr) return SLUICE_E_UNSUPPORTED;
    return ex.codecs->build(ex, msg, o);
}

sluice_status messageSet(sluice_exchange* h, sluice_message_kind msg, const sluice_value* value, sluice_str mediaType)
{
    if (h == nullptr || value == nullptr || mediaType.len == 0 || !validStr(mediaType) ||
        !HeaderList::validValue(sv(mediaType)) || (msg != SLUICE_MSG_REQUEST && msg != SLUICE_MSG_RESPONSE)) {
        return SLUICE_E_INVALID;
    }
    Exchange& ex = Exchange::from(h);
    bool legal = msg == SLUICE_MSG_REQUEST ? ex.phase == SLUICE_PHASE_REQUEST : ex.phase == SLUICE_PHASE_RESPONSE;
    if (!legal) return SLUICE_E_WRONG_PHASE;
    if (ex.codecs == nullptr) return SLUICE_E_UNSUPPORTED;
    // The formatter runs on a buffered body only: the transport buffers when a handler declared
    // it needs that body.
    if (!(msg == SLUICE_MSG_REQUEST ? ex.requestBody : ex.responseBody)) return SLUICE_E_UNSUPPORTED;
    BuiltMessage& m = msg == SLUICE_MSG_REQUEST ? ex.requestMessage : ex.responseMessage;
    m.value = value;
    m.mediaType = MessageCodecs::mediaTypeOf(sv(mediaType));
    m.dirty = true;
    return SLUICE_OK;
}

void* arenaAlloc(sluice_exchange* h, size_t size)
{
    if (h == nullptr) return nullptr;
    return Exchange::from(h).arena.allocate(size);
}

// --- properties
sluice_status propertyGet(sluice_exchange* h, sluice_str name, sluice_str* o)
{
    if (h == nullptr || o == nullptr || !validStr(name)) return SLUICE_E_INVALID;
    Exchange& ex = Exchange::from(h);
    if (!inPhase(ex, kReadPhases)) return SLUICE_E_WRONG_PHASE;
    auto value = ex.properties.get(sv(name));
    if (!value) return SLUICE_E_NOT_FOUND;
    *o = out(*value);
    return SLUICE_OK;
}

sluice_status propertySet(sluice_exchange* h, sluice_str name, sluice_str value)
{
    if (h == nullptr || !validStr(name) || !validStr(value) || name.len == 0) return SLUICE_E_INVALID;
    Exchange& ex = Exchange::from(h);
    if (!inPhase(ex, kActivePhases)) return SLUICE_E_WRONG_PHASE;
    return ex.properties.set(sv(name), sv(value)) ? SLUICE_OK : SLUICE_E_NO_MEMORY;
}

// --- responding
sluice_status respond(sluice_exchange* h, int32_t status, sluice_str contentType, sluice_str body)
{
    if (h == nullptr || status < 200 || status > 599 || !validStr(contentType) || !validStr(body) ||
        !HeaderList::validValue(sv(contentType))) {
        return SLUICE_E_INVALID;
    }
    Exchange& ex = Exchange::from(h);
    if (!inPhase(ex, kActivePhases)) return SLUICE_E_WRONG_PHASE;
    ex.localResponse = LocalResponse{status, std::string(sv(contentType)), std::string(sv(body))};
    return SLUICE_OK;
}

sluice_status respondError(sluice_exchange* h, int32_t status, int64_t code, sluice_str message, sluice_str description)
{
    if (!validStr(message) || !validStr(description)) return SLUICE_E_INVALID;
    std::string body = errorBody(code, sv(message), sv(description));
    return respond(h, status, out("application/json"), out(body));
}

// --- asynchronous services, provided by the transport that drives the exchange
ExchangeDriver* driverFor(sluice_exchange* h, sluice_status& status)
{
    if (h == nullptr) {
        status = SLUICE_E_INVALID;
        return nullptr;
    }
    Exchange& ex = Exchange::from(h);
    if (!inPhase(ex, kActivePhases)) {
        status = SLUICE_E_WRONG_PHASE;
        return nullptr;
    }
    if (ex.driver == nullptr) {
        status = SLUICE_E_UNSUPPORTED;
    }
    return ex.driver;
}

sluice_status resume(sluice_exchange* h, sluice_action next)
{
    sluice_status st = SLUICE_OK;
    ExchangeDriver* d = driverFor(h, st);
    return d != nullptr ? d->resume(next) : st;
}

sluice_status timerStart(sluice_exchange* h, uint64_t delay, sluice_timer_callback cb, void* user, sluice_timer_id* id)
{
    if (cb == nullptr || id == nullptr) return SLUICE_E_INVALID;
    sluice_status st = SLUICE_OK;
    ExchangeDriver* d = driverFor(h, st);
    return d != nullptr ? d->startTimer(delay, cb, user, id) : st;
}

sluice_status timerCancel(sluice_exchange* h, sluice_timer_id id)
{
    sluice_status st = SLUICE_OK;
    ExchangeDriver* d = driverFor(h, st);
    return d != nullptr ? d->cancelTimer(id) : st;
}

sluice_status httpCall(sluice_exchange* h, const sluice_http_request* request, sluice_http_callback cb, void* user)
{
    if (request == nullptr || cb == nullptr || request->struct_size < sizeof(sluice_http_request)) {
        return SLUICE_E_INVALID;
    }
    sluice_status st = SLUICE_OK;
    ExchangeDriver* d = driverFor(h, st);
    return d != nullptr ? d->httpCall(*request, cb, user) : st;
}

sluice_status counterAdd(sluice_exchange* h, sluice_str key, int64_t delta, uint64_t window, sluice_counter_callback cb,
                         void* user)
{
    if (cb == nullptr || !validStr(key) || key.len == 0) return SLUICE_E_INVALID;
    sluice_status st = SLUICE_OK;
    ExchangeDriver* d = driverFor(h, st);
    return d != nullptr ? d->counterAdd(sv(key), delta, window, cb, user) : st;
}

sluice_status keyManagerValidate(sluice_exchange* h, sluice_str, sluice_str, sluice_token_callback cb, void*)
{
    if (h == nullptr || cb == nullptr) return SLUICE_E_INVALID;
    if (Exchange::from(h).phase != SLUICE_PHASE_REQUEST) return SLUICE_E_WRONG_PHASE;
    return SLUICE_E_UNSUPPORTED;  // Key Manager connectors are configured with the security work
}

// Events go to the "analytics" logger as JSON lines until an analytics publisher is configured.
sluice_status analyticsEmit(sluice_exchange* h, sluice_str type, sluice_str json)
{
    if (h == nullptr || !validStr(type) || !validStr(json) || type.len == 0) return SLUICE_E_INVALID;
    Exchange& ex = Exchange::from(h);
    if (!inPhase(ex, kReadPhases)) return SLUICE_E_WRONG_PHASE;
    // The event must be one JSON object on one line (cheap shape check; the log line stays a line).
    std::string_view event = sv(json);
    while (!event.empty() && (event.front() == ' ' || event.front() == '\t')) event.remove_prefix(1);
    while (!event.empty() && (event.back() == ' ' || event.back() == '\t')) event.remove_suffix(1);
    if (event.size() < 2 || event.front() != '{' || event.back() != '}' ||
        event.find_first_of("\r\n") != std::string_view::npos) {
        return SLUICE_E_INVALID;
    }
    static const auto analytics = Logging::get("analytics");
    analytics->info("{{\"type\":{},\"request_id\":{},\"event\":{}}}", jsonQuote(sv(type)), jsonQuote(ex.requestId()),
                    event);
    return SLUICE_OK;
}

sluice_status bufferAppend(sluice_buffer* buffer, sluice_str bytes)
{
    if (buffer == nullptr || !validStr(bytes)) return SLUICE_E_INVALID;
    if (buffer->bytes.size() + bytes.len > buffer->limit) return SLUICE_E_TOO_LARGE;
    buffer->bytes.append(bytes.data, bytes.len);
    return SLUICE_OK;
}

const sluice_host_api kHostApi = {
    sizeof(sluice_host_api),  // struct_size
    SLUICE_ABI_MAJOR,         // abi_major
    SLUICE_ABI_MINOR,         // abi_minor
    kRuntimeVersion,          // runtime_version
    // 1.0: logging
    &hostLog,
    &hostLogEnabled,
    // 1.0: request attributes
    &getAttribute,
    &getPathParam,
    &getQueryParam,
    &getPeerCertificate,
    // 1.0: headers
    &headerGet,
    &headerCount,
    &headerAt,
    &headerSet,
    &headerAdd,
    &headerRemove,
    // 1.0: bodies
    &bodyGet,
    &bodySet,
    &messageGet,
    &messageSet,
    &arenaAlloc,
    // 1.0: properties
    &propertyGet,
    &propertySet,
    // 1.0: responding
    &respond,
    &respondError,
    // 1.0: pause and resume
    &resume,
    // 1.0: timers
    &timerStart,
    &timerCancel,
    // 1.0: asynchronous HTTP client
    &httpCall,
    // 1.0: counters
    &counterAdd,
    // 1.0: Key Managers
    &keyManagerValidate,
    // 1.0: analytics
    &analyticsEmit,
    // 1.0: formatter output
    &bufferAppend,
};

}  // namespace

const sluice_host_api* hostApi() noexcept { return &kHostApi; }

std::unique_ptr<sluice_logger> makePluginLogger(const std::string& instanceName)
{
    auto handle = std::make_unique<sluice_logger>();
    handle->logger = Logging::get("plugin." + instanceName);
    return handle;
}

std::string errorBody(std::int64_t code, std::string_view message, std::string_view description)
{
    return "{\"code\":" + std::to_string(code) + ",\"message\":" + jsonQuote(message) +
           ",\"description\":" + jsonQuote(description) + "}";
}

}  // namespace sluice::runtime
