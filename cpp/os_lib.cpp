// The os library of the sandbox (os_lib.h): time, clock, date and difftime, in UTC, from the
// clock the host feeds; and the same clock for Lua's own uses of time() and clock().
// Public API only.
#include "os_lib.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "channel.h"
#include "vm_state.h"

namespace lh {

// {====== os: time, clock, date and difftime, in UTC, from the host's clock

namespace {

struct Civil {
  int64_t year;
  int month, day;              // 1..12, 1..31
  int hour, min, sec;
  int wday, yday;              // 0 = Sunday; 1..366
};

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = floor_div(y, 400);
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

Civil civil_from_time(int64_t t) {
  int64_t days = floor_div(t, 86400);
  int64_t secs = t - days * 86400;
  int64_t z = days + 719468;
  int64_t era = floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  Civil c;
  c.day = int(doy - (153 * mp + 2) / 5 + 1);
  c.month = int(mp < 10 ? mp + 3 : mp - 9);
  c.year = yoe + era * 400 + (c.month <= 2);
  c.hour = int(secs / 3600);
  c.min = int(secs / 60 % 60);
  c.sec = int(secs % 60);
  c.wday = int(((days + 4) % 7 + 7) % 7);  // 1970-01-01 was a Thursday
  c.yday = int(days - days_from_civil(c.year, 1, 1) + 1);
  return c;
}

const char* const kDays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                             "Thursday", "Friday", "Saturday"};
const char* const kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                               "July",    "August",   "September", "October", "November", "December"};

int iso_weeks_in_year(int64_t y) {
  auto p = [](int64_t x) { return ((x + floor_div(x, 4) - floor_div(x, 100) + floor_div(x, 400)) % 7 + 7) % 7; };
  return (p(y) == 4 || p(y - 1) == 3) ? 53 : 52;
}

// ISO 8601 week number and its year.
void iso_week(const Civil& c, int* week, int64_t* year) {
  int iso_wday = c.wday == 0 ? 7 : c.wday;
  int w = (c.yday - iso_wday + 10) / 7;
  int64_t y = c.year;
  if (w < 1) {
    --y;
    w = iso_weeks_in_year(y);
  } else if (w > iso_weeks_in_year(y)) {
    ++y;
    w = 1;
  }
  *week = w;
  *year = y;
}

// Lua's own wording, with the function's name as the caller sees it ('date' or 'os.date').
[[noreturn]] void bad_conversion(lua_State* L, const char* spec) {
  luaL_argerror(L, 1, lua_pushfstring(L, "invalid conversion specifier '%%%s'", spec));
  __builtin_trap();
}

void put(luaL_Buffer* b, const char* fmt, long long v) {
  char text[32];
  int n = snprintf(text, sizeof text, fmt, v);
  luaL_addlstring(b, text, size_t(n));
}

void format_conversion(lua_State* L, luaL_Buffer* b, char conv, const Civil& c);

void format(lua_State* L, luaL_Buffer* b, const char* f, const Civil& c) {
  for (; *f; ++f) {
    if (*f != '%') {
      luaL_addchar(b, *f);
      continue;
    }
    ++f;
    if ((*f == 'E' && f[1] && strchr("cCxXyY", f[1])) ||
        (*f == 'O' && f[1] && strchr("deHImMSuUVwWy", f[1])))
      ++f;  // C99 modifiers: the C locale has no alternative forms
    else if (*f == 'E' || *f == 'O' || *f == '\0')
      bad_conversion(L, f);
    format_conversion(L, b, *f, c);
  }
}

void format_conversion(lua_State* L, luaL_Buffer* b, char conv, const Civil& c) {
  int hour12 = c.hour % 12 == 0 ? 12 : c.hour % 12;
  int week;
  int64_t week_year;
  switch (conv) {
    case 'a': luaL_addlstring(b, kDays[c.wday], 3); break;
    case 'A': luaL_addstring(b, kDays[c.wday]); break;
    case 'b': case 'h': luaL_addlstring(b, kMonths[c.month - 1], 3); break;
    case 'B': luaL_addstring(b, kMonths[c.month - 1]); break;
    case 'c': format(L, b, "%a %b %e %H:%M:%S %Y", c); break;
    case 'C': put(b, "%02lld", (long long)floor_div(c.year, 100)); break;
    case 'd': put(b, "%02lld", c.day); break;
    case 'D': case 'x': format(L, b, "%m/%d/%y", c); break;
    case 'e': put(b, "%2lld", c.day); break;
    case 'F': format(L, b, "%Y-%m-%d", c); break;
    case 'g': iso_week(c, &week, &week_year); put(b, "%02lld", (long long)(((week_year % 100) + 100) % 100)); break;
    case 'G': iso_week(c, &week, &week_year); put(b, "%lld", (long long)week_year); break;
    case 'H': put(b, "%02lld", c.hour); break;
    case 'I': put(b, "%02lld", hour12); break;
    case 'j': put(b, "%03lld", c.yday); break;
    case 'm': put(b, "%02lld", c.month); break;
    case 'M': put(b, "%02lld", c.min); break;
    case 'n': luaL_addchar(b, '\n'); break;
    case 'p': luaL_addstring(b, c.hour < 12 ? "AM" : "PM"); break;
    case 'r': format(L, b, "%I:%M:%S %p", c); break;
    case 'R': format(L, b, "%H:%M", c); break;
    case 'S': put(b, "%02lld", c.sec); break;
    case 't': luaL_addchar(b, '\t'); break;
    case 'T': case 'X': format(L, b, "%H:%M:%S", c); break;
    case 'u': put(b, "%lld", c.wday == 0 ? 7 : c.wday); break;
    case 'U': put(b, "%02lld", (c.yday - 1 + 7 - c.wday) / 7); break;
    case 'V': iso_week(c, &week, &week_year); put(b, "%02lld", week); break;
    case 'w': put(b, "%lld", c.wday); break;
    case 'W': put(b, "%02lld", (c.yday - 1 + 7 - (c.wday + 6) % 7) / 7); break;
    case 'y': put(b, "%02lld", (long long)(((c.year % 100) + 100) % 100)); break;
    case 'Y': put(b, "%lld", (long long)c.year); break;
    case 'z': luaL_addstring(b, "+0000"); break;
    case 'Z': luaL_addstring(b, "UTC"); break;
    case '%': luaL_addchar(b, '%'); break;
    default:
      { char spec[2] = {conv, 0}; bad_conversion(L, spec); }
  }
}

void set_field(lua_State* L, const char* k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

void set_all_fields(lua_State* L, const Civil& c) {
  set_field(L, "year", lua_Integer(c.year));
  set_field(L, "month", c.month);
  set_field(L, "day", c.day);
  set_field(L, "hour", c.hour);
  set_field(L, "min", c.min);
  set_field(L, "sec", c.sec);
  set_field(L, "yday", c.yday);
  set_field(L, "wday", c.wday + 1);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "isdst");
}

lua_Integer get_field(lua_State* L, const char* k, lua_Integer def, lua_Integer delta) {
  int t = lua_getfield(L, -1, k);
  int isnum;
  lua_Integer v = lua_tointegerx(L, -1, &isnum);
  lua_pop(L, 1);
  if (isnum) {
    // As Lua's os.time: the field, less its offset in C's struct tm, must fit in an int.
    if (!(v >= 0 ? v - delta <= INT_MAX : INT_MIN + delta <= v))
      luaL_error(L, "field '%s' is out-of-bound", k);
    return v;
  }
  if (t != LUA_TNIL) luaL_error(L, "field '%s' is not an integer", k);
  if (def < 0) luaL_error(L, "field '%s' missing in date table", k);
  return def;
}

lua_Integer host_now(lua_State* L) {
  channel_clock(L);
  return lua_Integer(floor(g_vm.host_time));
}

}  // namespace

static int os_time(lua_State* L) {
  if (lua_isnoneornil(L, 1)) {
    lua_pushinteger(L, host_now(L));
    return 1;
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_Integer year = get_field(L, "year", -1, 1900);
  lua_Integer month = get_field(L, "month", -1, 1);
  lua_Integer day = get_field(L, "day", -1, 0);
  lua_Integer hour = get_field(L, "hour", 12, 0);
  lua_Integer min = get_field(L, "min", 0, 0);
  lua_Integer sec = get_field(L, "sec", 0, 0);
  lua_Integer m0 = month - 1;  // normalise the month as mktime does
  year += floor_div(m0, 12);
  m0 -= floor_div(m0, 12) * 12;
  lua_Integer t = (days_from_civil(year, int(m0) + 1, 1) + day - 1) * 86400 + hour * 3600 +
                  min * 60 + sec;
  set_all_fields(L, civil_from_time(t));  // update the table with normalised fields
  lua_pushinteger(L, t);
  return 1;
}

static int os_date(lua_State* L) {
  const char* f = luaL_optstring(L, 1, "%c");
  lua_Integer t = luaL_opt(L, luaL_checkinteger, 2, host_now(L));
  if (*f == '!') ++f;  // the sandbox has no local time zone: always UTC
  Civil c = civil_from_time(t);
  if (strcmp(f, "*t") == 0) {
    lua_createtable(L, 0, 9);
    set_all_fields(L, c);
    return 1;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  format(L, &b, f, c);
  luaL_pushresult(&b);
  return 1;
}

static int os_clock(lua_State* L) {
  channel_clock(L);
  lua_pushnumber(L, g_vm.host_clock);
  return 1;
}

static int os_difftime(lua_State* L) {
  lua_Integer t1 = luaL_checkinteger(L, 1);  // both required, as in Lua 5.4
  lua_Integer t2 = luaL_checkinteger(L, 2);
  lua_pushnumber(L, lua_Number(t1) - lua_Number(t2));
  return 1;
}

void open_os(lua_State* L) {
  static const luaL_Reg lib[] = {{"time", os_time},   {"date", os_date}, {"clock", os_clock},
                                 {"difftime", os_difftime}, {nullptr, nullptr}};
  luaL_newlib(L, lib);
}

// }======

}  // namespace lh

extern "C" time_t lh_time(time_t* t) {
  lh::channel_clock(nullptr);  // no Lua error from here: a failed request leaves the clock
  time_t now = (time_t)floor(lh::g_vm.host_time);
  if (t) *t = now;
  return now;
}

extern "C" clock_t lh_clock(void) {
  lh::channel_clock(nullptr);
  return (clock_t)(lh::g_vm.host_clock * CLOCKS_PER_SEC);
}
