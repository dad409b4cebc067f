// VM lifecycle: the allocator, creation of the sandboxed state, the instruction limit, the clock.
#include "vm.h"

#include <malloc.h>
#include <math.h>
#include <stdlib.h>

#include <emscripten/stack.h>

#include "ext_table.h"
#include "sandbox.h"

// Lua's internals, for one purpose only: running finalizers with hooks on (below).
#include "ldo.h"
#include "lstate.h"

long long lh_steps_left = INT64_MAX;

namespace lh {

Vm g_vm;

void raise_memory_error(lua_State* L) {
  // More than the whole memory: Lua's allocator fails after an emergency collection and
  // Lua raises LUA_ERRMEM ("not enough memory") itself.
  lua_newuserdatauv(L, size_t(1) << 30, 0);
  __builtin_trap();  // unreachable
}

void Bytes::grow(uint32_t n) {
  uint64_t want = uint64_t(len_) + n;
  uint64_t cap = cap_;
  while (cap < want) cap *= 2;
  if (cap > UINT32_MAX) raise_memory_error(L_);
  uint8_t* p = static_cast<uint8_t*>(malloc(size_t(cap)));
  if (!p) {
    lua_gc(L_, LUA_GCCOLLECT);  // give the collector a chance, as Lua's own allocations do
    p = static_cast<uint8_t*>(malloc(size_t(cap)));
    if (!p) raise_memory_error(L_);
  }
  memcpy(p, data_, len_);
  if (data_ != inline_) free(data_);
  data_ = p;
  cap_ = uint32_t(cap);
}

// Called (through luaG_traceexec) when the steps of the instruction limit have run out
// (libc_shim.h, LhSignal). From then on every step raises again, so no pcall can absorb it.
static void count_hook(lua_State* L, lua_Debug*) {
  Vm& g = g_vm;
  if (g.instruction_limit == 0 || lh_steps_left >= 0) return;
  g.limit_hit = true;
  raise_limit_error(L);
}

void raise_limit_error(lua_State* L) {
  luaL_error(L, "instruction limit exceeded (%I instructions)", (lua_Integer)g_vm.instruction_limit);
  __builtin_trap();  // unreachable: luaL_error does not return
}

void check_native_stack(lua_State* L) {
  if (emscripten_stack_get_free() < kNativeStackReserve) luaL_error(L, "C stack overflow");
}

void apply_limit_hook(lua_State* L) {
  // The hook stays installed with a count of 1 and an empty mask: it only runs when the steps
  // run out (LhSignal then adds LUA_MASKCOUNT to what the VM reads). Set directly: lua_sethook
  // refuses a hook without a mask.
  L->hook = count_hook;
  L->basehookcount = 1;
  L->hookcount = 1;
}

void reset_limit() {
  Vm& g = g_vm;
  g.limit_hit = false;
  lh_steps_left = g.instruction_limit ? (long long)g.instruction_limit : INT64_MAX;
  apply_limit_hook(g.L);
}

void end_limit() { lh_steps_left = INT64_MAX; }  // Lua run outside a compute is never stopped

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

uint32_t allocate_table_id(lua_State* L) {
  Vm& g = g_vm;
  if (g.next_table_id == 0) luaL_error(L, "external table ids are exhausted (2^32 - 1 tables)");
  uint32_t id = g.next_table_id;
  g.next_table_id = id == UINT32_MAX ? 0 : id + 1;
  return id;
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
  return realloc(ptr, nsize);
}

time_t lh_time(time_t* t) {
  time_t now = (time_t)floor(lh::g_vm.host_time);
  if (t) *t = now;
  return now;
}

clock_t lh_clock(void) { return (clock_t)(lh::g_vm.host_clock * CLOCKS_PER_SEC); }

void lh_on_resume(void* L) {
  if (lh::g_vm.L) lh::apply_limit_hook(static_cast<lua_State*>(L));
}

void lh_steps_ran_out(void) {
  if (lh::g_vm.instruction_limit != 0) lh::g_vm.limit_hit = true;
}

FILE* lh_no_file(void) { return nullptr; }
int lh_no_char(FILE*) { return EOF; }

}  // extern "C"

// Lua runs __gc metamethods with debug hooks off (lgc.c, GCTM), so the instruction limit's
// count hook would never stop `__gc = function() while true do end end`: the VM would hang.
// lgc.c is compiled with luaD_pcall renamed to this function (CMakeLists.txt; GCTM is its one
// call), which turns hooks back on for the finalizer. Only lua-home's own count hook exists
// (the sandbox has no debug.sethook); its error inside a finalizer becomes a warning there, and
// the compute still fails (limit_hit).
int lh_finalizer_pcall(lua_State* L, Pfunc func, void* u, ptrdiff_t oldtop, ptrdiff_t ef) {
  L->allowhook = 1;
  return luaD_pcall(L, func, u, oldtop, ef);
}
