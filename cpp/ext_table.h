// External tables: Lua-side proxies whose entries live only in the host, behind five imports.
#pragma once

#include <stdint.h>

#include "bytes.h"
#include "lua_api.h"

namespace lh {

// Creates the proxy metatable, the proxy cache and the `ext` library (ext.table, ext.id).
void open_ext(lua_State* L);

// Pushes the proxy of table id (the same proxy object for the same id while it is alive).
void push_proxy(lua_State* L, uint32_t id);
// The id behind the proxy at idx, or 0 when the value is not a proxy.
uint32_t proxy_id(lua_State* L, int idx);

// Host calls with Lua's error handling: failures raise clear Lua errors.
void host_set(lua_State* L, uint32_t id, const Bytes& key, const Bytes& value);

// The operations behind the metamethods, also used by the sandbox's rawget/rawset/rawlen/next.
void ext_get(lua_State* L, uint32_t id, int key);             // pushes the value (or nil)
void ext_set(lua_State* L, uint32_t id, int key, int value);  // nil deletes
lua_Integer ext_len(lua_State* L, uint32_t id);               // a border, Lua's rule
int ext_next(lua_State* L, uint32_t id, int key);             // next(t, k): pushes k, v or nil
// Writes the ids of the external tables whose proxies are alive in the VM (u32 LE each, at
// most max) at out; returns how many there are. Run after a full collection.
uint32_t live_table_ids(lua_State* L, uint8_t* out, uint32_t max);

}  // namespace lh
