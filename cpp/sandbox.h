// The sandboxed standard libraries: what Lua code can reach, and nothing outside the module.
#pragma once

#include "lua_api.h"

namespace lh {

// Opens base, coroutine, table, string, math, utf8, a filtered debug, io (output only),
// os (clock, time, date, difftime), package (preload only), ext, and makes the raw access
// functions aware of external tables.
void open_sandbox(lua_State* L);

// math.randomseed(a, b) with the original function, whatever the scripts did to `math`.
void seed_random(lua_State* L, lua_Integer a, lua_Integer b);

}  // namespace lh
