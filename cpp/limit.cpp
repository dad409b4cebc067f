// The instruction limit (limit.h): the budget, the hook that stops a chunk when it runs out.
// Public API only (the step hook is set through cpp/port/).
#include "limit.h"

#include <stdint.h>

#include "port/port.h"
#include "vm_state.h"

namespace lh {

// Called (through luaG_traceexec) when the steps of the instruction limit have run out
// (port/steps.h). From then on every step raises again, so no pcall can absorb it.
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

void apply_limit_hook(lua_State* L) { port_set_step_hook(L, count_hook); }

void reset_limit() {
  Vm& g = g_vm;
  g.limit_hit = false;
  lh_steps_left = g.instruction_limit ? (long long)g.instruction_limit : INT64_MAX;
  g.steps_start = lh_steps_left;
  apply_limit_hook(g.L);
}

void end_limit() {
  Vm& g = g_vm;
  long long left = lh_steps_left < 0 ? -1 : lh_steps_left;
  g.steps_used = left > g.steps_start ? 0 : uint64_t(g.steps_start - left);
  lh_steps_left = INT64_MAX;
}

}  // namespace lh

extern "C" void lh_on_resume(void* L) {
  if (lh::g_vm.L) lh::apply_limit_hook(static_cast<lua_State*>(L));
}

extern "C" void lh_steps_exhausted(void* L) {
  lh::Vm& g = lh::g_vm;
  if (g.instruction_limit == 0) {  // no limit: charges only count (stats().steps)
    return;
  }
  lh_steps_left = -1;
  g.limit_hit = true;
  lh::raise_limit_error(static_cast<lua_State*>(L));
}

extern "C" void lh_steps_ran_out(void) {
  if (lh::g_vm.instruction_limit != 0) lh::g_vm.limit_hit = true;
}
