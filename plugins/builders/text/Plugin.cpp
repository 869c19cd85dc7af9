// Registration only: the manifest and the exported entry symbol.
#include <sluice/sdk.hpp>

#include "TextBuilder.h"

SLUICE_PLUGIN("text_builder", "1.0.0", "text/plain message builder", sluice::plugins::TextBuilder)
