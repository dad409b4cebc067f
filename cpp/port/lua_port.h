/* The port layer's forced include (-include, into every file, Lua's own among them): the knobs
** Lua leaves open (luaconf.h, llimits.h, lstate.h, lauxlib.h) set for lua-home, and the routes
** that keep the module from importing anything but its five external-table functions.
** cmake/lua_port.cmake checks at configure time that every knob used here still exists. */
#pragma once

#include <stdio.h>
#include <time.h>
#include <stddef.h>

#include "numfmt.h"
#include "steps.h"

#ifdef __cplusplus
extern "C" {
#endif
void lh_output_write(const char *s, size_t len);   /* captured output (cpp/output.cpp) */
time_t lh_time(time_t *t);                         /* host-fed clock (cpp/os_lib.cpp) */
clock_t lh_clock(void);
unsigned int lh_hash_seed(void);                   /* the string-hash seed (cpp/vm.cpp) */
void lh_on_resume(void *L);                        /* a coroutine resumes (cpp/limit.cpp) */
FILE *lh_no_file(void);                            /* always NULL: there are no files */
int lh_no_char(FILE *f);                           /* always EOF */
#ifdef __cplusplus
}
/* ldo.c, lstate.c (edited by the port): raise "error in error handling" (cpp/port/port.cpp). */
struct lua_State;
[[noreturn]] void lh_port_error_in_error(struct lua_State *L);
/* lgc.c (edited by the port): how many finalizers are running (cpp/port/port.cpp). */
extern int lh_finalizer_depth;
#endif

/* luaconf.h, then one limit lowered: a Lua stack of 1,000,000 slots (16 MB) could never fit in
** 2 MiB, so deep Lua recursion would end in a memory error instead of "stack overflow".
** 10,000 slots (160 KB) still allow thousands of nested Lua calls. LUA_LIB makes luaconf.h
** define its internal helpers here, as it would in any of Lua's own files. */
#ifndef LUA_LIB
#define LUA_LIB
#endif
#include "luaconf.h"
#undef LUAI_MAXSTACK
#define LUAI_MAXSTACK 10000

/* llimits.h: every resumed coroutine gets the instruction-limit hook, so a coroutine created in
** an earlier compute (or under other limits) cannot run past this compute's limit. */
#define luai_userstateresume(L, n) lh_on_resume(L)

/* lstate.c: the string-hash seed comes from the host (per VM, random unless the host asks for a
** fixed one), not from the time and addresses, which are the same in every wasm instance. */
#define luai_makeseed(L) ((void)(L), lh_hash_seed())

#ifdef __cplusplus
#define l_signalT LhSignal /* lstate.h: the step counter (steps.h) */
#endif

/* lvm.c: a plain switch. wasm has no indirect jumps, and clang's lowering of the computed gotos
** made numeric loops 1.5x native against 1.25x with the switch (bench/, CPU workloads). */
#define LUA_USE_JUMPTABLE 0

/* lauxlib.h: print, warnings and panics */
#define lua_writestring(s, l) lh_output_write((s), (l))
#define lua_writeline() lh_output_write("\n", 1)
#define lua_writestringerror(s, p) ((void)(s), (void)(p))

/* lauxlib.c (luaL_loadfilex) and ldblib.c (debug.debug): no files, no stdin */
#undef stdin
#define stdin ((FILE *)0)
#define fopen(name, mode) ((void)(name), (void)(mode), lh_no_file())
#define freopen(name, mode, f) ((void)(name), (void)(mode), (void)(f), lh_no_file())
#undef getc
#define getc(f) lh_no_char(f)
#define ferror(f) ((void)(f), 1)
#define fclose(f) ((void)(f), 0)
#define fread(p, s, n, f) ((void)(p), (void)(s), (void)(n), (void)(f), (size_t)0)
#define fgets(b, n, f) ((void)(b), (void)(n), (void)(f), (char *)0)

/* lstate.c, lmathlib.c, ltablib.c: the host feeds the clock */
#define time(t) lh_time(t)
#define clock() lh_clock()

/* Numbers to text by hand (numfmt.h): byte for byte what "%lld" and "%.14g" print. */
#undef lua_integer2str
#define lua_integer2str(s, sz, n) lh_format_integer((s), (sz), (long long)(n))
#undef lua_number2str
#define lua_number2str(s, sz, n) lh_format_float((s), (sz), (double)(n))

#ifdef __cplusplus
/* string.format builds "%lld" for %d and passes it through l_sprintf: take that one directly. */
template <typename T>
static inline int lh_sprintf(char *s, size_t sz, const char *f, T i) {
  return snprintf(s, sz, f, i);
}
static inline int lh_sprintf(char *s, size_t sz, const char *f, long long i) {
  if (f[0] == '%' && f[1] == 'l' && f[2] == 'l' && f[3] == 'd' && f[4] == '\0') return lh_format_integer(s, sz, i);
  return snprintf(s, sz, f, i);
}
#undef l_sprintf
#define l_sprintf(s, sz, f, i) lh_sprintf((s), (sz), (f), (i))
#endif
