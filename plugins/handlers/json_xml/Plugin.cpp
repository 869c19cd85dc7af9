// Registration only: the manifest and the exported entry symbol.
#include <sluice/sdk.hpp>

#include "JsonXml.h"

SLUICE_PLUGIN("json_xml", "1.3.0", "JSON <-> XML message conversion", sluice::plugins::JsonXmlRequest,
              sluice::plugins::JsonXmlResponse)
