/* strtod in double precision: musl's own scanner (floatscan.c from the Emscripten installation,
** converted by cmake/floatscan_double.cmake to use double where it used long double), called as
** musl's strtod calls it. Correctly rounded, like musl's; test/core/number-format.test.ts checks
** it against JavaScript's Number() on random and halfway inputs. */
#include "floatscan_double.c"

double strtod(const char *restrict s, char **restrict p) {
  FILE f;
  sh_fromstring(&f, s);
  shlim(&f, 0);
  double y = lh_floatscan(&f, 1, 1);
  off_t cnt = shcnt(&f);
  if (p) *p = cnt ? (char *)s + cnt : (char *)s;
  return y;
}
