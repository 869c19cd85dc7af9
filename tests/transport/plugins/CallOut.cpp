// Test plugin: makes an outgoing HTTP call through the host (http_call) while the chain is
// paused, then resumes; and counts requests through counter_add. Results travel in request
// headers to the backend (X-Call-*, X-Count) so the test can read them from the echo backend.
// Config: {"url": "http://127.0.0.1:PORT/echo", "counter_window_ms": 60000, "calls": 1, "block_ms": 0}
// With "calls" > 1 the handler makes its calls one after another, each from the callback of the
// one before; "block_ms" then blocks the worker that long before each further call (test only:
// a backend's reset of the connection just used lands before the next call writes on it). A
// callback run from inside http_call itself, which the SDK rules out, shows as X-Call-Reentered.
#include <chrono>
#include <string>
#include <thread>

#include <sluice/sdk.hpp>

namespace {

using namespace sluice::sdk;

class CallOut final : public Handler {
public:
    static constexpr ComponentInfo kInfo{
        "test_call_out",
        "1.0.0",
        0,
        0,
        R"({"type":"object","additionalProperties":false,"required":["url"],"properties":{
            "url":{"type":"string"},"counter_window_ms":{"type":"integer","minimum":0},
            "calls":{"type":"integer","minimum":1,"maximum":4},
            "block_ms":{"type":"integer","minimum":0,"maximum":1000}}})",
        "test: http_call and counter_add while paused"};

    explicit CallOut(const ComponentInit& init)
        : Handler(init),
          _url(init.config()["url"].asString()),
          _window(static_cast<std::uint64_t>(init.config()["counter_window_ms"].asInt(60000))),
          _calls(static_cast<int>(init.config()["calls"].asInt(1))),
          _blockMs(static_cast<int>(init.config()["block_ms"].asInt(0)))
    {
    }

    Action onRequest(MessageContext& ctx) override
    {
        if (!startCall(ctx)) {
            return Action::Continue;
        }
        return Action::Pause;
    }

private:
    // False when http_call refused to start (said in X-Call-Status).
    bool startCall(MessageContext& ctx)
    {
        // Besides its own field, what a plugin forwarding a client's fields could pass: the
        // runtime frames the call and names the host itself, and drops these.
        const sluice_header headers[] = {
            {str("X-From-Plugin"), str("call-out")}, {str("HOST"), str("evil.example")},
            {str("Content-Length"), str("5")},       {str("Transfer-Encoding"), str("chunked")},
            {str("Connection"), str("close")},       {str("Expect"), str("100-continue")},
        };
        sluice_http_request request{};
        request.struct_size = sizeof request;
        request.method = str("GET");
        request.url = str(_url);
        request.headers = headers;
        request.header_count = sizeof headers / sizeof headers[0];
        request.timeout_ms = 2000;
        t_inHttpCall = true;
        sluice_status st = ctx.httpCall(request, &CallOut::answered, this);
        t_inHttpCall = false;
        if (st != SLUICE_OK) {
            ctx.setHeader(Message::Request, "X-Call-Status", "start-failed-" + std::to_string(static_cast<int>(st)));
            return false;
        }
        return true;
    }

    static void answered(void* user, sluice_exchange* ex, const sluice_http_response* response)
    {
        auto* self = static_cast<CallOut*>(user);
        MessageContext ctx(self->host(), ex, self->logger());
        if (t_inHttpCall) {
            ctx.setHeader(Message::Request, "X-Call-Reentered", "yes");
        }
        const int made = std::stoi(std::string(ctx.property("test.calls_made").value_or("0"))) + 1;
        ctx.setProperty("test.calls_made", std::to_string(made));
        ctx.setHeader(Message::Request, "X-Call-" + std::to_string(made) + "-Status",
                      response->status == SLUICE_OK ? std::to_string(response->http_status) : "failed");
        if (made < self->_calls) {
            std::this_thread::sleep_for(std::chrono::milliseconds(self->_blockMs));
            if (self->startCall(ctx)) {
                return;  // answered again
            }
        }
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

    static thread_local bool t_inHttpCall;

    std::string _url;
    std::uint64_t _window;
    int _calls;
    int _blockMs;
};

thread_local bool CallOut::t_inHttpCall = false;

}  // namespace

SLUICE_PLUGIN("test_call_out", "1.0.0", "test plugin: http_call and counters", CallOut)
