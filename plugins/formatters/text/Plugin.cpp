// Registration only: the manifest and the exported entry symbol.
#include <sluice/sdk.hpp>

#include "TextFormatter.h"

SLUICE_PLUGIN("text_formatter", "1.0.0", "text/plain message formatter", sluice::plugins::TextFormatter)
