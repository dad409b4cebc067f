// External tables: the operations behind a proxy's metamethods and the `ext` library.
#pragma once

#include <stdint.h>

#include "lua_api.h"

namespace lh {

// Creates the proxies' metatable and the `ext` library (ext.table, ext.id).
void open_ext(lua_State* L);

// The operations behind the metamethods, also used by the sandbox's rawget/rawset/rawlen.
void ext_get(lua_State* L, uint32_t id, int key);             // pushes the value (or nil)
void ext_set(lua_State* L, uint32_t id, int key, int value);  // nil deletes
lua_Integer ext_len(lua_State* L, uint32_t id);               // a border, Lua's rule

}  // namespace lh
