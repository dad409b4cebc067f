/* The instruction limit's step counter, as Lua's own files see it (through cpp/port/lua_port.h).
** lh_steps_left counts down; when it runs out, the next read of a step answers "stop". */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif
void lh_steps_ran_out(void); /* marks the compute as stopped by the limit (cpp/limit.cpp) */
void lh_steps_exhausted(void *L); /* a charge ran the steps out: raises the limit (cpp/limit.cpp) */
#ifdef __cplusplus
}
#endif

extern long long lh_steps_left; /* cpp/port/port.cpp */

/* Work-bounded steps (docs/ABI.md, "Steps"): work done inside one step (a library function, the
** pattern matcher, a host copy) is charged as steps in proportion to its size, so an
** instruction limit bounds time, not only VM instructions. The rates: */
#define LH_BYTES_PER_STEP 64      /* bytes the VM allocates (cpp/vm.cpp, lua_alloc) */
#define LH_CHARS_PER_STEP 16      /* characters a library function copies, scans or compares */
#define LH_HOST_BYTES_PER_STEP 16 /* bytes copied to or from the host (cpp/host_calls.cpp) */
#define LH_HOST_CALL_STEPS 4      /* each call of a host import, on top */

/* Charges n steps; when they run out under a limit, raises the limit error (a Lua error, so
** only where a library function may raise). */
static inline void lh_charge(void *L, long long n) {
  if ((lh_steps_left -= n) < 0) lh_steps_exhausted(L);
}

/* Charges n steps without raising (where raising is not allowed: the allocator, helpers with no
** lua_State); answers nonzero when the steps have run out under a limit. The caller stops its
** work at once, and the VM's next step raises the limit. */
static inline int lh_charge_quiet(long long n) {
  if ((lh_steps_left -= n) >= 0) return 0;
  lh_steps_left = -1;
  lh_steps_ran_out();
  return 1;
}

#ifdef __cplusplus
/* lstate.h: the instruction limit without a hook at every instruction. Lua's VM reads the
** 'trap' of a call frame at every jump, loop iteration, return and protected operation, and the
** thread's 'hookmask' at every function entry: its "steps". Both have the type l_signalT, made
** here a class whose read counts one step. When the steps run out the read answers
** LUA_MASKCOUNT (8): the VM then calls luaG_traceexec, which calls the count hook (installed on
** every thread with a count of 1, cpp/limit.cpp), which raises the limit error. Until then a
** step costs a decrement and a branch, not a hook call per instruction. */
struct LhSignal {
  int v;
  operator int() const volatile {
    if (--lh_steps_left >= 0) return v;
    lh_steps_left = -1; /* stays run out */
    return v | 8;
  }
  volatile LhSignal &operator=(int x) volatile {
    v = x;
    return *this;
  }
  volatile LhSignal &operator=(const volatile LhSignal &o) volatile { /* a copy counts nothing */
    v = o.v;
    return *this;
  }
};

/* lstrlib.c: the pattern matcher backtracks inside one C call, where the VM counts no steps.
** The port edits match()'s depth check (its one entry per backtracking attempt) to go through
** this function, which counts one step. When the steps run out it answers true: the check then
** raises the matcher's own error at once, and lh_steps_ran_out makes the compute fail as
** 'limit' with the limit's message. */
static inline bool lh_pattern_step(bool x) {
  if (x) return true;
  if (--lh_steps_left >= 0) return false;
  lh_steps_left = -1;
  lh_steps_ran_out();
  return true;
}
#endif
