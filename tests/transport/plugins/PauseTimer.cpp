// Test plugin: pauses the chain on a timer and resumes it, proving the asynchronous path.
// Config: {"delay_ms": 20, "phase": "request"|"response", "then": "continue"|"respond"|"error",
// "respond_status": 202} (the status of "respond", always with a text body).
// It records what happened in X-Pause-* headers so the test can see it from the client side.
// With "block_ms" it instead holds the worker thread that long and continues: a misbehaving
// handler, which lets a test queue several events for the worker's next epoll batch. With
// "create_delay_ms" its creation takes that long: a slow start or reload. With "destroy_delay_ms"
// its destruction does, and then logs "test_pause_timer destroyed": what a reload replaced.
#include <chrono>
#include <string>
#include <thread>

#include <sluice/sdk.hpp>

namespace {

using namespace sluice::sdk;

class PauseTimer final : public Handler {
public:
    static constexpr ComponentInfo kInfo{"test_pause_timer",
                                         "1.0.0",
                                         0,
                                         0,
                                         R"({"type":"object","additionalProperties":false,"properties":{
            "delay_ms":{"type":"integer","minimum":0},
            "block_ms":{"type":"integer","minimum":0},
            "create_delay_ms":{"type":"integer","minimum":0,"maximum":60000},
            "destroy_delay_ms":{"type":"integer","minimum":0,"maximum":60000},
            "phase":{"enum":["request","response"]},
            "then":{"enum":["continue","respond","error"]},
            "respond_status":{"type":"integer","minimum":200,"maximum":599}}})",
                                         "test: pause on a timer, then resume"};

    explicit PauseTimer(const ComponentInit& init)
        : Handler(init),
          _delay(static_cast<std::uint64_t>(init.config()["delay_ms"].asInt(20))),
          _block(init.config()["block_ms"].asInt(0)),
          _onResponse(init.config()["phase"].asString("request") == "response"),
          _then(init.config()["then"].asString("continue")),
          _respondStatus(static_cast<int>(init.config()["respond_status"].asInt(202))),
          _destroyDelay(init.config()["destroy_delay_ms"].asInt(0))
    {
        std::this_thread::sleep_for(std::chrono::milliseconds(init.config()["create_delay_ms"].asInt(0)));
    }
    ~PauseTimer() override
    {
        if (_destroyDelay > 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(_destroyDelay));
            logger().info("test_pause_timer destroyed");
        }
    }
    PauseTimer(const PauseTimer&) = delete;
    PauseTimer& operator=(const PauseTimer&) = delete;

    Action onRequest(MessageContext& ctx) override
    {
        if (_block > 0) {
            logger().info("test_pause_timer blocking the worker");
            std::this_thread::sleep_for(std::chrono::milliseconds(_block));
            return Action::Continue;
        }
        return _onResponse ? Action::Continue : pause(ctx);
    }
    Action onResponse(MessageContext& ctx) override { return _onResponse ? pause(ctx) : Action::Continue; }

private:
    Action pause(MessageContext& ctx)
    {
        if (ctx.startTimer(_delay, &PauseTimer::fired, this) != SLUICE_OK) {
            return Action::Error;
        }
        return Action::Pause;
    }

    static void fired(void* user, sluice_exchange* ex, sluice_timer_id)
    {
        auto* self = static_cast<PauseTimer*>(user);
        MessageContext ctx(self->host(), ex, self->logger());
        Message target = self->_onResponse ? Message::Response : Message::Request;
        ctx.setHeader(target, "X-Pause-Resumed", "yes");
        if (self->_then == "respond") {
            ctx.respond(self->_respondStatus, "text/plain", "answered after a pause");
            ctx.resume(Action::Respond);
        } else if (self->_then == "error") {
            ctx.resume(Action::Error);
        } else {
            ctx.resume(Action::Continue);
        }
    }

    std::uint64_t _delay;
    std::int64_t _block;
    bool _onResponse;
    std::string _then;
    int _respondStatus;
    std::int64_t _destroyDelay;
};

}  // namespace

SLUICE_PLUGIN("test_pause_timer", "1.0.0", "test plugin: pause and resume on a timer", PauseTimer)
