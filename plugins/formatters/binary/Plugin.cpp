// Registration only: the manifest and the exported entry symbol.
#include <sluice/sdk.hpp>

#include "BinaryFormatter.h"

SLUICE_PLUGIN("binary_formatter", "1.0.0", "application/octet-stream message formatter",
              sluice::plugins::BinaryFormatter)
