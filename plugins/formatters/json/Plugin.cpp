// Registration only: the manifest and the exported entry symbol.
#include <sluice/sdk.hpp>

#include "JsonFormatter.h"

SLUICE_PLUGIN("json_formatter", "1.0.0", "JSON message formatter", sluice::plugins::JsonFormatter)
