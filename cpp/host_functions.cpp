// Functions across the boundary (host_functions.h). Public API only.
#include "host_functions.h"

#include <string.h>

#include "channel.h"
#include "lh_limits.h"
#include "vm_state.h"

namespace lh {

static const char kHandlesKey = 0;    // registry: handle -> Lua function
static const char kHandleIdsKey = 0;  // registry: Lua function -> handle
static const char kHostFnKey = 0;     // registry: host function id -> its closure (weak values)
static const char kAwaitMarker = 0;   // the first value an async wait yields

bool is_await_marker(lua_State* L, int idx) {
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == &kAwaitMarker;
}

static void get_registry_table(lua_State* L, const char* key, const char* mode) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  if (mode) {
    lua_createtable(L, 0, 1);
    lua_pushstring(L, mode);
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
  }
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

// {====== handles: Lua functions held for the host

static uint32_t handle_of(lua_State* L, int idx) {
  idx = lua_absindex(L, idx);
  get_registry_table(L, &kHandleIdsKey, nullptr);
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) == LUA_TNUMBER) {  // the same function keeps its handle
    uint32_t h = uint32_t(lua_tointeger(L, -1));
    lua_pop(L, 2);
    return h;
  }
  lua_pop(L, 1);
  Vm& g = g_vm;
  uint32_t h = ++g.handle_counter;
  if (h == 0) h = ++g.handle_counter;
  lua_pushvalue(L, idx);
  lua_pushinteger(L, h);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  get_registry_table(L, &kHandlesKey, nullptr);
  lua_pushvalue(L, idx);
  lua_rawseti(L, -2, h);
  lua_pop(L, 1);
  return h;
}

void push_handle(lua_State* L, uint32_t handle) {
  get_registry_table(L, &kHandlesKey, nullptr);
  if (lua_rawgeti(L, -1, handle) != LUA_TFUNCTION)
    luaL_error(L, "the Lua function behind handle %I was released", (lua_Integer)handle);
  lua_remove(L, -2);
}

void release_handle(lua_State* L, uint32_t handle) {
  get_registry_table(L, &kHandlesKey, nullptr);
  if (lua_rawgeti(L, -1, handle) == LUA_TFUNCTION) {
    get_registry_table(L, &kHandleIdsKey, nullptr);
    lua_pushvalue(L, -2);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_rawseti(L, -3, handle);
  }
  lua_pop(L, 2);
}

uint32_t handle_count(lua_State* L) {
  get_registry_table(L, &kHandlesKey, nullptr);
  uint32_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    ++n;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return n;
}

// }======

// {====== host functions

static int host_function_entry(lua_State* L);

static void push_host_function(lua_State* L, uint32_t id) {
  get_registry_table(L, &kHostFnKey, "v");
  if (lua_rawgeti(L, -1, id) != LUA_TFUNCTION) {  // one closure per id: identity is kept
    lua_pop(L, 1);
    lua_pushinteger(L, id);
    lua_pushcclosure(L, host_function_entry, 1);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, id);
  }
  lua_remove(L, -2);
}

static uint32_t host_id_of(lua_State* L, int idx) {
  if (lua_tocfunction(L, idx) != host_function_entry) return 0;
  lua_getupvalue(L, idx, 1);
  uint32_t id = uint32_t(lua_tointeger(L, -1));
  lua_pop(L, 1);
  return id;
}

const FunctionRefs kFunctionRefs = {handle_of, host_id_of, push_handle, push_host_function};

// Pushes the values of an answer (u32 count, then values); returns the count.
static int push_answer_values(lua_State* L, const uint8_t* p, uint32_t n) {
  if (n < 4) luaL_error(L, "malformed answer from the host (no value count)");
  uint32_t count;
  memcpy(&count, p, 4);
  if (count > n) luaL_error(L, "malformed answer from the host (value count)");
  luaL_checkstack(L, int(count) + LUA_MINSTACK, "too many results from a host function");
  uint32_t at = 4;
  for (uint32_t i = 0; i < count; ++i) at += push_passed_value(L, p + at, n - at, kFunctionRefs);
  if (at != n) luaL_error(L, "malformed answer from the host (trailing bytes)");
  return int(count);
}

// Raises the error of an answer: one codec value; a string gets the caller's position, as
// luaL_error gives it.
[[noreturn]] static void raise_answer_error(lua_State* L, const uint8_t* p, uint32_t n) {
  if (n == 0) luaL_error(L, "a host function failed");
  push_passed_value(L, p, n, kFunctionRefs);
  if (lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  lua_error(L);
  __builtin_trap();
}

// The continuation of a host function that waited: the stack holds its arguments (ctx of
// them), then what resume gave: ok, then the values or the error.
static int await_continue(lua_State* L, int, lua_KContext ctx) {
  int first = int(ctx) + 1;
  if (!lua_toboolean(L, first)) {
    lua_pushvalue(L, first + 1);
    lua_error(L);
  }
  return lua_gettop(L) - first;
}

int await_promise(lua_State* L, uint32_t id, int nargs, const char* what, lua_KFunction k) {
  Vm& g = g_vm;
  if (!g.async)
    luaL_error(L, "%s returned a Promise: call it under computeAsync (or callAsync)", what);
  if (!lua_isyieldable(L))
    luaL_error(L, "%s returned a Promise where Lua cannot suspend (inside a C function such as "
                  "table.sort, string.gsub or tostring, a __gc, or a non-yieldable metamethod)", what);
  lua_pushlightuserdata(L, const_cast<char*>(&kAwaitMarker));
  lua_pushinteger(L, id);
  return lua_yieldk(L, 2, nargs, k);
}

static int host_function_entry(lua_State* L) {
  Vm& g = g_vm;
  uint32_t id = uint32_t(lua_tointeger(L, lua_upvalueindex(1)));
  int nargs = lua_gettop(L);
  if (!channel_on()) luaL_error(L, "this host does not run host functions");
  if (g.host_depth >= kMaxHostDepth)
    luaL_error(L, "host functions nested too deeply (more than %d calls into the host)", kMaxHostDepth);
  Bytes request(L), big(L);
  request.push(kOpCall);
  request.put_u32(id);
  request.put_u32(uint32_t(nargs));
  for (int i = 1; i <= nargs; ++i) encode_result(L, i, -i, request, &kFunctionRefs);
  lua_State* outer = g.running;
  g.running = L;  // where a re-entrant call from the host runs
  ++g.host_depth;
  Answer a = channel_request(L, request, big);
  --g.host_depth;
  g.running = outer;
  switch (a.status) {
    case kStatusOk:
      return push_answer_values(L, a.data, a.len);
    case kStatusError:
      raise_answer_error(L, a.data, a.len);
    case kStatusRaise:
      if (a.len == 0) luaL_error(L, "a host function failed");
      push_passed_value(L, a.data, a.len, kFunctionRefs);
      return lua_error(L);
    case kStatusPending: {
      if (a.len != 4) luaL_error(L, "malformed answer from the host (promise id)");
      uint32_t promise;
      memcpy(&promise, a.data, 4);
      return await_promise(L, promise, nargs, "a host function", await_continue);
    }
    default:
      return luaL_error(L, "the host has no function %I (it was not given to this VM again after "
                           "a restore?)", (lua_Integer)id);
  }
}

// }======

// {====== coroutines that pass an async wait through

// Resumes co with nargs values from L's top. An async wait inside co suspends L too (a yield with
// the marker), and the values that resume L later resume co. Otherwise as coroutine.resume:
// pushes true and co's values, or false and its error; returns how many.
static int resume_through(lua_State* L, lua_State* co, int nargs);

static int resume_continue(lua_State* L, int, lua_KContext ctx) {
  lua_State* co = lua_tothread(L, 1);
  int nargs = lua_gettop(L) - int(ctx);  // what resumed L: ok and the values, for co
  return resume_through(L, co, nargs);
}

static int resume_through(lua_State* L, lua_State* co, int nargs) {
  if (!lua_checkstack(co, nargs)) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "too many arguments to resume");
    return 2;
  }
  int base = lua_gettop(L) - nargs;
  lua_xmove(L, co, nargs);  // lua_resume refuses what cannot be resumed, in Lua's words
  int nres;
  int status = lua_resume(co, L, nargs, &nres);
  if (status == LUA_YIELD && nres == 2 && is_await_marker(co, -2)) {
    lua_xmove(co, L, 2);  // pass the wait up
    if (!lua_isyieldable(L)) {
      lua_pop(L, 2);
      lua_pushboolean(L, 0);
      lua_pushliteral(L, "an async host call inside a coroutine resumed where Lua cannot suspend");
      return 2;
    }
    return lua_yieldk(L, 2, base, resume_continue);
  }
  if (status == LUA_OK || status == LUA_YIELD) {
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      lua_pushboolean(L, 0);
      lua_pushliteral(L, "too many results to resume");
      return 2;
    }
    lua_pushboolean(L, 1);
    lua_xmove(co, L, nres);
    return nres + 1;
  }
  lua_pushboolean(L, 0);
  lua_xmove(co, L, 1);  // the error object
  return 2;
}

static lua_State* check_coroutine(lua_State* L, int idx) {
  lua_State* co = lua_tothread(L, idx);
  luaL_argexpected(L, co, idx, "coroutine");
  return co;
}

static int co_resume(lua_State* L) {
  lua_State* co = check_coroutine(L, 1);
  return resume_through(L, co, lua_gettop(L) - 1);
}

// The function coroutine.wrap returns: resumes, and raises co's error (with the position, and
// closing co, as Lua 5.4's auxwrap does).
static int wrap_finish(lua_State* L, int n) {
  if (lua_toboolean(L, -n)) return n - 1;
  lua_State* co = lua_tothread(L, lua_upvalueindex(1));
  int status = lua_status(co);
  if (status != LUA_OK && status != LUA_YIELD) {  // an error in the coroutine: close it
    status = lua_closethread(co, L);
    lua_xmove(co, L, 1);  // the error object, as closing leaves it
    lua_replace(L, -2);
  }
  if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

// wrap's function resumes through a continuation of its own: the one of resume_through would
// return (true, values) where wrap must return the values or raise.
static int wrap_step(lua_State* L, int nargs);

static int wrap_continue(lua_State* L, int, lua_KContext ctx) {
  return wrap_step(L, lua_gettop(L) - int(ctx));
}

static int wrap_step(lua_State* L, int nargs) {
  lua_State* co = lua_tothread(L, lua_upvalueindex(1));
  int base = lua_gettop(L) - nargs;
  if (!lua_checkstack(co, nargs)) return luaL_error(L, "too many arguments to resume");
  lua_xmove(L, co, nargs);
  int nres;
  int status = lua_resume(co, L, nargs, &nres);
  if (status == LUA_YIELD && nres == 2 && is_await_marker(co, -2)) {
    lua_xmove(co, L, 2);
    if (!lua_isyieldable(L))
      return luaL_error(L, "an async host call inside a coroutine resumed where Lua cannot suspend");
    return lua_yieldk(L, 2, base, wrap_continue);
  }
  if (status == LUA_OK || status == LUA_YIELD) {
    if (!lua_checkstack(L, nres + 1)) return luaL_error(L, "too many results to resume");
    lua_pushboolean(L, 1);
    lua_xmove(co, L, nres);
    return wrap_finish(L, nres + 1);
  }
  lua_pushboolean(L, 0);
  lua_xmove(co, L, 1);
  return wrap_finish(L, 2);
}

static int wrap_call(lua_State* L) { return wrap_step(L, lua_gettop(L)); }

static int co_wrap(lua_State* L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_State* co = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  lua_pushcclosure(L, wrap_call, 1);
  return 1;
}

// }======

void open_host_functions(lua_State* L) {
  lua_getglobal(L, LUA_COLIBNAME);
  lua_pushcfunction(L, co_resume);
  lua_setfield(L, -2, "resume");
  lua_pushcfunction(L, co_wrap);
  lua_setfield(L, -2, "wrap");
  lua_pop(L, 1);
}

}  // namespace lh
