#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "sluice/runtime/ComponentInstance.h"
#include "sluice/runtime/Exchange.h"

namespace sluice::runtime {

enum class ChainOutcome { Continue, Respond, Pause, Error };

struct ChainResult {
    ChainOutcome outcome = ChainOutcome::Continue;
    std::size_t index = 0;  // the handler that stopped the chain (or the chain size)
};

// A handler chain: request hooks in order, response hooks in reverse, log hooks last.
class Pipeline {
public:
    Pipeline() = default;
    explicit Pipeline(std::vector<std::shared_ptr<ComponentInstance>> handlers);

    const std::vector<std::shared_ptr<ComponentInstance>>& handlers() const noexcept { return _handlers; }
    bool empty() const noexcept { return _handlers.empty(); }
    // Some handler declared SLUICE_COMPONENT_NEEDS_REQUEST_BODY / _RESPONSE_BODY.
    bool needsRequestBody() const noexcept { return _needsRequestBody; }
    bool needsResponseBody() const noexcept { return _needsResponseBody; }

    // Runs on_request from handler `from` on. On Respond the local response is in the exchange;
    // on Error the pipeline prepares the standard 500 error.
    ChainResult runRequest(Exchange& ex, std::size_t from = 0) const;
    // Runs on_response for handlers [0, until) in reverse order.
    ChainResult runResponse(Exchange& ex, std::size_t until) const;
    // Runs every on_log hook.
    void runLog(Exchange& ex) const;

private:
    std::vector<std::shared_ptr<ComponentInstance>> _handlers;
    bool _needsRequestBody = false;
    bool _needsResponseBody = false;
};

}  // namespace sluice::runtime
