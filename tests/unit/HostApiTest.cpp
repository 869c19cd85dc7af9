// The host function table: every slot present, phase rules enforced, unsupported services say so.
#include "sluice/runtime/HostApi.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <Poco/JSON/Object.h>
#include <doctest/doctest.h>

#include "sluice/runtime/Exchange.h"
#include "sluice/runtime/Json.h"
#include "sluice/runtime/Version.h"

using namespace sluice::runtime;

namespace {

sluice_str s(const char* text) { return sluice_str{text, std::strlen(text)}; }

std::string str(sluice_str v) { return std::string(v.data, v.len); }

const sluice_host_api& host() { return *hostApi(); }

struct Fixture {
    Exchange ex;
    sluice_exchange* h = ex.handle();
};

// An enum value outside the declared enumerators, as a C plugin could pass one.
template <typename Enum>
Enum outOfRange(int value)
{
    static_assert(sizeof(Enum) == sizeof(int), "C enums are int-sized");
    Enum e;
    std::memcpy(&e, &value, sizeof e);
    return e;
}

void noHttp(void*, sluice_exchange*, const sluice_http_response*) {}
void noTimer(void*, sluice_exchange*, sluice_timer_id) {}
void noCounter(void*, sluice_exchange*, sluice_status, int64_t) {}
void noToken(void*, sluice_exchange*, sluice_status, const sluice_token_info*) {}

sluice_http_request httpRequestValue()
{
    sluice_http_request request{};
    request.struct_size = sizeof request;
    request.method = s("GET");
    request.url = s("http://127.0.0.1:9/");
    return request;
}

const sluice_http_request& httpRequest()
{
    static const sluice_http_request request = httpRequestValue();
    return request;
}

// Records what the host forwarded to the transport.
class FakeDriver final : public ExchangeDriver {
public:
    std::vector<std::string> calls;

    sluice_status startTimer(std::uint64_t delayMs, sluice_timer_callback, void*, sluice_timer_id* id) override
    {
        calls.push_back("timer " + std::to_string(delayMs));
        *id = 42;
        return SLUICE_OK;
    }
    sluice_status cancelTimer(sluice_timer_id id) override
    {
        calls.push_back("cancel " + std::to_string(id));
        return SLUICE_OK;
    }
    sluice_status resume(sluice_action next) override
    {
        calls.push_back("resume " + std::to_string(static_cast<int>(next)));
        return SLUICE_OK;
    }
    sluice_status httpCall(const sluice_http_request& request, sluice_http_callback, void*) override
    {
        calls.push_back("http " + str(request.method) + " " + str(request.url));
        return SLUICE_OK;
    }
    sluice_status counterAdd(std::string_view key, std::int64_t delta, std::uint64_t windowMs, sluice_counter_callback,
                             void*) override
    {
        calls.push_back("counter " + std::string(key) + " +" + std::to_string(delta) + " /" + std::to_string(windowMs));
        return SLUICE_OK;
    }
};

}  // namespace

TEST_CASE("HostApi: the table is complete and carries the runtime's versions")
{
    const sluice_host_api& api = host();
    CHECK(api.struct_size == sizeof(sluice_host_api));
    CHECK(api.abi_major == SLUICE_ABI_MAJOR);
    CHECK(api.abi_minor == SLUICE_ABI_MINOR);
    REQUIRE(api.runtime_version != nullptr);
    CHECK(std::string(api.runtime_version) == kRuntimeVersion);
    // "Slots are never NULL within struct_size."
    const void* slots[] = {
        reinterpret_cast<const void*>(api.log),
        reinterpret_cast<const void*>(api.log_enabled),
        reinterpret_cast<const void*>(api.get_attribute),
        reinterpret_cast<const void*>(api.get_path_param),
        reinterpret_cast<const void*>(api.get_query_param),
        reinterpret_cast<const void*>(api.get_peer_certificate),
        reinterpret_cast<const void*>(api.header_get),
        reinterpret_cast<const void*>(api.header_count),
        reinterpret_cast<const void*>(api.header_at),
        reinterpret_cast<const void*>(api.header_set),
        reinterpret_cast<const void*>(api.header_add),
        reinterpret_cast<const void*>(api.header_remove),
        reinterpret_cast<const void*>(api.body_get),
        reinterpret_cast<const void*>(api.body_set),
        reinterpret_cast<const void*>(api.message_get),
        reinterpret_cast<const void*>(api.message_set),
        reinterpret_cast<const void*>(api.arena_alloc),
        reinterpret_cast<const void*>(api.property_get),
        reinterpret_cast<const void*>(api.property_set),
        reinterpret_cast<const void*>(api.respond),
        reinterpret_cast<const void*>(api.respond_error),
        reinterpret_cast<const void*>(api.resume),
        reinterpret_cast<const void*>(api.timer_start),
        reinterpret_cast<const void*>(api.timer_cancel),
        reinterpret_cast<const void*>(api.http_call),
        reinterpret_cast<const void*>(api.counter_add),
        reinterpret_cast<const void*>(api.key_manager_validate),
        reinterpret_cast<const void*>(api.analytics_emit),
        reinterpret_cast<const void*>(api.buffer_append),
    };
    CHECK(sizeof slots / sizeof slots[0] == (sizeof(sluice_host_api) - offsetof(sluice_host_api, log)) / sizeof(void*));
    for (const void* slot : slots) {
        CHECK(slot != nullptr);
    }
}

TEST_CASE("HostApi: request headers change only in REQUEST, response headers in REQUEST and RESPONSE")
{
    Fixture f;
    f.ex.phase = SLUICE_PHASE_REQUEST;
    CHECK(host().header_set(f.h, SLUICE_MSG_REQUEST, s("X-A"), s("1")) == SLUICE_OK);
    CHECK(host().header_add(f.h, SLUICE_MSG_REQUEST, s("x-a"), s("2")) == SLUICE_OK);
    CHECK(host().header_set(f.h, SLUICE_MSG_RESPONSE, s("X-Local"), s("ok")) == SLUICE_OK);

    f.ex.phase = SLUICE_PHASE_RESPONSE;
    CHECK(host().header_set(f.h, SLUICE_MSG_REQUEST, s("X-A"), s("late")) == SLUICE_E_WRONG_PHASE);
    CHECK(host().header_add(f.h, SLUICE_MSG_REQUEST, s("X-A"), s("late")) == SLUICE_E_WRONG_PHASE);
    CHECK(host().header_remove(f.h, SLUICE_MSG_REQUEST, s("X-A")) == SLUICE_E_WRONG_PHASE);
    CHECK(f.ex.requestHeaders.size() == 2);  // unchanged
    CHECK(host().header_set(f.h, SLUICE_MSG_RESPONSE, s("X-B"), s("3")) == SLUICE_OK);

    f.ex.phase = SLUICE_PHASE_LOG;
    CHECK(host().header_set(f.h, SLUICE_MSG_RESPONSE, s("X-B"), s("4")) == SLUICE_E_WRONG_PHASE);
    CHECK(host().header_remove(f.h, SLUICE_MSG_RESPONSE, s("X-B")) == SLUICE_E_WRONG_PHASE);
    CHECK(f.ex.responseHeaders.get("x-b") == std::optional<std::string_view>("3"));

    // Reading is allowed in every exchange phase.
    sluice_str v{};
    CHECK(host().header_get(f.h, SLUICE_MSG_REQUEST, s("X-A"), 1, &v) == SLUICE_OK);
    CHECK(str(v) == "2");
    CHECK(host().header_get(f.h, SLUICE_MSG_REQUEST, s("X-A"), 2, &v) == SLUICE_E_NOT_FOUND);
    size_t n = 0;
    CHECK(host().header_count(f.h, SLUICE_MSG_RESPONSE, &n) == SLUICE_OK);
    CHECK(n == 2);
    sluice_header hdr{};
    CHECK(host().header_at(f.h, SLUICE_MSG_RESPONSE, 1, &hdr) == SLUICE_OK);
    CHECK(str(hdr.name) == "X-B");
    CHECK(str(hdr.value) == "3");
    CHECK(host().header_at(f.h, SLUICE_MSG_RESPONSE, 2, &hdr) == SLUICE_E_NOT_FOUND);

    f.ex.phase = SLUICE_PHASE_CREATE;
    CHECK(host().header_get(f.h, SLUICE_MSG_REQUEST, s("X-A"), 0, &v) == SLUICE_E_WRONG_PHASE);
}

TEST_CASE("HostApi: header_add replaces a field that takes one value and joins a request's Cookie pairs")
{
    Fixture f;
    f.ex.phase = SLUICE_PHASE_REQUEST;
    f.ex.requestHeaders.add("Authorization", "Bearer client");
    f.ex.requestHeaders.add("Cookie", "a=1");
    f.ex.requestHeaders.add("X-Tag", "1");
    CHECK(host().header_add(f.h, SLUICE_MSG_REQUEST, s("authorization"), s("Bearer backend")) == SLUICE_OK);
    CHECK(host().header_add(f.h, SLUICE_MSG_REQUEST, s("Cookie"), s("b=2")) == SLUICE_OK);
    CHECK(host().header_add(f.h, SLUICE_MSG_REQUEST, s("X-Tag"), s("2")) == SLUICE_OK);
    CHECK(host().header_add(f.h, SLUICE_MSG_REQUEST, s("User-Agent"), s("gw")) == SLUICE_OK);  // none yet
    CHECK(f.ex.requestHeaders.get("Authorization") == std::optional<std::string_view>("Bearer backend"));
    CHECK_FALSE(f.ex.requestHeaders.get("Authorization", 1).has_value());
    CHECK(f.ex.requestHeaders.get("Cookie") == std::optional<std::string_view>("a=1; b=2"));
    CHECK_FALSE(f.ex.requestHeaders.get("Cookie", 1).has_value());
    CHECK(f.ex.requestHeaders.get("X-Tag", 1) == std::optional<std::string_view>("2"));  // a list: appended
    CHECK(f.ex.requestHeaders.get("User-Agent") == std::optional<std::string_view>("gw"));

    // On a response, in either phase that may change it.
    f.ex.responseHeaders.add("Content-Type", "text/plain");
    f.ex.responseHeaders.add("X-Frame-Options", "SAMEORIGIN");
    f.ex.responseHeaders.add("Set-Cookie", "a=1");
    f.ex.responseHeaders.markReceived();
    f.ex.phase = SLUICE_PHASE_RESPONSE;
    CHECK(host().header_add(f.h, SLUICE_MSG_RESPONSE, s("X-Frame-Options"), s("DENY")) == SLUICE_OK);
    CHECK(host().header_add(f.h, SLUICE_MSG_RESPONSE, s("Set-Cookie"), s("b=2")) == SLUICE_OK);
    CHECK(host().header_add(f.h, SLUICE_MSG_RESPONSE, s("Cookie"), s("c=3")) == SLUICE_OK);  // no meaning here
    CHECK(f.ex.responseHeaders.get("X-Frame-Options") == std::optional<std::string_view>("DENY"));
    CHECK_FALSE(f.ex.responseHeaders.get("X-Frame-Options", 1).has_value());
    CHECK(f.ex.responseHeaders.get("Set-Cookie", 1) == std::optional<std::string_view>("b=2"));
    CHECK(f.ex.responseHeaders.get("Content-Type") == std::optional<std::string_view>("text/plain"));
    CHECK(f.ex.responseHeaders.size() == 5);
}

TEST_CASE("HostApi: header changes with an invalid name or a CR/LF value are refused")
{
    Fixture f;
    CHECK(host().header_set(f.h, SLUICE_MSG_REQUEST, s("X-A"), s("x\r\nInjected: 1")) == SLUICE_E_INVALID);
    CHECK(host().header_add(f.h, SLUICE_MSG_RESPONSE, s("X-A"), s("x\n")) == SLUICE_E_INVALID);
    CHECK(host().header_set(f.h, SLUICE_MSG_REQUEST, s("Bad Name"), s("v")) == SLUICE_E_INVALID);
    CHECK(host().header_set(f.h, SLUICE_MSG_REQUEST, s(""), s("v")) == SLUICE_E_INVALID);
    CHECK(host().header_set(f.h, outOfRange<sluice_message_kind>(7), s("X-A"), s("v")) == SLUICE_E_INVALID);
    CHECK(host().header_set(nullptr, SLUICE_MSG_REQUEST, s("X-A"), s("v")) == SLUICE_E_INVALID);
    CHECK(host().header_set(f.h, SLUICE_MSG_REQUEST, sluice_str{nullptr, 3}, s("v")) == SLUICE_E_INVALID);
    CHECK(f.ex.requestHeaders.size() == 0);
    CHECK(f.ex.responseHeaders.size() == 0);
}

TEST_CASE("HostApi: async services without a transport driving the exchange answer UNSUPPORTED, never OK")
{
    Fixture f;  // no driver, no codecs: an exchange outside the data plane
    for (sluice_phase phase : {SLUICE_PHASE_REQUEST, SLUICE_PHASE_RESPONSE}) {
        CAPTURE(phase);
        f.ex.phase = phase;
        sluice_timer_id id = 0;
        const sluice_value* value = nullptr;
        sluice_value tree{};
        CHECK(host().resume(f.h, SLUICE_ACTION_CONTINUE) == SLUICE_E_UNSUPPORTED);
        CHECK(host().timer_start(f.h, 10, &noTimer, nullptr, &id) == SLUICE_E_UNSUPPORTED);
        CHECK(host().timer_cancel(f.h, 1) == SLUICE_E_UNSUPPORTED);
        CHECK(host().http_call(f.h, &httpRequest(), &noHttp, nullptr) == SLUICE_E_UNSUPPORTED);
        CHECK(host().counter_add(f.h, s("k"), 1, 1000, &noCounter, nullptr) == SLUICE_E_UNSUPPORTED);
        CHECK(host().message_get(f.h, SLUICE_MSG_REQUEST, &value) == SLUICE_E_UNSUPPORTED);
        CHECK(host().message_set(f.h, phase == SLUICE_PHASE_REQUEST ? SLUICE_MSG_REQUEST : SLUICE_MSG_RESPONSE, &tree,
                                 s("application/json")) == SLUICE_E_UNSUPPORTED);
        CHECK(value == nullptr);
        CHECK(id == 0);
    }
    f.ex.phase = SLUICE_PHASE_REQUEST;
    CHECK(host().key_manager_validate(f.h, s(""), s("token"), &noToken, nullptr) == SLUICE_E_UNSUPPORTED);
}

TEST_CASE("HostApi: async services check phase and arguments before anything else")
{
    Fixture f;
    FakeDriver driver;
    f.ex.driver = &driver;
    sluice_timer_id id = 0;
    f.ex.phase = SLUICE_PHASE_LOG;
    CHECK(host().timer_start(f.h, 10, &noTimer, nullptr, &id) == SLUICE_E_WRONG_PHASE);
    CHECK(host().resume(f.h, SLUICE_ACTION_CONTINUE) == SLUICE_E_WRONG_PHASE);
    CHECK(host().http_call(f.h, &httpRequest(), &noHttp, nullptr) == SLUICE_E_WRONG_PHASE);
    CHECK(host().counter_add(f.h, s("k"), 1, 1000, &noCounter, nullptr) == SLUICE_E_WRONG_PHASE);
    f.ex.phase = SLUICE_PHASE_RESPONSE;
    CHECK(host().key_manager_validate(f.h, s(""), s("token"), &noToken, nullptr) == SLUICE_E_WRONG_PHASE);
    CHECK(host().timer_start(f.h, 10, nullptr, nullptr, &id) == SLUICE_E_INVALID);
    CHECK(host().counter_add(f.h, s(""), 1, 1000, &noCounter, nullptr) == SLUICE_E_INVALID);
    sluice_http_request old = httpRequest();
    old.struct_size = sizeof(sluice_http_request) - 1;
    CHECK(host().http_call(f.h, &old, &noHttp, nullptr) == SLUICE_E_INVALID);
    CHECK(driver.calls.empty());
}

TEST_CASE("HostApi: async services go to the exchange's driver")
{
    Fixture f;
    FakeDriver driver;
    f.ex.driver = &driver;
    sluice_timer_id id = 0;
    CHECK(host().timer_start(f.h, 25, &noTimer, nullptr, &id) == SLUICE_OK);
    CHECK(id == 42);
    CHECK(host().timer_cancel(f.h, 42) == SLUICE_OK);
    CHECK(host().http_call(f.h, &httpRequest(), &noHttp, nullptr) == SLUICE_OK);
    CHECK(host().counter_add(f.h, s("tier:gold"), 3, 60000, &noCounter, nullptr) == SLUICE_OK);
    CHECK(host().resume(f.h, SLUICE_ACTION_RESPOND) == SLUICE_OK);
    CHECK(driver.calls == std::vector<std::string>{"timer 25", "cancel 42", "http GET http://127.0.0.1:9/",
                                                   "counter tier:gold +3 /60000", "resume 1"});
}

TEST_CASE("HostApi: analytics events must be one JSON object on one line")
{
    Fixture f;
    CHECK(host().analytics_emit(f.h, s("request"), s(R"({"status": 200})")) == SLUICE_OK);
    CHECK(host().analytics_emit(f.h, s("request"), s("  {}  ")) == SLUICE_OK);
    CHECK(host().analytics_emit(f.h, s("request"), s("[1, 2]")) == SLUICE_E_INVALID);
    CHECK(host().analytics_emit(f.h, s("request"), s("{\n}")) == SLUICE_E_INVALID);
    CHECK(host().analytics_emit(f.h, s(""), s("{}")) == SLUICE_E_INVALID);
    f.ex.phase = SLUICE_PHASE_LOG;
    CHECK(host().analytics_emit(f.h, s("request"), s("{}")) == SLUICE_OK);
    f.ex.phase = SLUICE_PHASE_CREATE;
    CHECK(host().analytics_emit(f.h, s("request"), s("{}")) == SLUICE_E_WRONG_PHASE);
}

TEST_CASE("HostApi: respond_error prepares the gateway's JSON error body")
{
    Fixture f;
    REQUIRE(host().respond_error(f.h, 401, 900901, s("Invalid Credentials"), s("Token \"abc\" expired")) == SLUICE_OK);
    REQUIRE(f.ex.localResponse.has_value());
    CHECK(f.ex.localResponse->status == 401);
    CHECK(f.ex.localResponse->contentType == "application/json");
    std::string error;
    auto body = parseJson(f.ex.localResponse->body, error);
    REQUIRE_MESSAGE(body.has_value(), error);
    auto obj = body->extract<Poco::JSON::Object::Ptr>();
    CHECK(obj->getValue<std::int64_t>("code") == 900901);
    CHECK(obj->getValue<std::string>("message") == "Invalid Credentials");
    CHECK(obj->getValue<std::string>("description") == "Token \"abc\" expired");
    CHECK(obj->size() == 3);
    CHECK(errorBody(101503, "a", "b") == R"({"code":101503,"message":"a","description":"b"})");
}

TEST_CASE("HostApi: respond checks its arguments and its phase")
{
    Fixture f;
    CHECK(host().respond(f.h, 99, s("text/plain"), s("x")) == SLUICE_E_INVALID);
    CHECK(host().respond(f.h, 600, s("text/plain"), s("x")) == SLUICE_E_INVALID);
    CHECK(host().respond(f.h, 200, s("text/plain\r\nX: y"), s("x")) == SLUICE_E_INVALID);
    CHECK_FALSE(f.ex.localResponse.has_value());
    f.ex.phase = SLUICE_PHASE_LOG;
    CHECK(host().respond(f.h, 200, s("text/plain"), s("x")) == SLUICE_E_WRONG_PHASE);
    CHECK(host().respond_error(f.h, 500, 1, s("m"), s("d")) == SLUICE_E_WRONG_PHASE);
    CHECK_FALSE(f.ex.localResponse.has_value());
    f.ex.phase = SLUICE_PHASE_RESPONSE;
    CHECK(host().respond(f.h, 204, s(""), s("")) == SLUICE_OK);
    REQUIRE(f.ex.localResponse.has_value());
    CHECK(f.ex.localResponse->status == 204);
}

TEST_CASE("HostApi: properties are shared, read-only in LOG")
{
    Fixture f;
    sluice_str v{};
    CHECK(host().property_get(f.h, s("auth.subject"), &v) == SLUICE_E_NOT_FOUND);
    CHECK(host().property_set(f.h, s("auth.subject"), s("alice")) == SLUICE_OK);
    CHECK(host().property_set(f.h, s(""), s("x")) == SLUICE_E_INVALID);
    f.ex.phase = SLUICE_PHASE_LOG;
    CHECK(host().property_set(f.h, s("auth.subject"), s("mallory")) == SLUICE_E_WRONG_PHASE);
    CHECK(host().property_get(f.h, s("auth.subject"), &v) == SLUICE_OK);
    CHECK(str(v) == "alice");
}

TEST_CASE("HostApi: bodies follow their phases and say when they are not buffered")
{
    Fixture f;
    sluice_str v{};
    CHECK(host().body_get(f.h, SLUICE_MSG_REQUEST, &v) == SLUICE_E_UNSUPPORTED);  // streamed
    CHECK(host().body_get(f.h, SLUICE_MSG_RESPONSE, &v) == SLUICE_E_WRONG_PHASE);
    // A request body on its way to the backend unbuffered cannot be replaced (its framing is sent).
    f.ex.requestBodyStreams = true;
    CHECK(host().body_set(f.h, SLUICE_MSG_REQUEST, s("{\"a\":1}")) == SLUICE_E_UNSUPPORTED);
    // A request without a body may be given one.
    f.ex.requestBodyStreams = false;
    CHECK(host().body_set(f.h, SLUICE_MSG_REQUEST, s("{\"a\":1}")) == SLUICE_OK);
    CHECK(host().body_get(f.h, SLUICE_MSG_REQUEST, &v) == SLUICE_OK);
    CHECK(str(v) == "{\"a\":1}");
    CHECK(host().body_set(f.h, SLUICE_MSG_RESPONSE, s("x")) == SLUICE_E_WRONG_PHASE);
    f.ex.phase = SLUICE_PHASE_RESPONSE;
    CHECK(host().body_set(f.h, SLUICE_MSG_REQUEST, s("late")) == SLUICE_E_WRONG_PHASE);
    // An unbuffered (streaming) response body cannot be replaced; a buffered one can.
    CHECK(host().body_set(f.h, SLUICE_MSG_RESPONSE, s("out")) == SLUICE_E_UNSUPPORTED);
    f.ex.responseBody = std::string("from the backend");
    CHECK(host().body_set(f.h, SLUICE_MSG_RESPONSE, s("out")) == SLUICE_OK);
    CHECK(host().body_get(f.h, SLUICE_MSG_RESPONSE, &v) == SLUICE_OK);
    CHECK(str(v) == "out");
    // Bounded as received bodies are (http.max_body_bytes): beyond it nothing changes.
    f.ex.maxBodyBytes = 4;
    CHECK(host().body_set(f.h, SLUICE_MSG_RESPONSE, s("12345")) == SLUICE_E_TOO_LARGE);
    CHECK(host().body_get(f.h, SLUICE_MSG_RESPONSE, &v) == SLUICE_OK);
    CHECK(str(v) == "out");
    CHECK(host().body_set(f.h, SLUICE_MSG_RESPONSE, s("1234")) == SLUICE_OK);
}

TEST_CASE("HostApi: attributes, path and query parameters")
{
    Fixture f;
    f.ex.method = "PUT";
    f.ex.query = "q=a%20b&q=c";
    f.ex.pathParams = {{"id", "7"}};
    sluice_str v{};
    CHECK(host().get_attribute(f.h, SLUICE_ATTR_METHOD, &v) == SLUICE_OK);
    CHECK(str(v) == "PUT");
    CHECK(host().get_attribute(f.h, outOfRange<sluice_attribute>(1000), &v) == SLUICE_E_INVALID);
    CHECK(host().get_path_param(f.h, s("id"), &v) == SLUICE_OK);
    CHECK(str(v) == "7");
    CHECK(host().get_path_param(f.h, s("other"), &v) == SLUICE_E_NOT_FOUND);
    CHECK(host().get_query_param(f.h, s("q"), 0, &v) == SLUICE_OK);
    CHECK(str(v) == "a b");
    CHECK(host().get_query_param(f.h, s("q"), 1, &v) == SLUICE_OK);
    CHECK(str(v) == "c");
    CHECK(host().get_query_param(f.h, s("q"), 2, &v) == SLUICE_E_NOT_FOUND);
    CHECK(host().get_peer_certificate(f.h, &v) == SLUICE_E_NOT_FOUND);
    f.ex.phase = SLUICE_PHASE_CREATE;
    CHECK(host().get_attribute(f.h, SLUICE_ATTR_METHOD, &v) == SLUICE_E_WRONG_PHASE);
}

TEST_CASE("HostApi: arena memory is aligned and zeroed, buffers append within their limit")
{
    Fixture f;
    void* p = host().arena_alloc(f.h, 24);
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(p) % alignof(std::max_align_t) == 0);
    CHECK(static_cast<const unsigned char*>(p)[23] == 0);
    CHECK(host().arena_alloc(nullptr, 8) == nullptr);

    sluice_buffer buffer;
    buffer.limit = 5;
    CHECK(host().buffer_append(&buffer, s("abc")) == SLUICE_OK);
    CHECK(host().buffer_append(&buffer, s("def")) == SLUICE_E_TOO_LARGE);
    CHECK(host().buffer_append(&buffer, s("de")) == SLUICE_OK);
    CHECK(buffer.bytes == "abcde");
}

TEST_CASE("HostApi: logging through a plugin logger never fails")
{
    auto logger = makePluginLogger("host_api_test");
    CHECK(logger->logger->name() == "plugin.host_api_test");
    host().log(logger.get(), SLUICE_LOG_INFO, s("hello from a test"));
    host().log(nullptr, SLUICE_LOG_ERROR, s("dropped"));
    CHECK(host().log_enabled(logger.get(), SLUICE_LOG_ERROR) == 1);
    CHECK(host().log_enabled(nullptr, SLUICE_LOG_ERROR) == 0);
}
