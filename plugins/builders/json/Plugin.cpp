// Registration only: the manifest and the exported entry symbol.
#include <sluice/sdk.hpp>

#include "JsonBuilder.h"

SLUICE_PLUGIN("json_builder", "1.1.0", "JSON message builder", sluice::plugins::JsonBuilder)
