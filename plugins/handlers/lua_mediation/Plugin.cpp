// Registration only: the manifest and the exported entry symbol.
#include <sluice/sdk.hpp>

#include "LuaMediation.h"

SLUICE_PLUGIN("lua_mediation", "1.3.0", "Lua 5.4 mediation scripts", sluice::plugins::LuaMediationPlain,
              sluice::plugins::LuaMediationRequestBody, sluice::plugins::LuaMediationResponseBody,
              sluice::plugins::LuaMediationBody)
