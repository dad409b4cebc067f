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

/* Numbers to text without musl's printf on the hot paths (tostring, .., string.format("%d")):
** its integer path goes through the FILE machinery, and wasm32 has no fast long double. The
** output is byte for byte what "%lld" and "%.14g" print; everything else still uses snprintf. */
static inline int lh_format_integer(char *s, size_t sz, long long v) {
  char tmp[24];
  int n = 0;
  unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
  do {
    tmp[n++] = (char)('0' + (int)(u % 10));
    u /= 10;
  } while (u != 0);
  if (v < 0) tmp[n++] = '-';
  if (sz > 0) {
    size_t w = (size_t)n < sz - 1 ? (size_t)n : sz - 1;
    for (size_t i = 0; i < w; i++) s[i] = tmp[n - 1 - (int)i];
    s[w] = '\0';
  }
  return n;
}

static inline int lh_format_float(char *s, size_t sz, double d) {
  /* An integral value below 1e14 prints under "%.14g" as its digits ("3", "-42"); -0.0 and
  ** everything else take the general path. */
  if (d == (double)(long long)d && d > -1e14 && d < 1e14 && !(d == 0 && __builtin_signbit(d)))
    return lh_format_integer(s, sz, (long long)d);
  return snprintf(s, sz, "%.14g", d);
}

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
