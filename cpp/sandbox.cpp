// The sandboxed standard libraries. Nothing here reaches files, processes or the environment:
// output goes to the I/O buffer, time comes from the host, modules from package.preload.
#include "sandbox.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ext_table.h"
#include "output.h"
#include "vm.h"

namespace lh {

static const char kRandomSeedKey = 0;  // registry: the original math.randomseed

// Makes the library at the top of the stack package.loaded[name] and the global name, as
// luaL_requiref does for Lua's own libraries (so require(name) finds it); pops it.
static void set_library(lua_State* L, const char* name) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
  lua_setglobal(L, name);
}

// {====== base library overrides

static int sandbox_print(lua_State* L) {
  int n = lua_gettop(L);
  for (int i = 1; i <= n; ++i) {
    size_t len;
    const char* s = luaL_tolstring(L, i, &len);  // __tostring and __name apply
    if (i > 1) lh_output_write("\t", 1);
    lh_output_write(s, len);
    lua_pop(L, 1);
  }
  lh_output_write("\n", 1);
  return 0;
}

// load(chunk [, chunkname [, mode [, env]]]) that accepts text only.
static int sandbox_load(lua_State* L) {
  int n = lua_gettop(L);
  const char* mode = luaL_optstring(L, 3, "t");
  if (strchr(mode, 'b'))
    return luaL_error(L, "binary chunks are not allowed (lua-home loads text only)");
  if (n < 3) lua_settop(L, 3);  // an absent env (arg 4) must stay absent
  lua_pushliteral(L, "t");
  lua_replace(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int sandbox_rawget(lua_State* L) {
  uint32_t id = proxy_id(L, 1);
  if (id == 0) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    lua_settop(L, 2);
    lua_rawget(L, 1);
    return 1;
  }
  luaL_checkany(L, 2);
  ext_get(L, id, 2);
  return 1;
}

static int sandbox_rawset(lua_State* L) {
  uint32_t id = proxy_id(L, 1);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checkany(L, 2);
  luaL_checkany(L, 3);
  lua_settop(L, 3);
  if (id == 0)
    lua_rawset(L, 1);
  else
    ext_set(L, id, 2, 3);
  lua_settop(L, 1);
  return 1;
}

static int sandbox_rawlen(lua_State* L) {
  uint32_t id = proxy_id(L, 1);
  if (id) {
    lua_pushinteger(L, ext_len(L, id));
    return 1;
  }
  int t = lua_type(L, 1);
  luaL_argexpected(L, t == LUA_TTABLE || t == LUA_TSTRING, 1, "table or string");
  lua_pushinteger(L, lua_Integer(lua_rawlen(L, 1)));
  return 1;
}

static int sandbox_next(lua_State* L) {
  uint32_t id = proxy_id(L, 1);
  if (id) return ext_next(L, id, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

static void warn_write(const char* s) { lh_output_write(s, strlen(s)); }

static void sandbox_warnf(void*, const char* message, int tocont) {
  Vm& g = g_vm;
  if (!g.warning_continues && !tocont && message[0] == '@') {  // a control message
    if (strcmp(message, "@on") == 0) g.warnings_on = true;
    if (strcmp(message, "@off") == 0) g.warnings_on = false;
    return;
  }
  if (g.warnings_on) {
    if (!g.warning_continues) warn_write("Lua warning: ");
    warn_write(message);
    if (!tocont) warn_write("\n");
  }
  g.warning_continues = tocont != 0;
}

static void open_base(lua_State* L) {
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  static const luaL_Reg overrides[] = {{"print", sandbox_print},   {"rawget", sandbox_rawget},
                                       {"rawset", sandbox_rawset}, {"rawlen", sandbox_rawlen},
                                       {"next", sandbox_next},     {nullptr, nullptr}};
  luaL_setfuncs(L, overrides, 0);
  lua_getfield(L, -1, "load");
  lua_pushcclosure(L, sandbox_load, 1);
  lua_setfield(L, -2, "load");
  lua_pushnil(L);
  lua_setfield(L, -2, "dofile");
  lua_pushnil(L);
  lua_setfield(L, -2, "loadfile");
  lua_pop(L, 1);
  lua_setwarnf(L, sandbox_warnf, nullptr);
}

// }======

// {====== io: writing to the captured output only

static void write_values(lua_State* L, int first) {
  int n = lua_gettop(L);
  for (int i = first; i <= n; ++i) {
    if (lua_type(L, i) == LUA_TNUMBER) {  // as io.write formats numbers
      char text[64];
      int len = lua_isinteger(L, i)
                    ? snprintf(text, sizeof text, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, i))
                    : snprintf(text, sizeof text, LUA_NUMBER_FMT, (LUAI_UACNUMBER)lua_tonumber(L, i));
      lh_output_write(text, size_t(len));
    } else {
      size_t len;
      const char* s = luaL_checklstring(L, i, &len);
      lh_output_write(s, len);
    }
  }
}

static int io_write(lua_State* L) {
  write_values(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));  // io.stdout, as io.write returns the file
  return 1;
}

static int stdout_write(lua_State* L) {
  luaL_argexpected(L, lua_rawequal(L, 1, lua_upvalueindex(1)), 1, "io.stdout");
  write_values(L, 2);
  lua_settop(L, 1);
  return 1;
}

static void open_io(lua_State* L) {
  lua_newtable(L);  // io
  lua_newtable(L);  // io.stdout
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, stdout_write, 1);
  lua_setfield(L, -2, "write");
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "stdout");
  lua_pushcclosure(L, io_write, 1);
  lua_setfield(L, -2, "write");
  set_library(L, "io");
}

// }======

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
      luaL_error(L, "bad argument #1 to 'date' (invalid conversion specifier '%%%s')", f);
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
      luaL_error(L, "bad argument #1 to 'date' (invalid conversion specifier '%%%c')", conv);
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

lua_Integer get_field(lua_State* L, const char* k, lua_Integer def) {
  int t = lua_getfield(L, -1, k);
  int isnum;
  lua_Integer v = lua_tointegerx(L, -1, &isnum);
  lua_pop(L, 1);
  if (isnum) {
    if (v < -(lua_Integer(1) << 40) || v > (lua_Integer(1) << 40))
      luaL_error(L, "field '%s' is out-of-bound", k);
    return v;
  }
  if (t != LUA_TNIL) luaL_error(L, "field '%s' is not an integer", k);
  if (def < 0) luaL_error(L, "field '%s' missing in date table", k);
  return def;
}

lua_Integer host_now() { return lua_Integer(floor(g_vm.host_time)); }

}  // namespace

static int os_time(lua_State* L) {
  if (lua_isnoneornil(L, 1)) {
    lua_pushinteger(L, host_now());
    return 1;
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_Integer year = get_field(L, "year", -1);
  lua_Integer month = get_field(L, "month", -1);
  lua_Integer day = get_field(L, "day", -1);
  lua_Integer hour = get_field(L, "hour", 12);
  lua_Integer min = get_field(L, "min", 0);
  lua_Integer sec = get_field(L, "sec", 0);
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
  lua_Integer t = luaL_opt(L, luaL_checkinteger, 2, host_now());
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
  lua_pushnumber(L, g_vm.host_clock);
  return 1;
}

static int os_difftime(lua_State* L) {
  lua_Integer t1 = luaL_checkinteger(L, 1);
  lua_Integer t2 = luaL_optinteger(L, 2, 0);
  lua_pushnumber(L, lua_Number(t1) - lua_Number(t2));
  return 1;
}

static void open_os(lua_State* L) {
  static const luaL_Reg lib[] = {{"time", os_time},   {"date", os_date}, {"clock", os_clock},
                                 {"difftime", os_difftime}, {nullptr, nullptr}};
  luaL_newlib(L, lib);
  set_library(L, "os");
}

// }======

// {====== package and require: package.preload only

static int sandbox_require(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);  // 2
  if (lua_getfield(L, 2, name) != LUA_TNIL) return 1;    // already loaded
  lua_pop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);  // 3
  if (lua_getfield(L, 3, name) == LUA_TNIL)
    return luaL_error(L, "module '%s' not found:\n\tno field package.preload['%s']\n\t"
                         "(lua-home loads modules from package.preload only)", name, name);
  lua_pushvalue(L, 1);
  lua_pushliteral(L, ":preload:");
  lua_call(L, 2, 1);
  if (!lua_isnil(L, -1)) lua_setfield(L, 2, name);
  else lua_pop(L, 1);
  if (lua_getfield(L, 2, name) == LUA_TNIL) {  // the module set no value: true, as Lua does
    lua_pushboolean(L, 1);
    lua_copy(L, -1, -2);
    lua_setfield(L, 2, name);
  }
  lua_pushliteral(L, ":preload:");
  return 2;
}

static void open_package(lua_State* L) {
  lua_newtable(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, LUA_LOADLIBNAME);  // package.loaded.package = package
  lua_setfield(L, -2, "loaded");
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_setfield(L, -2, "preload");
  lua_setglobal(L, LUA_LOADLIBNAME);
  lua_pushcfunction(L, sandbox_require);
  lua_setglobal(L, "require");
}

// }======

// {====== debug: only what cannot break the sandbox or the proxies

static void open_debug(lua_State* L) {
  luaL_requiref(L, LUA_DBLIBNAME, luaopen_debug, 0);
  lua_newtable(L);
  static const char* const kept[] = {"traceback", "getinfo"};
  for (const char* keep : kept) {
    lua_getfield(L, -2, keep);
    lua_setfield(L, -2, keep);
  }
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, LUA_DBLIBNAME);
  lua_pop(L, 1);
  lua_setglobal(L, LUA_DBLIBNAME);
  lua_pop(L, 1);
}

// }======

void seed_random(lua_State* L, lua_Integer a, lua_Integer b) {
  StackGuard guard(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kRandomSeedKey);
  lua_pushinteger(L, a);
  lua_pushinteger(L, b);
  lua_call(L, 2, 0);
}

void open_sandbox(lua_State* L) {
  open_base(L);
  static const luaL_Reg libs[] = {{LUA_COLIBNAME, luaopen_coroutine},
                                  {LUA_TABLIBNAME, luaopen_table},
                                  {LUA_STRLIBNAME, luaopen_string},
                                  {LUA_MATHLIBNAME, luaopen_math},
                                  {LUA_UTF8LIBNAME, luaopen_utf8},
                                  {nullptr, nullptr}};
  for (const luaL_Reg* lib = libs; lib->func; ++lib) {
    luaL_requiref(L, lib->name, lib->func, 1);
    lua_pop(L, 1);
  }
  lua_getglobal(L, LUA_MATHLIBNAME);
  lua_getfield(L, -1, "randomseed");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kRandomSeedKey);
  lua_pop(L, 1);
  seed_random(L, 0, 0);  // deterministic until the host seeds it
  open_debug(L);
  open_io(L);
  open_os(L);
  open_package(L);
  open_ext(L);
}

}  // namespace lh
