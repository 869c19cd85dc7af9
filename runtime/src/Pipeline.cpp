#include "sluice/runtime/Pipeline.h"

#include "sluice/runtime/Logging.h"

namespace sluice::runtime {

namespace {

constexpr std::int64_t kHandlerErrorCode = 101500;

ChainResult settle(Exchange& ex, sluice_action action, const ComponentInstance& handler, std::size_t index)
{
    switch (action) {
        case SLUICE_ACTION_CONTINUE: return {ChainOutcome::Continue, index};
        case SLUICE_ACTION_PAUSE: return {ChainOutcome::Pause, index};
        case SLUICE_ACTION_RESPOND:
            if (ex.localResponse) {
                return {ChainOutcome::Respond, index};
            }
            Logging::get("pipeline")
                ->error("handler '{}' returned RESPOND without preparing a response", handler.name());
            break;
        case SLUICE_ACTION_ERROR: break;
        default:
            Logging::get("pipeline")
                ->error("handler '{}' returned unknown action {}", handler.name(), static_cast<int>(action));
            break;
    }
    ex.localResponse = LocalResponse{
        500, "application/json",
        errorBody(kHandlerErrorCode, "Internal Server Error", "The gateway could not process the request.")};
    return {ChainOutcome::Error, index};
}

}  // namespace

Pipeline::Pipeline(std::vector<std::shared_ptr<ComponentInstance>> handlers) : _handlers(std::move(handlers))
{
    for (const auto& h : _handlers) {
        _needsRequestBody = _needsRequestBody || (h->component().flags & SLUICE_COMPONENT_NEEDS_REQUEST_BODY) != 0;
        _needsResponseBody = _needsResponseBody || (h->component().flags & SLUICE_COMPONENT_NEEDS_RESPONSE_BODY) != 0;
    }
}

ChainResult Pipeline::runRequest(Exchange& ex, std::size_t from) const
{
    ex.phase = SLUICE_PHASE_REQUEST;
    for (std::size_t i = from; i < _handlers.size(); ++i) {
        const auto* vt = _handlers[i]->handler();
        if (vt == nullptr || vt->on_request == nullptr) {
            continue;
        }
        ChainResult r = settle(ex, vt->on_request(_handlers[i]->instance(), ex.handle()), *_handlers[i], i);
        if (r.outcome != ChainOutcome::Continue) {
            return r;
        }
    }
    return {ChainOutcome::Continue, _handlers.size()};
}

ChainResult Pipeline::runResponse(Exchange& ex, std::size_t until) const
{
    ex.phase = SLUICE_PHASE_RESPONSE;
    for (std::size_t i = std::min(until, _handlers.size()); i-- > 0;) {
        const auto* vt = _handlers[i]->handler();
        if (vt == nullptr || vt->on_response == nullptr) {
            continue;
        }
        ChainResult r = settle(ex, vt->on_response(_handlers[i]->instance(), ex.handle()), *_handlers[i], i);
        if (r.outcome != ChainOutcome::Continue) {
            return r;
        }
    }
    return {ChainOutcome::Continue, 0};
}

void Pipeline::runLog(Exchange& ex) const
{
    ex.phase = SLUICE_PHASE_LOG;
    for (const auto& h : _handlers) {
        const auto* vt = h->handler();
        if (vt != nullptr && vt->on_log != nullptr) {
            vt->on_log(h->instance(), ex.handle());
        }
    }
}

}  // namespace sluice::runtime
