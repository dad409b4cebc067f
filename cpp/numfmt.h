/* Numbers to text: the integer and "%.14g" formatters behind tostring, .., string.format("%d")
** and the keys of external tables. Plain C (no Lua), so cpp/port/lua_port.h can give them to
** Lua's own files. */
#pragma once

#include <stddef.h>
#include <stdio.h>

/* Without musl's printf on the hot paths (tostring, .., string.format("%d")):
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

/* snprintf's "%.14g" takes hundreds of nanoseconds for large exponents: charged as steps
** (cpp/port/steps.h; quietly, the VM's next step raises when they ran out). */
extern long long lh_steps_left;
static inline int lh_format_float_slow(char *s, size_t sz, double d) {
  lh_steps_left -= 64;
  return snprintf(s, sz, "%.14g", d);
}

static inline int lh_format_float(char *s, size_t sz, double d) {
  /* An integral value below 1e14 prints as its digits ("3", "-42"). */
  if (d > -1e14 && d < 1e14 && d == (double)(long long)d && !(d == 0 && __builtin_signbit(d)))
    return lh_format_integer(s, sz, (long long)d);
  double a = d < 0 ? -d : d;
  if (!(a >= 1e-30 && a < 1e30) || sz < 32) return lh_format_float_slow(s, sz, d);
  int e2 = (int)((__builtin_bit_cast(unsigned long long, a) >> 52) & 0x7ff) - 1023;
  int e = (int)(e2 * 0.30102999566398120) - (e2 < 0); /* floor(log10(a)), or one less */
  double scaled = lh_scale10(a, 13 - e);
  if (scaled >= 1e14) {
    e++;
    scaled = lh_scale10(a, 13 - e);
  }
  if (!(scaled >= 1e13 && scaled < 1e14)) return lh_format_float_slow(s, sz, d);
  double whole = __builtin_floor(scaled);
  double frac = scaled - whole;
  if (frac > 0.4 && frac < 0.6) return lh_format_float_slow(s, sz, d);
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

