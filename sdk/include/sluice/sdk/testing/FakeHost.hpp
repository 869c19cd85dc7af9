#pragma once

// FakeHost: a complete, in-memory implementation of the host function table for unit-testing a
// plugin with no runtime. It loads the plugin (its .so with dlopen, or an entry function linked
// into the test), creates component instances from JSON configuration, and runs hooks against a
// FakeExchange whose request, response, properties and async activity the test can inspect and
// drive: time is manual (advance()), HTTP calls, counters and token validations wait until the
// test answers them. Phase rules are enforced as in the runtime, so a plugin that calls the host
// in the wrong phase gets SLUICE_E_WRONG_PHASE here too.
//
// Not checked here (the runtime does it): the configuration against the component's schema.

#include <dlfcn.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/abi.h"
#include "sluice/sdk/HttpSyntax.hpp"
#include "sluice/sdk/testing/JsonTree.hpp"

struct sluice_logger {
    std::string name;
    void* host;
};

struct sluice_buffer {
    std::string bytes;
};

namespace sluice::sdk::testing {

class FakeHost;

struct LogLine {
    std::string logger;
    sluice_log_level level;
    std::string message;
};

struct PendingHttp {
    std::string method;
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    sluice_http_callback cb;
    void* user;
};

struct PendingTimer {
    sluice_timer_id id;
    std::uint64_t due;
    sluice_timer_callback cb;
    void* user;
};

struct PendingCounter {
    std::string key;
    std::int64_t delta;
    std::uint64_t windowMs;
    sluice_counter_callback cb;
    void* user;
};

struct PendingToken {
    std::string keyManager;
    std::string token;
    sluice_token_callback cb;
    void* user;
};

struct AnalyticsEvent {
    std::string type;
    std::string json;
};

// One request and its response, with everything a plugin can touch, in public fields.
class FakeExchange {
public:
    using Headers = std::vector<std::pair<std::string, std::string>>;

    sluice_exchange* handle() noexcept { return reinterpret_cast<sluice_exchange*>(this); }
    static FakeExchange& from(sluice_exchange* ex) noexcept { return *reinterpret_cast<FakeExchange*>(ex); }

    sluice_phase phase = SLUICE_PHASE_REQUEST;
    std::map<sluice_attribute, std::string> attributes = {
        {SLUICE_ATTR_METHOD, "GET"},
        {SLUICE_ATTR_PATH, "/"},
        {SLUICE_ATTR_QUERY, ""},
        {SLUICE_ATTR_SCHEME, "http"},
        {SLUICE_ATTR_HOST, "localhost"},
        {SLUICE_ATTR_CLIENT_ADDRESS, "127.0.0.1:50000"},
        {SLUICE_ATTR_API_NAME, "TestAPI"},
        {SLUICE_ATTR_API_VERSION, "v1"},
        {SLUICE_ATTR_RESOURCE, "/"},
        {SLUICE_ATTR_REQUEST_ID, "test-0001"},
        {SLUICE_ATTR_PROTOCOL, "HTTP/1.1"},
    };
    std::map<std::string, std::string> pathParams;
    std::multimap<std::string, std::string> queryParams;  // already decoded
    std::optional<std::string> peerCertificatePem;
    Headers requestHeaders;
    Headers responseHeaders;
    std::optional<std::string> requestBody;  // nullopt: streamed (not buffered)
    std::optional<std::string> responseBody;
    const sluice_value* requestMessage = nullptr;
    const sluice_value* responseMessage = nullptr;
    std::string requestMessageMediaType;  // as given to message_set
    std::string responseMessageMediaType;
    // What message_get answers when not OK (e.g. SLUICE_E_INVALID: the builder refused the body).
    sluice_status requestMessageStatus = SLUICE_OK;
    sluice_status responseMessageStatus = SLUICE_OK;
    std::map<std::string, std::string, std::less<>> properties;

    // What the plugin did.
    std::optional<int> respondedStatus;
    std::string respondedContentType;
    std::string respondedBody;
    std::optional<sluice_action> resumedWith;
    std::vector<AnalyticsEvent> analytics;
    std::vector<PendingHttp> httpCalls;
    std::vector<PendingTimer> timers;
    std::vector<PendingCounter> counters;
    std::vector<PendingToken> tokenValidations;

    FakeHost* host = nullptr;

    std::optional<std::string> header(const Headers& list, std::string_view name, std::size_t index = 0) const
    {
        for (const auto& [n, v] : list) {
            if (equalNames(n, name) && index-- == 0) {
                return v;
            }
        }
        return std::nullopt;
    }
    std::optional<std::string> requestHeader(std::string_view name) const { return header(requestHeaders, name); }
    std::optional<std::string> responseHeader(std::string_view name) const { return header(responseHeaders, name); }

    void* allocate(std::size_t size)
    {
        _arena.emplace_back(
            new std::max_align_t[(size + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t) + 1]());
        return _arena.back().get();
    }

    static bool equalNames(std::string_view a, std::string_view b) noexcept { return sameFieldName(a, b); }

private:
    std::vector<std::unique_ptr<std::max_align_t[]>> _arena;
};

// A created component instance; destroyed through the plugin when this goes away.
class FakeInstance {
public:
    FakeInstance(const sluice_component* component, void* instance, std::unique_ptr<sluice_logger> logger)
        : _component(component), _instance(instance), _logger(std::move(logger))
    {
    }
    ~FakeInstance()
    {
        if (_instance != nullptr) {
            _component->destroy(_instance);
        }
    }
    FakeInstance(const FakeInstance&) = delete;
    FakeInstance& operator=(const FakeInstance&) = delete;

    const sluice_component& component() const noexcept { return *_component; }
    void* get() const noexcept { return _instance; }

private:
    const sluice_component* _component;
    void* _instance;
    std::unique_ptr<sluice_logger> _logger;
};

// The arguments the runtime hands a builder's build_message for a request body. `contentType`
// is the whole field value; empty means the bare media type. Views into the arguments' strings.
inline sluice_build_args requestBuildArgs(std::string_view mediaType, std::string_view bytes,
                                          std::string_view contentType = {})
{
    sluice_build_args args{};
    args.struct_size = sizeof args;
    args.message = SLUICE_MSG_REQUEST;
    args.media_type = sluice_str{mediaType.data(), mediaType.size()};
    const std::string_view whole = contentType.empty() ? mediaType : contentType;
    args.content_type = sluice_str{whole.data(), whole.size()};
    args.bytes = sluice_str{bytes.data(), bytes.size()};
    return args;
}

class FakeHost {
public:
    FakeHost() : _api(makeApi()) {}
    FakeHost(const FakeHost&) = delete;
    FakeHost& operator=(const FakeHost&) = delete;

    const sluice_host_api* api() const noexcept { return &_api; }

    // Loads a plugin .so (never unloaded, as in the runtime). Throws std::runtime_error.
    const sluice_plugin_manifest& open(const std::string& path)
    {
        void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) {
            const char* err = ::dlerror();
            throw std::runtime_error("dlopen " + path + ": " + (err != nullptr ? err : "failed"));
        }
        auto entry = reinterpret_cast<sluice_plugin_entry_fn>(::dlsym(handle, SLUICE_ENTRY_SYMBOL));
        if (entry == nullptr) {
            throw std::runtime_error(path + " has no " SLUICE_ENTRY_SYMBOL);
        }
        return use(entry);
    }

    // Uses an entry function linked into the test. Throws std::runtime_error when it refuses.
    const sluice_plugin_manifest& use(sluice_plugin_entry_fn entry)
    {
        const sluice_plugin_manifest* m = entry(&_api);
        if (m == nullptr) {
            throw std::runtime_error("the plugin's entry function returned NULL");
        }
        if (m->abi_major != SLUICE_ABI_MAJOR || m->abi_minor > SLUICE_ABI_MINOR) {
            throw std::runtime_error("the plugin was built for another ABI version");
        }
        _manifests.push_back(m);
        return *m;
    }

    // What create() tells components as their configuration directory.
    std::string configDir;

    // Creates an instance of `component` with a JSON configuration. Throws std::runtime_error
    // with the plugin's reason when create fails.
    std::unique_ptr<FakeInstance> create(std::string_view component, std::string_view configJson = "{}",
                                         std::string instanceName = {})
    {
        const sluice_component* c = find(component);
        if (c == nullptr) {
            throw std::runtime_error("no component named " + std::string(component));
        }
        JsonTree config(configJson);
        auto logger = std::make_unique<sluice_logger>();
        logger->name = "plugin." + (instanceName.empty() ? std::string(component) : instanceName);
        logger->host = this;
        std::string name = instanceName.empty() ? std::string(component) : instanceName;
        char error[512] = {};
        sluice_create_args args{};
        args.struct_size = sizeof args;
        args.host = &_api;
        args.logger = logger.get();
        args.instance_name = name.c_str();
        args.config = config.root();
        args.error = error;
        args.error_capacity = sizeof error;
        args.config_dir = configDir.c_str();
        void* instance = nullptr;
        sluice_status st = c->create(&args, &instance);
        if (st != SLUICE_OK || instance == nullptr) {
            throw std::runtime_error("create failed: " + std::string(error));
        }
        return std::make_unique<FakeInstance>(c, instance, std::move(logger));
    }

    const sluice_component* find(std::string_view name) const
    {
        for (const auto* m : _manifests) {
            for (std::size_t i = 0; i < m->component_count; ++i) {
                if (m->components[i] != nullptr && name == m->components[i]->name) {
                    return m->components[i];
                }
            }
        }
        return nullptr;
    }

    FakeExchange exchange()
    {
        FakeExchange ex;
        ex.host = this;
        return ex;
    }

    // --- running hooks
    sluice_action request(FakeInstance& h, FakeExchange& ex)
    {
        ex.host = this;
        ex.phase = SLUICE_PHASE_REQUEST;
        auto* vt = handlerTable(h);
        return vt->on_request != nullptr ? vt->on_request(h.get(), ex.handle()) : SLUICE_ACTION_CONTINUE;
    }
    sluice_action response(FakeInstance& h, FakeExchange& ex)
    {
        ex.host = this;
        ex.phase = SLUICE_PHASE_RESPONSE;
        auto* vt = handlerTable(h);
        return vt->on_response != nullptr ? vt->on_response(h.get(), ex.handle()) : SLUICE_ACTION_CONTINUE;
    }
    void log(FakeInstance& h, FakeExchange& ex)
    {
        ex.host = this;
        ex.phase = SLUICE_PHASE_LOG;
        auto* vt = handlerTable(h);
        if (vt->on_log != nullptr) {
            vt->on_log(h.get(), ex.handle());
        }
    }

    // --- driving async work
    std::uint64_t now() const noexcept { return _now; }
    // Moves the clock and fires every due timer of `ex`, in due order.
    void advance(FakeExchange& ex, std::uint64_t ms)
    {
        _now += ms;
        for (;;) {
            auto due = ex.timers.end();
            for (auto it = ex.timers.begin(); it != ex.timers.end(); ++it) {
                if (it->due <= _now && (due == ex.timers.end() || it->due < due->due)) {
                    due = it;
                }
            }
            if (due == ex.timers.end()) {
                return;
            }
            PendingTimer t = *due;
            ex.timers.erase(due);
            t.cb(t.user, ex.handle(), t.id);
        }
    }
    // Answers the oldest pending HTTP call of `ex`.
    void answerHttp(FakeExchange& ex, int status, std::string body,
                    std::vector<std::pair<std::string, std::string>> headers = {})
    {
        if (ex.httpCalls.empty()) {
            throw std::logic_error("no pending HTTP call");
        }
        PendingHttp call = ex.httpCalls.front();
        ex.httpCalls.erase(ex.httpCalls.begin());
        std::vector<sluice_header> hs;
        for (auto& [n, v] : headers) {
            hs.push_back({sluice_str{n.data(), n.size()}, sluice_str{v.data(), v.size()}});
        }
        sluice_http_response r{};
        r.struct_size = sizeof r;
        r.status = SLUICE_OK;
        r.http_status = status;
        r.headers = hs.data();
        r.header_count = hs.size();
        r.body = sluice_str{body.data(), body.size()};
        call.cb(call.user, ex.handle(), &r);
    }
    // Answers the oldest pending counter_add of `ex` from the fake's in-memory counters.
    void answerCounter(FakeExchange& ex)
    {
        if (ex.counters.empty()) {
            throw std::logic_error("no pending counter");
        }
        PendingCounter c = ex.counters.front();
        ex.counters.erase(ex.counters.begin());
        std::uint64_t window = c.windowMs == 0 ? 0 : _now / c.windowMs;
        auto& slot = _counters[c.key];
        if (slot.first != window) {
            slot = {window, 0};
        }
        slot.second += c.delta;
        c.cb(c.user, ex.handle(), SLUICE_OK, slot.second);
    }
    // Answers the oldest pending token validation of `ex`.
    void answerToken(FakeExchange& ex, sluice_status status, const sluice_token_info* info)
    {
        if (ex.tokenValidations.empty()) {
            throw std::logic_error("no pending token validation");
        }
        PendingToken t = ex.tokenValidations.front();
        ex.tokenValidations.erase(ex.tokenValidations.begin());
        t.cb(t.user, ex.handle(), status, info);
    }

    const std::vector<LogLine>& logs() const noexcept { return _logs; }
    sluice_log_level logLevel = SLUICE_LOG_TRACE;

private:
    static const sluice_handler_vtable* handlerTable(FakeInstance& h)
    {
        if (h.component().kind != SLUICE_KIND_HANDLER) {
            throw std::logic_error("not a handler");
        }
        return static_cast<const sluice_handler_vtable*>(h.component().vtable);
    }

    static std::string_view sv(sluice_str s)
    {
        return s.data == nullptr ? std::string_view{} : std::string_view(s.data, s.len);
    }
    static sluice_str out(std::string_view s) { return sluice_str{s.data(), s.size()}; }
    static bool in(const FakeExchange& ex, std::initializer_list<sluice_phase> phases)
    {
        for (auto p : phases) {
            if (ex.phase == p) return true;
        }
        return false;
    }
    static bool readable(const FakeExchange& ex)
    {
        return in(ex, {SLUICE_PHASE_REQUEST, SLUICE_PHASE_RESPONSE, SLUICE_PHASE_LOG});
    }
    static bool active(const FakeExchange& ex) { return in(ex, {SLUICE_PHASE_REQUEST, SLUICE_PHASE_RESPONSE}); }
    static FakeExchange::Headers* headers(FakeExchange& ex, sluice_message_kind m)
    {
        return m == SLUICE_MSG_REQUEST ? &ex.requestHeaders : m == SLUICE_MSG_RESPONSE ? &ex.responseHeaders : nullptr;
    }
    static bool mayChange(const FakeExchange& ex, sluice_message_kind m)
    {
        return m == SLUICE_MSG_REQUEST ? ex.phase == SLUICE_PHASE_REQUEST : active(ex);
    }
    // As the runtime: a request's field is found by name also in the spellings a CGI-style
    // backend reads as it ('_' and '.' for '-', sdk::cgiFold), a response's as spelt, case aside.
    static bool named(std::string_view entry, std::string_view name, sluice_message_kind m) noexcept
    {
        return m == SLUICE_MSG_REQUEST ? sameCgiName(entry, name) : FakeExchange::equalNames(entry, name);
    }
    // As the runtime's header_add (abi.h, since 1.6): a one-value field is replaced, and a
    // request's Cookie pairs go into its one Cookie field.
    static void addField(FakeExchange::Headers& list, sluice_message_kind m, std::string_view name,
                         std::string_view value)
    {
        auto first = list.begin();
        while (first != list.end() && !named(first->first, name, m)) {
            ++first;
        }
        if (first != list.end() && m == SLUICE_MSG_REQUEST && sameFieldName(name, "cookie")) {
            if (!value.empty()) {
                first->second.append(first->second.empty() ? "" : "; ").append(value);
            }
            return;
        }
        if (takesOneValue(name)) {
            removeAll(list, name, m);
        }
        list.emplace_back(std::string(name), std::string(value));
    }
    static void removeAll(FakeExchange::Headers& list, std::string_view name, sluice_message_kind m)
    {
        FakeExchange::Headers kept;
        for (auto& h : list) {
            if (!named(h.first, name, m)) kept.push_back(h);
        }
        list.swap(kept);
    }

    static sluice_host_api makeApi()
    {
        sluice_host_api a{};
        a.struct_size = sizeof a;
        a.abi_major = SLUICE_ABI_MAJOR;
        a.abi_minor = SLUICE_ABI_MINOR;
        a.runtime_version = "0.0.0-fake";
        a.log = [](const sluice_logger* l, sluice_log_level level, sluice_str m) {
            auto* host = static_cast<FakeHost*>(l->host);
            if (level >= host->logLevel) host->_logs.push_back({l->name, level, std::string(sv(m))});
        };
        a.log_enabled = [](const sluice_logger* l, sluice_log_level level) {
            return level >= static_cast<FakeHost*>(l->host)->logLevel ? 1 : 0;
        };
        a.get_attribute = [](sluice_exchange* h, sluice_attribute which, sluice_str* o) {
            auto& ex = FakeExchange::from(h);
            if (!readable(ex)) return SLUICE_E_WRONG_PHASE;
            auto it = ex.attributes.find(which);
            if (it == ex.attributes.end()) return SLUICE_E_INVALID;
            *o = out(it->second);
            return SLUICE_OK;
        };
        a.get_path_param = [](sluice_exchange* h, sluice_str name, sluice_str* o) {
            auto& ex = FakeExchange::from(h);
            if (!readable(ex)) return SLUICE_E_WRONG_PHASE;
            auto it = ex.pathParams.find(std::string(sv(name)));
            if (it == ex.pathParams.end()) return SLUICE_E_NOT_FOUND;
            *o = out(it->second);
            return SLUICE_OK;
        };
        a.get_query_param = [](sluice_exchange* h, sluice_str name, size_t index, sluice_str* o) {
            auto& ex = FakeExchange::from(h);
            if (!readable(ex)) return SLUICE_E_WRONG_PHASE;
            auto range = ex.queryParams.equal_range(std::string(sv(name)));
            for (auto it = range.first; it != range.second; ++it) {
                if (index-- == 0) {
                    *o = out(it->second);
                    return SLUICE_OK;
                }
            }
            return SLUICE_E_NOT_FOUND;
        };
        a.get_peer_certificate = [](sluice_exchange* h, sluice_str* o) {
            auto& ex = FakeExchange::from(h);
            if (!readable(ex)) return SLUICE_E_WRONG_PHASE;
            if (!ex.peerCertificatePem) return SLUICE_E_NOT_FOUND;
            *o = out(*ex.peerCertificatePem);
            return SLUICE_OK;
        };
        a.header_get = [](sluice_exchange* h, sluice_message_kind m, sluice_str name, size_t index, sluice_str* o) {
            auto& ex = FakeExchange::from(h);
            auto* list = headers(ex, m);
            if (list == nullptr) return SLUICE_E_INVALID;
            if (!readable(ex)) return SLUICE_E_WRONG_PHASE;
            for (const auto& [n, v] : *list) {
                if (named(n, sv(name), m) && index-- == 0) {
                    *o = out(v);
                    return SLUICE_OK;
                }
            }
            return SLUICE_E_NOT_FOUND;
        };
        a.header_count = [](sluice_exchange* h, sluice_message_kind m, size_t* o) {
            auto& ex = FakeExchange::from(h);
            auto* list = headers(ex, m);
            if (list == nullptr) return SLUICE_E_INVALID;
            if (!readable(ex)) return SLUICE_E_WRONG_PHASE;
            *o = list->size();
            return SLUICE_OK;
        };
        a.header_at = [](sluice_exchange* h, sluice_message_kind m, size_t index, sluice_header* o) {
            auto& ex = FakeExchange::from(h);
            auto* list = headers(ex, m);
            if (list == nullptr) return SLUICE_E_INVALID;
            if (!readable(ex)) return SLUICE_E_WRONG_PHASE;
            if (index >= list->size()) return SLUICE_E_NOT_FOUND;
            o->name = out((*list)[index].first);
            o->value = out((*list)[index].second);
            return SLUICE_OK;
        };
        a.header_set = [](sluice_exchange* h, sluice_message_kind m, sluice_str name, sluice_str value) {
            auto& ex = FakeExchange::from(h);
            auto* list = headers(ex, m);
            if (list == nullptr || !isFieldName(sv(name)) || !isFieldValue(sv(value))) return SLUICE_E_INVALID;
            if (!mayChange(ex, m)) return SLUICE_E_WRONG_PHASE;
            removeAll(*list, sv(name), m);
            list->emplace_back(std::string(sv(name)), std::string(sv(value)));
            return SLUICE_OK;
        };
        a.header_add = [](sluice_exchange* h, sluice_message_kind m, sluice_str name, sluice_str value) {
            auto& ex = FakeExchange::from(h);
            auto* list = headers(ex, m);
            if (list == nullptr || !isFieldName(sv(name)) || !isFieldValue(sv(value))) return SLUICE_E_INVALID;
            if (!mayChange(ex, m)) return SLUICE_E_WRONG_PHASE;
            addField(*list, m, sv(name), sv(value));
            return SLUICE_OK;
        };
        a.header_remove = [](sluice_exchange* h, sluice_message_kind m, sluice_str name) {
            auto& ex = FakeExchange::from(h);
            auto* list = headers(ex, m);
            if (list == nullptr || !isFieldName(sv(name))) return SLUICE_E_INVALID;
            if (!mayChange(ex, m)) return SLUICE_E_WRONG_PHASE;
            removeAll(*list, sv(name), m);
            return SLUICE_OK;
        };
        a.body_get = [](sluice_exchange* h, sluice_message_kind m, sluice_str* o) {
            auto& ex = FakeExchange::from(h);
            bool req = m == SLUICE_MSG_REQUEST;
            if (!(req ? readable(ex) : in(ex, {SLUICE_PHASE_RESPONSE, SLUICE_PHASE_LOG}))) return SLUICE_E_WRONG_PHASE;
            auto& body = req ? ex.requestBody : ex.responseBody;
            if (!body) return SLUICE_E_UNSUPPORTED;
            *o = out(*body);
            return SLUICE_OK;
        };
        a.body_set = [](sluice_exchange* h, sluice_message_kind m, sluice_str bytes) {
            auto& ex = FakeExchange::from(h);
            bool req = m == SLUICE_MSG_REQUEST;
            if (ex.phase != (req ? SLUICE_PHASE_REQUEST : SLUICE_PHASE_RESPONSE)) return SLUICE_E_WRONG_PHASE;
            (req ? ex.requestBody : ex.responseBody) = std::string(sv(bytes));
            return SLUICE_OK;
        };
        a.message_get = [](sluice_exchange* h, sluice_message_kind m, const sluice_value** o) {
            auto& ex = FakeExchange::from(h);
            if (!readable(ex)) return SLUICE_E_WRONG_PHASE;
            sluice_status forced = m == SLUICE_MSG_REQUEST ? ex.requestMessageStatus : ex.responseMessageStatus;
            if (forced != SLUICE_OK) return forced;
            const sluice_value* v = m == SLUICE_MSG_REQUEST ? ex.requestMessage : ex.responseMessage;
            if (v == nullptr) return SLUICE_E_NOT_FOUND;
            *o = v;
            return SLUICE_OK;
        };
        a.message_set = [](sluice_exchange* h, sluice_message_kind m, const sluice_value* v, sluice_str type) {
            auto& ex = FakeExchange::from(h);
            if (v == nullptr || type.len == 0) return SLUICE_E_INVALID;
            bool req = m == SLUICE_MSG_REQUEST;
            if (ex.phase != (req ? SLUICE_PHASE_REQUEST : SLUICE_PHASE_RESPONSE)) return SLUICE_E_WRONG_PHASE;
            (req ? ex.requestMessage : ex.responseMessage) = v;
            (req ? ex.requestMessageMediaType : ex.responseMessageMediaType) = std::string(sv(type));
            return SLUICE_OK;
        };
        a.arena_alloc = [](sluice_exchange* h, size_t size) { return FakeExchange::from(h).allocate(size); };
        a.property_get = [](sluice_exchange* h, sluice_str name, sluice_str* o) {
            auto& ex = FakeExchange::from(h);
            if (!readable(ex)) return SLUICE_E_WRONG_PHASE;
            auto it = ex.properties.find(sv(name));
            if (it == ex.properties.end()) return SLUICE_E_NOT_FOUND;
            *o = out(it->second);
            return SLUICE_OK;
        };
        a.property_set = [](sluice_exchange* h, sluice_str name, sluice_str value) {
            auto& ex = FakeExchange::from(h);
            if (name.len == 0) return SLUICE_E_INVALID;
            if (!active(ex)) return SLUICE_E_WRONG_PHASE;
            ex.properties[std::string(sv(name))] = std::string(sv(value));
            return SLUICE_OK;
        };
        a.respond = [](sluice_exchange* h, int32_t status, sluice_str type, sluice_str body) {
            auto& ex = FakeExchange::from(h);
            if (status < 200 || status > 599 || !isFieldValue(sv(type))) return SLUICE_E_INVALID;
            if (!active(ex)) return SLUICE_E_WRONG_PHASE;
            ex.respondedStatus = status;
            ex.respondedContentType = std::string(sv(type));
            ex.respondedBody = std::string(sv(body));
            return SLUICE_OK;
        };
        a.respond_error = [](sluice_exchange* h, int32_t status, int64_t code, sluice_str message,
                             sluice_str description) {
            auto& ex = FakeExchange::from(h);
            if (status < 200 || status > 599) return SLUICE_E_INVALID;
            if (!active(ex)) return SLUICE_E_WRONG_PHASE;
            ex.respondedStatus = status;
            ex.respondedContentType = "application/json";
            ex.respondedBody = "{\"code\":" + std::to_string(code) + ",\"message\":\"" + std::string(sv(message)) +
                               "\",\"description\":\"" + std::string(sv(description)) + "\"}";
            return SLUICE_OK;
        };
        a.resume = [](sluice_exchange* h, sluice_action next) {
            auto& ex = FakeExchange::from(h);
            if (!active(ex)) return SLUICE_E_WRONG_PHASE;
            if (ex.resumedWith) return SLUICE_E_INVALID;  // resume is called once
            ex.resumedWith = next;
            return SLUICE_OK;
        };
        a.timer_start = [](sluice_exchange* h, uint64_t delay, sluice_timer_callback cb, void* user,
                           sluice_timer_id* id) {
            auto& ex = FakeExchange::from(h);
            if (cb == nullptr || id == nullptr) return SLUICE_E_INVALID;
            if (!active(ex)) return SLUICE_E_WRONG_PHASE;
            *id = ++ex.host->_nextTimer;
            ex.timers.push_back({*id, ex.host->_now + delay, cb, user});
            return SLUICE_OK;
        };
        a.timer_cancel = [](sluice_exchange* h, sluice_timer_id id) {
            auto& ex = FakeExchange::from(h);
            if (!active(ex)) return SLUICE_E_WRONG_PHASE;
            for (auto it = ex.timers.begin(); it != ex.timers.end(); ++it) {
                if (it->id == id) {
                    ex.timers.erase(it);
                    return SLUICE_OK;
                }
            }
            return SLUICE_E_NOT_FOUND;
        };
        a.http_call = [](sluice_exchange* h, const sluice_http_request* r, sluice_http_callback cb, void* user) {
            auto& ex = FakeExchange::from(h);
            if (r == nullptr || cb == nullptr) return SLUICE_E_INVALID;
            if (!active(ex)) return SLUICE_E_WRONG_PHASE;
            PendingHttp call{
                std::string(sv(r->method)), std::string(sv(r->url)), {}, std::string(sv(r->body)), cb, user};
            for (size_t i = 0; i < r->header_count; ++i) {
                call.headers.emplace_back(std::string(sv(r->headers[i].name)), std::string(sv(r->headers[i].value)));
            }
            ex.httpCalls.push_back(std::move(call));
            return SLUICE_OK;
        };
        a.counter_add = [](sluice_exchange* h, sluice_str key, int64_t delta, uint64_t window,
                           sluice_counter_callback cb, void* user) {
            auto& ex = FakeExchange::from(h);
            if (cb == nullptr) return SLUICE_E_INVALID;
            if (!active(ex)) return SLUICE_E_WRONG_PHASE;
            ex.counters.push_back({std::string(sv(key)), delta, window, cb, user});
            return SLUICE_OK;
        };
        a.key_manager_validate = [](sluice_exchange* h, sluice_str km, sluice_str token, sluice_token_callback cb,
                                    void* user) {
            auto& ex = FakeExchange::from(h);
            if (cb == nullptr) return SLUICE_E_INVALID;
            if (ex.phase != SLUICE_PHASE_REQUEST) return SLUICE_E_WRONG_PHASE;
            ex.tokenValidations.push_back({std::string(sv(km)), std::string(sv(token)), cb, user});
            return SLUICE_OK;
        };
        a.analytics_emit = [](sluice_exchange* h, sluice_str type, sluice_str json) {
            auto& ex = FakeExchange::from(h);
            if (!readable(ex)) return SLUICE_E_WRONG_PHASE;
            ex.analytics.push_back({std::string(sv(type)), std::string(sv(json))});
            return SLUICE_OK;
        };
        a.buffer_append = [](sluice_buffer* b, sluice_str bytes) {
            if (b == nullptr) return SLUICE_E_INVALID;
            b->bytes.append(sv(bytes));
            return SLUICE_OK;
        };
        return a;
    }

    sluice_host_api _api;
    std::vector<const sluice_plugin_manifest*> _manifests;
    std::vector<LogLine> _logs;
    std::uint64_t _now = 0;
    sluice_timer_id _nextTimer = 0;
    std::map<std::string, std::pair<std::uint64_t, std::int64_t>> _counters;
};

}  // namespace sluice::sdk::testing
