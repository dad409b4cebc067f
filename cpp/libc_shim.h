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
void lh_steps_ran_out(void);                       /* marks the compute as stopped (vm.cpp) */
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

/* llimits.h: every resumed coroutine gets the instruction-limit hook, so a coroutine created in
** an earlier compute (or under other limits) cannot run past this compute's limit. */
#define luai_userstateresume(L, n) lh_on_resume(L)

#ifdef __cplusplus
/* lstate.h: the instruction limit without a hook at every instruction. Lua's VM reads the
** 'trap' of a call frame at every jump, loop iteration, return and protected operation, and the
** thread's 'hookmask' at every function entry: its "steps". Both have the type l_signalT, made
** here a class whose read counts one step. When the steps run out the read answers
** LUA_MASKCOUNT (8): the VM then calls luaG_traceexec, which calls the count hook (installed on
** every thread with a count of 1, cpp/vm.cpp), which raises the limit error. Until then a step
** costs a decrement and a branch, not a hook call per instruction (Lua's count hook would keep
** 'trap' on for every instruction: CPU-bound code ran about 1.6x slower under a limit). */
extern long long lh_steps_left;
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
#define l_signalT LhSignal

/* lstrlib.c: the pattern matcher backtracks inside one C call, where the VM counts no steps,
** so `string.find(s, ".-.-.-.-x")` could run for hours under any limit. lstrlib.c alone is built
** with Lua's luai_unlikely(x) defined as lh_pattern_step(x) (CMakeLists.txt): every match()
** entry (each backtracking attempt) tests 'matchdepth' through it and so counts one step; its
** other uses are rare error checks. When the steps run out it answers true: the check it sits in
** raises that function's error at once (with lh_steps_ran_out marking the compute, which then
** fails as 'limit' with the limit's own message). */
static inline bool lh_pattern_step(bool x) {
  if (x) return true;
  if (--lh_steps_left >= 0) return false;
  lh_steps_left = -1;
  lh_steps_ran_out();
  return true;
}
#endif

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
  unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
  int n = 1 + (v < 0);
  for (unsigned long long t = u; t >= 10; t /= 10) n++;
  if ((size_t)n < sz) { /* the usual case: the text and its NUL fit, written in place */
    char *p = s + n;
    *p = '\0';
    do {
      *--p = (char)('0' + (int)(u % 10));
      u /= 10;
    } while (u != 0);
    if (v < 0) *--p = '-';
    return n;
  }
  char tmp[24]; /* too small: snprintf's truncation */
  n = 0;
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

/* "%.14g" of a finite double, computed in doubles: the value scaled to 14 integer digits
** (scaling errs by at most a few units in the last place, under 0.05 of a digit), rounded to
** nearest. Only a fraction within 0.1 of one half could round either way: those (and
** subnormals, huge exponents, integral values that overflow) go to snprintf. So the output is
** always exactly what "%.14g" prints; test/core checks it against snprintf on random doubles. */
static const double lh_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static inline double lh_scale10(double a, int k) { /* a * 10^k, |k| <= 44 */
  if (k >= 0) return k <= 22 ? a * lh_pow10[k] : a * lh_pow10[22] * lh_pow10[k - 22];
  k = -k;
  return k <= 22 ? a / lh_pow10[k] : a / lh_pow10[22] / lh_pow10[k - 22];
}

static inline int lh_format_float(char *s, size_t sz, double d) {
  /* An integral value below 1e14 prints as its digits ("3", "-42"). */
  if (d > -1e14 && d < 1e14 && d == (double)(long long)d && !(d == 0 && __builtin_signbit(d)))
    return lh_format_integer(s, sz, (long long)d);
  double a = d < 0 ? -d : d;
  if (!(a >= 1e-30 && a < 1e30) || sz < 32) return snprintf(s, sz, "%.14g", d);
  int e2 = (int)((__builtin_bit_cast(unsigned long long, a) >> 52) & 0x7ff) - 1023;
  int e = (int)(e2 * 0.30102999566398120) - (e2 < 0); /* floor(log10(a)), or one less */
  double scaled = lh_scale10(a, 13 - e);
  if (scaled >= 1e14) {
    e++;
    scaled = lh_scale10(a, 13 - e);
  }
  if (!(scaled >= 1e13 && scaled < 1e14)) return snprintf(s, sz, "%.14g", d);
  double whole = __builtin_floor(scaled);
  double frac = scaled - whole;
  if (frac > 0.4 && frac < 0.6) return snprintf(s, sz, "%.14g", d);
  unsigned long long digits = (unsigned long long)whole + (frac >= 0.6 ? 1 : 0);
  if (digits == 100000000000000ull) {
    digits = 10000000000000ull;
    e++;
  }
  char D[14];
  for (int i = 13; i >= 0; i--) {
    D[i] = (char)('0' + (int)(digits % 10));
    digits /= 10;
  }
  int last = 13; /* %g drops trailing zeros of the fraction */
  char *p = s;
  if (d < 0) *p++ = '-';
  if (e >= -4 && e < 14) {
    if (e >= 0) {
      while (last > e && D[last] == '0') last--;
      for (int i = 0; i <= e; i++) *p++ = D[i];
      if (last > e) {
        *p++ = '.';
        for (int i = e + 1; i <= last; i++) *p++ = D[i];
      }
    } else {
      while (D[last] == '0') last--;
      *p++ = '0';
      *p++ = '.';
      for (int i = -1; i > e; i--) *p++ = '0';
      for (int i = 0; i <= last; i++) *p++ = D[i];
    }
  } else {
    while (last > 0 && D[last] == '0') last--;
    *p++ = D[0];
    if (last > 0) {
      *p++ = '.';
      for (int i = 1; i <= last; i++) *p++ = D[i];
    }
    *p++ = 'e';
    *p++ = e < 0 ? '-' : '+';
    int x = e < 0 ? -e : e;
    if (x >= 10) *p++ = (char)('0' + x / 10);
    else *p++ = '0';
    *p++ = (char)('0' + x % 10);
  }
  *p = '\0';
  return (int)(p - s);
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
