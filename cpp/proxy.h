// Proxies: the Lua side of external tables (a table per host table id, with a hidden metatable),
// and the allocation of table ids.
#pragma once

#include <stdint.h>

#include "lua_api.h"

namespace lh {

// Creates the proxies' metatable (with these metamethods, a __name and a protected
// __metatable) and the proxy cache.
void open_proxies(lua_State* L, const luaL_Reg* metamethods);

// Pushes the proxy of table id (the same proxy object for the same id while it is alive).
void push_proxy(lua_State* L, uint32_t id);
// The id behind the proxy at idx, or 0 when the value is not a proxy. Only a table that
// push_proxy made passes: one with the proxies' own metatable (which no Lua code can reach).
uint32_t proxy_id(lua_State* L, int idx);
// proxy_id, or a type error naming argument idx.
uint32_t check_proxy(lua_State* L, int idx);
// The light-userdata key of a proxy's one raw entry (its id), for the fast path.
const void* proxy_id_key();

// A new table id (ext.table(), deep copies); an error once the ids are exhausted.
uint32_t allocate_table_id(lua_State* L);

// Writes the ids of the external tables whose proxies are alive in the VM (u32 LE each, at
// most max) at out; returns how many there are. Run after a full collection.
uint32_t live_table_ids(lua_State* L, uint8_t* out, uint32_t max);

}  // namespace lh
