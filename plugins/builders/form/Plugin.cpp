// Registration only: the manifest and the exported entry symbol.
#include <sluice/sdk.hpp>

#include "FormBuilder.h"

SLUICE_PLUGIN("form_builder", "1.0.0", "Form (x-www-form-urlencoded) message builder", sluice::plugins::FormBuilder)
