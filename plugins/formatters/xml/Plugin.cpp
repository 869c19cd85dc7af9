// Registration only: the manifest and the exported entry symbol.
#include <sluice/sdk.hpp>

#include "XmlFormatter.h"

SLUICE_PLUGIN("xml_formatter", "1.0.1", "XML message formatter", sluice::plugins::XmlFormatter)
