// The error helpers of lua_api.h and the growth of Bytes buffers. Public API only.
#include "lua_api.h"

#include <stdlib.h>
#include <string.h>

#include <emscripten/stack.h>

#include "bytes.h"
#include "lh_limits.h"

namespace lh {

void raise_memory_error(lua_State* L) {
  // More than the whole memory: Lua's allocator fails after an emergency collection and
  // Lua raises LUA_ERRMEM ("not enough memory") itself.
  lua_newuserdatauv(L, size_t(1) << 30, 0);
  __builtin_trap();  // unreachable
}

void check_native_stack(lua_State* L) {
  if (emscripten_stack_get_free() < kNativeStackReserve) luaL_error(L, "C stack overflow");
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

}  // namespace lh
