// Registration only: the manifest and the exported entry symbol.
#include <sluice/sdk.hpp>

#include "LuaMediation.h"

SLUICE_PLUGIN("lua_mediation", "1.2.1", "Lua 5.4 mediation scripts", sluice::plugins::LuaMediationPlain,
              sluice::plugins::LuaMediationRequestBody, sluice::plugins::LuaMediationResponseBody,
              sluice::plugins::LuaMediationBody)
