#pragma once

// The Sluice C++ SDK: header-only, compiled into each plugin. Include this one header.

#include "sluice/abi.h"
#include "sluice/sdk/Component.hpp"
#include "sluice/sdk/Logger.hpp"
#include "sluice/sdk/MessageContext.hpp"
#include "sluice/sdk/Plugin.hpp"
#include "sluice/sdk/Value.hpp"
