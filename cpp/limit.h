// The instruction limit: a budget of steps per compute (cpp/port/steps.h counts them).
#pragma once

#include "lua_api.h"

namespace lh {

// Installs the instruction-limit hook on a thread.
void apply_limit_hook(lua_State* L);
// Starts a fresh instruction budget (compute and run_gc).
void reset_limit();
// After a compute or run_gc: Lua that runs between computes is never stopped.
void end_limit();
// Raises the instruction-limit error (kind 4 once limit_hit is set).
[[noreturn]] void raise_limit_error(lua_State* L);

}  // namespace lh
