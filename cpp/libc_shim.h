/* Forced into every translation unit (-include): routes the few stdio and time uses of Lua's
** sources to lua-home's own functions, so that the module imports nothing but its five
** external-table functions. Files, stdin and stderr do not exist in the sandbox. */
#pragma once

#include <stdio.h>
#include <time.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif
void lh_output_write(const char *s, size_t len);   /* captured output (output.cpp) */
time_t lh_time(time_t *t);                         /* host-fed clock (vm.cpp) */
clock_t lh_clock(void);
void lh_on_resume(void *L);                        /* a coroutine resumes (vm.cpp) */
FILE *lh_no_file(void);                            /* always NULL: there are no files */
int lh_no_char(FILE *f);                           /* always EOF */
#ifdef __cplusplus
}
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

/* llimits.h: every resumed coroutine gets the current instruction-limit hook, so a coroutine
** created in an earlier compute (or under other limits) cannot run past this compute's limit. */
#define luai_userstateresume(L, n) lh_on_resume(L)

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
