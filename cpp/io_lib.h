// The sandbox's io library: the three standard files and nothing else (no io.open, no popen).
#pragma once

#include "lua_api.h"

namespace lh {

// Pushes the io library (a table).
void open_io(lua_State* L);

}  // namespace lh
