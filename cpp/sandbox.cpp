// The sandboxed standard libraries. Nothing here reaches files, processes or the environment:
// output goes to the I/O buffer, time comes from the host, modules from package.preload.
// Public API only.
#include "sandbox.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ext_table.h"
#include "host_functions.h"
#include "io_lib.h"
#include "os_lib.h"
#include "package_lib.h"
#include "output.h"
#include "proxy.h"
#include "traversal.h"
#include "vm_state.h"

namespace lh {

static const char kRandomSeedKey = 0;  // registry: the original math.randomseed

// Makes the library at the top of the stack package.loaded[name] and the global name, as
// luaL_requiref does for Lua's own libraries (so require(name) finds it); pops it.
static void set_library(lua_State* L, const char* name) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
  lua_setglobal(L, name);
}

// {====== base library overrides

static int sandbox_print(lua_State* L) {
  int n = lua_gettop(L);
  for (int i = 1; i <= n; ++i) {
    size_t len;
    const char* s = luaL_tolstring(L, i, &len);  // __tostring and __name apply
    if (i > 1) output_write(L, kStdout, "\t", 1);
    output_write(L, kStdout, s, len);
    lua_pop(L, 1);
  }
  output_write(L, kStdout, "\n", 1);
  return 0;
}

// load(chunk [, chunkname [, mode [, env]]]) that accepts text only.
static int sandbox_load(lua_State* L) {
  int n = lua_gettop(L);
  const char* mode = luaL_optstring(L, 3, "t");
  if (strchr(mode, 'b'))
    return luaL_error(L, "binary chunks are not allowed (lua-home loads text only)");
  if (n < 3) lua_settop(L, 3);  // an absent env (arg 4) must stay absent
  lua_pushliteral(L, "t");
  lua_replace(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int sandbox_rawget(lua_State* L) {
  uint32_t id = proxy_id(L, 1);
  if (id == 0) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    lua_settop(L, 2);
    lua_rawget(L, 1);
    return 1;
  }
  luaL_checkany(L, 2);
  ext_get(L, id, 2);
  return 1;
}

static int sandbox_rawset(lua_State* L) {
  uint32_t id = proxy_id(L, 1);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checkany(L, 2);
  luaL_checkany(L, 3);
  lua_settop(L, 3);
  if (id == 0)
    lua_rawset(L, 1);
  else
    ext_set(L, id, 2, 3);
  lua_settop(L, 1);
  return 1;
}

static int sandbox_rawlen(lua_State* L) {
  uint32_t id = proxy_id(L, 1);
  if (id) {
    lua_pushinteger(L, ext_len(L, id));
    return 1;
  }
  int t = lua_type(L, 1);
  luaL_argexpected(L, t == LUA_TTABLE || t == LUA_TSTRING, 1, "table or string");
  lua_pushinteger(L, lua_Integer(lua_rawlen(L, 1)));
  return 1;
}

static int sandbox_next(lua_State* L) {
  uint32_t id = proxy_id(L, 1);
  if (id) return ext_next(L, id, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

// pairs(t) as Lua's, but a table without __pairs is traversed with the sandbox's next (never
// Lua's raw one, which would walk a proxy's private entry).
static int pairs_continue(lua_State*, int, lua_KContext) { return 3; }

static int sandbox_pairs(lua_State* L) {
  luaL_checkany(L, 1);
  if (luaL_getmetafield(L, 1, "__pairs") == LUA_TNIL) {
    lua_pushvalue(L, lua_upvalueindex(1));  // next
    lua_pushvalue(L, 1);
    lua_pushnil(L);
  } else {
    lua_pushvalue(L, 1);
    lua_callk(L, 1, 3, 0, pairs_continue);
  }
  return 3;
}

static void warn_write(const char* s) { output_warning(s, strlen(s)); }

static void sandbox_warnf(void*, const char* message, int tocont) {
  Vm& g = g_vm;
  if (!g.warning_continues && !tocont && message[0] == '@') {  // a control message
    if (strcmp(message, "@on") == 0) g.warnings_on = true;
    if (strcmp(message, "@off") == 0) g.warnings_on = false;
    return;
  }
  if (g.warnings_on) {
    if (!g.warning_continues) warn_write("Lua warning: ");
    warn_write(message);
    if (!tocont) warn_write("\n");
  }
  g.warning_continues = tocont != 0;
}

static void open_base(lua_State* L) {
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  static const luaL_Reg overrides[] = {{"print", sandbox_print},   {"rawget", sandbox_rawget},
                                       {"rawset", sandbox_rawset}, {"rawlen", sandbox_rawlen},
                                       {"next", sandbox_next},     {nullptr, nullptr}};
  luaL_setfuncs(L, overrides, 0);
  lua_getfield(L, -1, "next");
  lua_pushcclosure(L, sandbox_pairs, 1);
  lua_setfield(L, -2, "pairs");
  lua_getfield(L, -1, "load");
  lua_pushcclosure(L, sandbox_load, 1);
  lua_setfield(L, -2, "load");
  lua_pushnil(L);
  lua_setfield(L, -2, "dofile");
  lua_pushnil(L);
  lua_setfield(L, -2, "loadfile");
  lua_pop(L, 1);
  lua_setwarnf(L, sandbox_warnf, nullptr);
}

// }======



// {====== debug: everything that cannot break the sandbox, the proxies or the limit
//
// Left out (docs/ABI.md): sethook and gethook (a hook would replace the instruction limit's),
// getregistry (it holds the proxies' metatable and the module's private state) and debug.debug
// (no stdin). What is kept refuses C functions and C frames: their upvalues and stack slots hold
// the module's private values (the original load, traversal cursors, lauxlib's buffer boxes),
// which Lua code must never read or replace.

// The thread argument of getlocal/setlocal, as ldblib.c reads it: *arg is the first other one.
static lua_State* thread_arg(lua_State* L, int* arg) {
  if (lua_isthread(L, 1)) {
    *arg = 1;
    return lua_tothread(L, 1);
  }
  *arg = 0;
  return L;
}

static void check_lua_function(lua_State* L, int idx) {
  luaL_checktype(L, idx, LUA_TFUNCTION);
  luaL_argexpected(L, !lua_iscfunction(L, idx), idx, "Lua function");
}

// Fills ar for stack level `level` of L1, refusing C frames.
static void check_lua_level(lua_State* L, lua_State* L1, int level, int arg, lua_Debug* ar) {
  if (!lua_getstack(L1, level, ar)) luaL_argerror(L, arg, "level out of range");
  lua_getinfo(L1, "S", ar);
  if (strcmp(ar->what, "C") == 0)
    luaL_argerror(L, arg, "level of a C function (lua-home keeps their locals private)");
}

static int db_getlocal(lua_State* L) {
  int arg;
  lua_State* L1 = thread_arg(L, &arg);
  int n = (int)luaL_checkinteger(L, arg + 2);
  if (lua_isfunction(L, arg + 1)) {  // parameter names of a function
    lua_pushvalue(L, arg + 1);
    lua_pushstring(L, lua_getlocal(L, nullptr, n));
    return 1;
  }
  lua_Debug ar;
  int level = (int)luaL_checkinteger(L, arg + 1);
  check_lua_level(L, L1, level, arg + 1, &ar);
  luaL_checkstack(L, 3, "not enough stack");
  const char* name = lua_getlocal(L1, &ar, n);
  if (!name) {
    luaL_pushfail(L);
    return 1;
  }
  lua_xmove(L1, L, 1);
  lua_pushstring(L, name);
  lua_rotate(L, -2, 1);
  return 2;
}

static int db_setlocal(lua_State* L) {
  int arg;
  lua_State* L1 = thread_arg(L, &arg);
  lua_Debug ar;
  int level = (int)luaL_checkinteger(L, arg + 1);
  int n = (int)luaL_checkinteger(L, arg + 2);
  check_lua_level(L, L1, level, arg + 1, &ar);
  luaL_checkany(L, arg + 3);
  lua_settop(L, arg + 3);
  if (!lua_checkstack(L1, 1)) luaL_error(L, "stack overflow");
  lua_xmove(L, L1, 1);
  const char* name = lua_setlocal(L1, &ar, n);
  if (!name) lua_pop(L1, 1);
  lua_pushstring(L, name);
  return 1;
}

static int db_getupvalue(lua_State* L) {
  check_lua_function(L, 1);
  const char* name = lua_getupvalue(L, 1, (int)luaL_checkinteger(L, 2));
  if (!name) return 0;
  lua_pushstring(L, name);
  lua_insert(L, -2);
  return 2;
}

static int db_setupvalue(lua_State* L) {
  luaL_checkany(L, 3);
  check_lua_function(L, 1);
  const char* name = lua_setupvalue(L, 1, (int)luaL_checkinteger(L, 2));
  if (!name) return 0;
  lua_pushstring(L, name);
  return 1;
}

static int db_upvalueid(lua_State* L) {
  check_lua_function(L, 1);
  void* id = lua_upvalueid(L, 1, (int)luaL_checkinteger(L, 2));
  if (id) lua_pushlightuserdata(L, id);
  else luaL_pushfail(L);
  return 1;
}

static int db_getmetatable(lua_State* L) {
  luaL_checkany(L, 1);
  if (proxy_id(L, 1) != 0) {  // the proxies' metatable stays hidden, as getmetatable hides it
    lua_pushliteral(L, "external table");
    return 1;
  }
  if (lua_type(L, 1) == LUA_TUSERDATA || !lua_getmetatable(L, 1)) lua_pushnil(L);
  return 1;
}

static int db_setmetatable(lua_State* L) {
  int t = lua_type(L, 2);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  luaL_argcheck(L, proxy_id(L, 1) == 0, 1, "cannot change the metatable of an external table");
  luaL_argcheck(L, lua_type(L, 1) != LUA_TUSERDATA, 1, "cannot change the metatable of a userdata");
  lua_settop(L, 2);
  lua_setmetatable(L, 1);
  return 1;
}

static void open_debug(lua_State* L) {
  luaL_requiref(L, LUA_DBLIBNAME, luaopen_debug, 0);
  lua_newtable(L);
  static const char* const kept[] = {"traceback", "getinfo", "upvaluejoin", "getuservalue",
                                     "setuservalue"};
  for (const char* keep : kept) {
    lua_getfield(L, -2, keep);
    lua_setfield(L, -2, keep);
  }
  static const luaL_Reg own[] = {{"getlocal", db_getlocal},         {"setlocal", db_setlocal},
                                 {"getupvalue", db_getupvalue},     {"setupvalue", db_setupvalue},
                                 {"upvalueid", db_upvalueid},       {"getmetatable", db_getmetatable},
                                 {"setmetatable", db_setmetatable}, {nullptr, nullptr}};
  luaL_setfuncs(L, own, 0);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, LUA_DBLIBNAME);
  lua_pop(L, 1);
  lua_setglobal(L, LUA_DBLIBNAME);
  lua_pop(L, 1);
}

// }======

void seed_random(lua_State* L, lua_Integer a, lua_Integer b) {
  StackGuard guard(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kRandomSeedKey);
  lua_pushinteger(L, a);
  lua_pushinteger(L, b);
  lua_call(L, 2, 0);
}

void open_sandbox(lua_State* L) {
  open_base(L);
  static const luaL_Reg libs[] = {{LUA_COLIBNAME, luaopen_coroutine},
                                  {LUA_TABLIBNAME, luaopen_table},
                                  {LUA_STRLIBNAME, luaopen_string},
                                  {LUA_MATHLIBNAME, luaopen_math},
                                  {LUA_UTF8LIBNAME, luaopen_utf8},
                                  {nullptr, nullptr}};
  for (const luaL_Reg* lib = libs; lib->func; ++lib) {
    luaL_requiref(L, lib->name, lib->func, 1);
    lua_pop(L, 1);
  }
  lua_getglobal(L, LUA_MATHLIBNAME);
  lua_getfield(L, -1, "randomseed");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kRandomSeedKey);
  lua_pop(L, 1);
  seed_random(L, 0, 0);  // deterministic until the host seeds it
  open_debug(L);
  open_io(L);
  set_library(L, "io");
  open_os(L);
  set_library(L, "os");
  open_package(L);
  open_host_functions(L);
  open_ext(L);
}

}  // namespace lh
