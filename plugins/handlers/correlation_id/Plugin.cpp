// Registration only: the manifest and the exported entry symbol.
#include <sluice/sdk.hpp>

#include "CorrelationId.h"

SLUICE_PLUGIN("correlation_id", "1.0.0", "Correlation ID header in and out", sluice::plugins::CorrelationId)
