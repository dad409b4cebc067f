// The VM's lifecycle (vm.h): the allocator, creation of the sandboxed state, binding _home.
// Public API only.
#include "vm.h"

#include <malloc.h>
#include <stdlib.h>

#include <emscripten/stack.h>

#include "proxy.h"
#include "sandbox.h"
#include "vm_state.h"

namespace lh {

// Binds the global `name` to the proxy at the top of the stack (globals just below it) unless
// it is bound already, the usual case, which then costs one lookup.
static void bind_global(lua_State* L, const char* name) {
  lua_pushstring(L, name);  // a short string, interned: found, not allocated, after the first
  lua_pushvalue(L, -1);
  lua_rawget(L, -4);
  bool bound = lua_rawequal(L, -1, -3);
  lua_pop(L, 1);
  if (bound) {
    lua_pop(L, 1);
    return;
  }
  lua_pushvalue(L, -2);
  lua_rawset(L, -4);
}

void rebind_home(lua_State* L) {
  Vm& g = g_vm;
  StackGuard guard(L);
  lua_pushglobaltable(L);
  push_proxy(L, g.home_id);
  bind_global(L, "_home");
  if (g.alias_active) {
    bind_global(L, "Memory");
    return;
  }
  lua_getfield(L, -2, "Memory");
  bool memory_is_proxy = proxy_id(L, -1) != 0;
  lua_pop(L, 1);
  if (memory_is_proxy) {
    lua_pushnil(L);
    lua_setfield(L, -3, "Memory");
  }
}

static int open_vm(lua_State* L) {
  open_sandbox(L);
  // lauxlib creates the metatable of its buffer boxes ("_UBOX*") on the first buffer that
  // outgrows the stack: registered first, filled after. An allocation failure between the two
  // would leave it without __close forever, and every later long string would fail with
  // "got a non-closable value". Creating it here, where a failure fails init, rules that out.
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_prepbuffsize(&b, 2 * LUAL_BUFFERSIZE);
  luaL_pushresult(&b);
  lua_pop(L, 1);
  Vm& g = g_vm;
  g.home_id = allocate_table_id(L);
  g.alias_active = g.alias_enabled;
  rebind_home(L);
  return 0;
}

static int panic(lua_State*) {
  __builtin_trap();  // unreachable: every entry into Lua is protected
}

int vm_init() {
  Vm& g = g_vm;
  if (g.L) return 0;
  emscripten_stack_init();  // the stack's bounds, for check_native_stack (_initialize may never run)
  lua_State* L = lua_newstate(lua_alloc, nullptr);
  if (!L) return -1;
  lua_atpanic(L, panic);
  lua_pushcfunction(L, open_vm);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    lua_close(L);
    g.home_id = 0;
    g.next_table_id = 1;
    return -1;
  }
  g.L = L;
  return 0;
}

}  // namespace lh

extern "C" {

// The VM's allocator (lua_Alloc contract). Exported by the ABI.
__attribute__((export_name("lua_alloc"))) void* lua_alloc(void*, void* ptr, size_t osize,
                                                          size_t nsize) {
  lh::Vm& g = lh::g_vm;
  if (nsize == 0) {
    free(ptr);
    return nullptr;
  }
  if (g.alloc_fail_countdown && (ptr == nullptr || nsize > osize)) {
    if (--g.alloc_fail_countdown == 0) {
      g.alloc_failed_size = nsize;  // Lua retries once after a full collection: fail that too
      return nullptr;
    }
  } else if (g.alloc_failed_size && (ptr == nullptr || nsize > osize)) {
    bool retry = nsize == g.alloc_failed_size;
    g.alloc_failed_size = 0;
    if (retry) return nullptr;
  }
  void* p = realloc(ptr, nsize);
  // Work-bounded steps: bytes allocated are work (cpp/port/steps.h). Counted quietly: the
  // allocator may not raise; the VM's next step stops a compute whose steps ran out.
  size_t before = ptr ? osize : 0;
  if (p && nsize > before) lh_steps_left -= (long long)((nsize - before) / LH_BYTES_PER_STEP);
  return p;
}

// Lua's string-hash seed, taken once by lua_newstate (cpp/port/lua_port.h).
unsigned int lh_hash_seed(void) { return lh::g_vm.hash_seed; }

}  // extern "C"
