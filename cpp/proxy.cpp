// Proxies and table ids (proxy.h). Public API only.
#include "proxy.h"

#include <string.h>

#include "vm_state.h"

namespace lh {

// Registry and proxy keys: addresses no Lua code can produce (light userdata).
static const char kMetaKey = 0;   // registry: the proxies' shared metatable
static const char kCacheKey = 0;  // registry: id -> proxy, weak values
static const char kIdKey = 0;     // proxy: its id (the only raw entry a proxy ever has)

const void* proxy_id_key() { return &kIdKey; }

void open_proxies(lua_State* L, const luaL_Reg* metamethods) {
  lua_newtable(L);
  luaL_setfuncs(L, metamethods, 0);
  lua_pushliteral(L, "external table");
  lua_setfield(L, -2, "__name");      // tostring and error messages say "external table"
  lua_pushliteral(L, "external table");
  lua_setfield(L, -2, "__metatable");  // getmetatable hides it; setmetatable refuses
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kMetaKey);

  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kCacheKey);
}

void push_proxy(lua_State* L, uint32_t id) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kCacheKey);
  if (lua_rawgeti(L, -1, lua_Integer(id)) == LUA_TTABLE) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  lua_createtable(L, 0, 1);
  lua_pushinteger(L, lua_Integer(id));
  lua_rawsetp(L, -2, &kIdKey);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kMetaKey);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, lua_Integer(id));
  lua_remove(L, -2);
}

uint32_t proxy_id(lua_State* L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kMetaKey);
  bool proxy = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if (!proxy) return 0;  // a plain table, whatever its raw entries say
  uint32_t id = 0;
  if (lua_rawgetp(L, idx, &kIdKey) == LUA_TNUMBER) id = uint32_t(lua_tointeger(L, -1));
  lua_pop(L, 1);
  return id;
}

uint32_t check_proxy(lua_State* L, int idx) {
  uint32_t id = proxy_id(L, idx);
  if (id == 0) luaL_typeerror(L, idx, "external table");
  return id;
}

uint32_t allocate_table_id(lua_State* L) {
  Vm& g = g_vm;
  if (g.next_table_id == 0 || g.next_table_id > kMaxTableId)
    luaL_error(L, "external table ids are exhausted (2^32 - 2 tables)");
  uint32_t id = g.next_table_id;
  g.next_table_id = id == kMaxTableId ? 0 : id + 1;
  return id;
}

uint32_t live_table_ids(lua_State* L, uint8_t* out, uint32_t max) {
  // The proxy cache has weak values: after a full collection it holds exactly the proxies
  // something in the VM still references (globals, upvalues, coroutines, _home). No allocation.
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kCacheKey);
  uint32_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (n < max) {
      uint32_t id = uint32_t(lua_tointeger(L, -2));
      memcpy(out + 4 * size_t(n), &id, 4);
    }
    ++n;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return n;
}

}  // namespace lh
