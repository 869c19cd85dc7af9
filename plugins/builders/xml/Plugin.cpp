// Registration only: the manifest and the exported entry symbol.
#include <sluice/sdk.hpp>

#include "XmlBuilder.h"

SLUICE_PLUGIN("xml_builder", "1.3.0", "XML message builder", sluice::plugins::XmlBuilder)
