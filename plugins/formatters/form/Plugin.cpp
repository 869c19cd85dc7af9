// Registration only: the manifest and the exported entry symbol.
#include <sluice/sdk.hpp>

#include "FormFormatter.h"

SLUICE_PLUGIN("form_formatter", "1.0.0", "Form (x-www-form-urlencoded) message formatter",
              sluice::plugins::FormFormatter)
