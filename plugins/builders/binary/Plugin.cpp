// Registration only: the manifest and the exported entry symbol.
#include <sluice/sdk.hpp>

#include "BinaryBuilder.h"

SLUICE_PLUGIN("binary_builder", "1.0.0", "application/octet-stream message builder", sluice::plugins::BinaryBuilder)
