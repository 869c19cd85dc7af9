// Test plugin: makes an outgoing HTTP call through the host (http_call) while the chain is
// paused, then resumes; and counts requests through counter_add. Results travel in request
// headers to the backend (X-Call-*, X-Count) so the test can read them from the echo backend.
// Config: {"url": "http://127.0.0.1:PORT/echo", "counter_window_ms": 60000}
#include <string>

#include <sluice/sdk.hpp>

namespace {

using namespace sluice::sdk;

class CallOut final : public Handler {
public:
    static constexpr ComponentInfo kInfo{
        "test_call_out", "1.0.0", 0, 0,
        R"({"type":"object","additionalProperties":false,"required":["url"],"properties":{
            "url":{"type":"string"},"counter_window_ms":{"type":"integer","minimum":0}}})",
        "test: http_call and counter_add while paused"};

    explicit CallOut(const ComponentInit& init)
        : Handler(init),
          _url(init.config()["url"].asString()),
          _window(static_cast<std::uint64_t>(init.config()["counter_window_ms"].asInt(60000)))
    {
    }

    Action onRequest(MessageContext& ctx) override
    {
        sluice_header header{str("X-From-Plugin"), str("call-out")};
        sluice_http_request request{};
        request.struct_size = sizeof request;
        request.method = str("GET");
        request.url = str(_url);
        request.headers = &header;
        request.header_count = 1;
        request.timeout_ms = 2000;
        sluice_status st = ctx.httpCall(request, &CallOut::answered, this);
        if (st != SLUICE_OK) {
            ctx.setHeader(Message::Request, "X-Call-Status", "start-failed-" + std::to_string(static_cast<int>(st)));
            return Action::Continue;
        }
        return Action::Pause;
    }

private:
    static void answered(void* user, sluice_exchange* ex, const sluice_http_response* response)
    {
        auto* self = static_cast<CallOut*>(user);
        MessageContext ctx(self->host(), ex, self->logger());
        if (response->status == SLUICE_OK) {
            ctx.setHeader(Message::Request, "X-Call-Status", std::to_string(response->http_status));
            ctx.setHeader(Message::Request, "X-Call-Body-Length", std::to_string(response->body.len));
        } else {
            ctx.setHeader(Message::Request, "X-Call-Status", "failed");
        }
        if (ctx.counterAdd("test-call-out", 1, self->_window, &CallOut::counted, self) != SLUICE_OK) {
            ctx.resume(Action::Error);
        }
    }

    static void counted(void* user, sluice_exchange* ex, sluice_status status, std::int64_t value)
    {
        auto* self = static_cast<CallOut*>(user);
        MessageContext ctx(self->host(), ex, self->logger());
        if (status == SLUICE_OK) {
            ctx.setHeader(Message::Request, "X-Count", std::to_string(value));
        }
        ctx.resume(Action::Continue);
    }

    std::string _url;
    std::uint64_t _window;
};

}  // namespace

SLUICE_PLUGIN("test_call_out", "1.0.0", "test plugin: http_call and counters", CallOut)
