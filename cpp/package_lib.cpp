// package and require (package_lib.h), with Lua's semantics: require tries the functions of
// package.searchers in order (package.preload's, then the host's), calls the loader it finds
// with the module's name and the searcher's extra value, and keeps the result in package.loaded.
// require is written in Lua, so that a module the host serves asynchronously can suspend an
// async compute like any other host call. Public API only.
#include "package_lib.h"

#include <string.h>

#include "bytes.h"
#include "channel.h"
#include "host_functions.h"
#include "sources.h"

namespace lh {

// Lua's own require (loadlib.c, ll_require), in Lua: the searchers' messages, the loader's
// second value, `true` for a module that returns nothing.
static const char kRequire[] = R"lua(local loaded, searchers_of, concat = ...
return function(name)
  if type(name) ~= "string" and type(name) ~= "number" then
    error(("bad argument #1 to 'require' (string expected, got %s)"):format(name == nil and "no value" or type(name)), 2)
  end
  name = tostring(name)
  local value = loaded[name]
  if value then return value end
  local searchers = searchers_of()
  if type(searchers) ~= "table" then error("'package.searchers' must be a table", 2) end
  local messages = {}
  for i = 1, math.huge do
    local searcher = searchers[i]
    if searcher == nil then
      error(("module '%s' not found:%s"):format(name, concat(messages)), 2)
    end
    local loader, data = searcher(name)
    if type(loader) == "function" then
      local result = loader(name, data)
      if result ~= nil then loaded[name] = result elseif loaded[name] == nil then loaded[name] = true end
      return loaded[name], data
    elseif type(loader) == "string" then
      messages[#messages + 1] = loader
    end
  end
end
)lua";

static int searcher_preload(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  if (lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE) != LUA_TTABLE)
    return luaL_error(L, "'package.preload' must be a table");
  if (lua_getfield(L, -1, name) == LUA_TNIL) {
    lua_pushfstring(L, "\n\tno field package.preload['%s']", name);
    return 1;
  }
  lua_pushliteral(L, ":preload:");
  return 2;
}

// After the host answered with a source: the loader (the compiled module) and its file name.
static int loaded_source(lua_State* L, const char* name, uint32_t source, const char* chunkname) {
  if (load_source(L, source, chunkname) != LUA_OK)
    return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name,
                      chunkname[0] == '@' ? chunkname + 1 : chunkname, lua_tostring(L, -1));
  lua_pushstring(L, chunkname[0] == '@' ? chunkname + 1 : chunkname);
  return 2;
}

// The continuation after an asynchronous answer: (ok, source, chunkname) after the name.
static int searcher_host_continue(lua_State* L, int, lua_KContext) {
  if (!lua_toboolean(L, 2)) {
    lua_pushvalue(L, 3);
    return lua_error(L);
  }
  if (lua_isnoneornil(L, 3)) {  // the loader found nothing
    lua_pushfstring(L, "\n\tno module '%s' from the host", lua_tostring(L, 1));
    return 1;
  }
  uint32_t source = uint32_t(luaL_checkinteger(L, 3));
  return loaded_source(L, lua_tostring(L, 1), source, luaL_checkstring(L, 4));
}

static int searcher_host(lua_State* L) {
  size_t len;
  const char* name = luaL_checklstring(L, 1, &len);
  lua_settop(L, 1);
  if (!channel_on()) {
    lua_pushliteral(L, "\n\tno module from the host (this host serves none)");
    return 1;
  }
  Bytes request(L), big(L);
  request.push(kOpModule);
  request.put_u32(uint32_t(len));
  request.append(name, uint32_t(len));
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, LUA_LOADLIBNAME);
  size_t path_len = 0;
  const char* path = lua_istable(L, -1) && lua_getfield(L, -1, "path") == LUA_TSTRING ? lua_tolstring(L, -1, &path_len) : "";
  request.append(path, uint32_t(path_len));  // the host resolves with it (a CLI: ?.lua on disk)
  lua_settop(L, 1);
  Answer a = channel_request(L, request, big);
  switch (a.status) {
    case kStatusOk: {
      if (a.len < 4) return luaL_error(L, "malformed answer from the host (module source)");
      uint32_t source;
      memcpy(&source, a.data, 4);
      lua_pushlstring(L, reinterpret_cast<const char*>(a.data + 4), a.len - 4);
      return loaded_source(L, name, source, lua_tostring(L, -1));
    }
    case kStatusAbsent:
      if (a.len > 0) lua_pushlstring(L, reinterpret_cast<const char*>(a.data), a.len);
      else lua_pushfstring(L, "\n\tno module '%s' from the host", name);
      return 1;
    case kStatusPending: {
      if (a.len != 4) return luaL_error(L, "malformed answer from the host (promise id)");
      uint32_t promise;
      memcpy(&promise, a.data, 4);
      return await_promise(L, promise, 1, "the module loader", searcher_host_continue);
    }
    default:
      lua_pushlstring(L, reinterpret_cast<const char*>(a.data), a.len);
      return luaL_error(L, "error loading module '%s': %s", name, lua_tostring(L, -1));
  }
}

static int searchers_of(lua_State* L) {  // package.searchers, as require sees it now
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, LUA_LOADLIBNAME);
  if (!lua_istable(L, -1)) return 0;
  lua_getfield(L, -1, "searchers");
  return 1;
}

void open_package(lua_State* L) {
  lua_newtable(L);  // package
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, LUA_LOADLIBNAME);  // package.loaded.package = package
  lua_setfield(L, -2, "loaded");
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_setfield(L, -2, "preload");
  lua_pushliteral(L, "?.lua;?/init.lua");  // what a host resolving modules on disk uses
  lua_setfield(L, -2, "path");
  lua_pushliteral(L, "");  // no C modules
  lua_setfield(L, -2, "cpath");
  lua_pushliteral(L, LUA_DIRSEP "\n" LUA_PATH_SEP "\n" LUA_PATH_MARK "\n" LUA_EXEC_DIR "\n" LUA_IGMARK "\n");
  lua_setfield(L, -2, "config");
  lua_createtable(L, 2, 0);
  lua_pushcfunction(L, searcher_preload);
  lua_rawseti(L, -2, 1);
  lua_pushcfunction(L, searcher_host);
  lua_rawseti(L, -2, 2);
  lua_setfield(L, -2, "searchers");
  lua_setglobal(L, LUA_LOADLIBNAME);
  if (luaL_loadbuffer(L, kRequire, sizeof kRequire - 1, "=[require]") != LUA_OK) lua_error(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushcfunction(L, searchers_of);
  lua_getglobal(L, LUA_TABLIBNAME);
  lua_getfield(L, -1, "concat");
  lua_remove(L, -2);
  lua_call(L, 3, 1);
  lua_setglobal(L, "require");
}

}  // namespace lh
