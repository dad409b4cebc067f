// Lua's public C API for lua-home's C++ files, and the two error helpers every layer uses. Lua
// itself is compiled as C++, so its headers are included directly (lua.hpp's extern "C" would
// give the functions the wrong linkage). Only cpp/port/ reaches further into Lua.
#pragma once

#include <exception>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

namespace lh {

// Restores the Lua stack to its height at construction on every normal exit. While a Lua
// error unwinds (a C++ exception) it leaves the stack alone: the error object is on top, and
// Lua restores the stack itself where the error is caught.
class StackGuard {
 public:
  explicit StackGuard(lua_State* L)
      : L_(L), top_(lua_gettop(L)), unwinding_(std::uncaught_exceptions()) {}
  ~StackGuard() {
    if (std::uncaught_exceptions() == unwinding_) lua_settop(L_, top_);
  }
  StackGuard(const StackGuard&) = delete;
  StackGuard& operator=(const StackGuard&) = delete;

 private:
  lua_State* L_;
  int top_;
  int unwinding_;
};

// Raises Lua's own memory error (status LUA_ERRMEM, message "not enough memory") by asking
// Lua's allocator for more than the module can ever hold, after its emergency collection.
[[noreturn]] void raise_memory_error(lua_State* L);

// Raises "C stack overflow" when less than kNativeStackReserve bytes of the native (shadow)
// stack are left: for recursions that Lua's own C-call counter does not see (the codec).
void check_native_stack(lua_State* L);

}  // namespace lh
