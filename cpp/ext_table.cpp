// External tables (ext_table.h): get, set and length through the host, the metamethods with
// their fast path, and the `ext` library. Public API only (the fast path reads Lua's stack
// through cpp/port/).
#include "ext_table.h"

#include <string.h>

#include "codec.h"
#include "host_calls.h"
#include "host_imports.h"
#include "port/port.h"
#include "proxy.h"
#include "traversal.h"

namespace lh {

// Finalizers run in whichever compute the collector runs them: their writes would escape the
// transaction of the compute that made the garbage, so external tables refuse them.
static void check_not_in_finalizer(lua_State* L) {
  if (port_finalizer_depth() > 0)
    luaL_error(L, "external tables cannot be written from a finalizer (__gc)");
}

// {====== get, set, length

void ext_get(lua_State* L, uint32_t id, int key) {
  int t = lua_type(L, key);
  if (t == LUA_TNIL || (t == LUA_TNUMBER && lua_tonumber(L, key) != lua_tonumber(L, key)) ||
      (t != LUA_TNUMBER && t != LUA_TSTRING && t != LUA_TBOOLEAN)) {
    lua_pushnil(L);  // such keys can never be stored, so reading them finds nothing
    return;
  }
  Bytes k(L);
  encode_key(L, key, k);
  host_get(L, id, k.data(), k.size(), push_stored_value);
}

void ext_set(lua_State* L, uint32_t id, int key, int value) {
  check_not_in_finalizer(L);
  key = lua_absindex(L, key);
  value = lua_absindex(L, value);
  Bytes k(L);
  encode_key(L, key, k);
  int type = lua_type(L, value);
  if (type == LUA_TNIL) {
    host_delete(L, id, k.data(), k.size());
    return;
  }
  if (type == LUA_TSTRING && lua_rawlen(L, value) >= kLargeString) {
    host_set_large_string(L, id, k, value);
    return;
  }
  Bytes v(L);
  if (uint64_t n = scalar_size(L, value))  // the common case: no tables to copy, no context
    write_scalar(L, value, v.extend(uint32_t(n)));
  else
    encode_stored_value(L, value, v);
  host_set(L, id, k, v);
}

static bool has_index(lua_State* L, uint32_t id, lua_Integer i) {
  Bytes k(L);
  lua_pushinteger(L, i);
  encode_key(L, -1, k);
  lua_pop(L, 1);
  return host_has(L, id, k.data(), k.size());
}

lua_Integer ext_len(lua_State* L, uint32_t id) {
  lua_Integer n = lua_Integer(js_ext_table_size(id));
  if (n == 0) return 0;
  if (has_index(L, id, n) && !has_index(L, id, n + 1)) return n;  // a proper sequence
  if (!has_index(L, id, 1)) return 0;
  // Unbound search, as Lua's luaH_getn does for its hash part: i present, j absent.
  lua_Integer i = 1, j = 2;
  while (has_index(L, id, j)) {
    i = j;
    if (j > LUA_MAXINTEGER / 2) {  // a pathological table: find a border linearly
      lua_Integer k = 1;
      while (has_index(L, id, k + 1)) ++k;
      return k;
    }
    j *= 2;
  }
  while (j - i > 1) {
    lua_Integer m = i + (j - i) / 2;
    if (has_index(L, id, m))
      i = m;
    else
      j = m;
  }
  return i;
}

// }======

// {====== metamethods and the ext library

static int proxy_index(lua_State* L) {
  uint8_t key[kFastKeyBytes];
  uint32_t key_len;
  if (uint32_t id = port_fast_index(L, proxy_id_key(), key, &key_len)) {
    host_get(L, id, key, key_len, push_stored_value);
    return 1;
  }
  ext_get(L, check_proxy(L, 1), 2);
  return 1;
}

static int proxy_newindex(lua_State* L) {
  uint8_t key[kFastKeyBytes], value[kFastValueBytes];
  uint32_t key_len, value_len;
  if (uint32_t id = port_fast_newindex(L, proxy_id_key(), key, &key_len, value, &value_len)) {
    check_not_in_finalizer(L);
    if (value_len == 0)
      host_delete(L, id, key, key_len);
    else
      host_set(L, id, key, key_len, value, value_len);
    return 0;
  }
  ext_set(L, check_proxy(L, 1), 2, 3);
  return 0;
}

static int proxy_len(lua_State* L) {
  lua_pushinteger(L, ext_len(L, check_proxy(L, 1)));
  return 1;
}

static int ext_table(lua_State* L) {
  push_proxy(L, allocate_table_id(L));
  return 1;
}

static int ext_id(lua_State* L) {
  uint32_t id = proxy_id(L, 1);
  if (id)
    lua_pushinteger(L, lua_Integer(id));
  else
    lua_pushnil(L);
  return 1;
}

void open_ext(lua_State* L) {
  static const luaL_Reg metamethods[] = {{"__index", proxy_index},
                                         {"__newindex", proxy_newindex},
                                         {"__len", proxy_len},
                                         {"__pairs", proxy_pairs},
                                         {nullptr, nullptr}};
  open_proxies(L, metamethods);
  static const luaL_Reg lib[] = {{"table", ext_table}, {"id", ext_id}, {nullptr, nullptr}};
  luaL_newlib(L, lib);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);  // require("ext") finds it too
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, "ext");
  lua_pop(L, 1);
  lua_setglobal(L, "ext");
}

// }======

}  // namespace lh
