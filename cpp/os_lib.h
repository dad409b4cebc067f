// The sandbox's os library: os.time, os.date, os.clock, os.difftime over the host's clock (UTC).
#pragma once

#include "lua_api.h"

namespace lh {

// Pushes the os library (a table).
void open_os(lua_State* L);

}  // namespace lh
