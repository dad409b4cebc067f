// The io library of the sandbox (io_lib.h): io.write/read/lines/flush/type and io.stdin,
// io.stdout, io.stderr as in Lua's liolib.c, over the host's streams (output.h) and stdin
// (read through the host channel; without it stdin is empty). Public API only.
#include "io_lib.h"

#include <stdio.h>
#include <string.h>

#include "channel.h"
#include "output.h"
#include "vm_state.h"

namespace lh {

static const char kFileType[] = "FILE*";  // the name Lua gives its files (LUA_FILEHANDLE)

enum StdFile : int { kIn = 0, kOut = 1, kErr = 2 };

static int* check_file(lua_State* L, int idx) {
  return static_cast<int*>(luaL_checkudata(L, idx, kFileType));
}

// {====== stdin

// Makes sure there is an unread byte; false at the end of stdin.
static bool fill(lua_State* L) {
  Vm& g = g_vm;
  if (g.in_pos < g.in_len) return true;
  if (g.in_eof || !channel_on()) return false;
  output_flush(L);  // a prompt written before reading shows first
  Bytes req(L), big(L);
  req.push(kOpRead);
  req.put_u32(kStdinBytes);
  Answer a = channel_request(L, req, big);
  if (a.status == kStatusError) luaL_error(L, "the host failed to read stdin");
  if (a.status != kStatusOk || a.len == 0) {
    g.in_eof = true;
    return false;
  }
  uint32_t n = a.len < kStdinBytes ? a.len : kStdinBytes;
  memcpy(g.in, a.data, n);
  g.in_pos = 0;
  g.in_len = n;
  return true;
}

static int peek(lua_State* L) { return fill(L) ? g_vm.in[g_vm.in_pos] : EOF; }
static void skip() { ++g_vm.in_pos; }

// A line, with or without its newline; false when nothing was read (end of stdin).
static bool read_line(lua_State* L, bool keep_newline) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  bool any = false;
  while (fill(L)) {
    Vm& g = g_vm;
    any = true;
    const uint8_t* start = g.in + g.in_pos;
    uint32_t avail = g.in_len - g.in_pos;
    const void* nl = memchr(start, '\n', avail);
    uint32_t n = nl ? uint32_t(static_cast<const uint8_t*>(nl) - start) : avail;
    luaL_addlstring(&b, reinterpret_cast<const char*>(start), n);
    g.in_pos += n;
    if (nl) {
      g.in_pos += 1;
      if (keep_newline) luaL_addchar(&b, '\n');
      break;
    }
  }
  luaL_pushresult(&b);
  return any;
}

static void read_all(lua_State* L) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  while (fill(L)) {
    Vm& g = g_vm;
    luaL_addlstring(&b, reinterpret_cast<const char*>(g.in + g.in_pos), g.in_len - g.in_pos);
    g.in_pos = g.in_len;
  }
  luaL_pushresult(&b);
}

static bool read_count(lua_State* L, size_t n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t got = 0;
  while (got < n && fill(L)) {
    Vm& g = g_vm;
    size_t take = g.in_len - g.in_pos;
    if (take > n - got) take = n - got;
    luaL_addlstring(&b, reinterpret_cast<const char*>(g.in + g.in_pos), take);
    g.in_pos += uint32_t(take);
    got += take;
  }
  luaL_pushresult(&b);
  return got > 0;
}

// {====== io.read("n"), as liolib.c reads a numeral: at most 200 characters, accepted by
// lua_stringtonumber or the result is fail.

constexpr int kMaxNumeral = 200;

struct Numeral {
  int n = 0;
  char buf[kMaxNumeral + 1];
};

static bool next_is(lua_State* L, Numeral& num, const char* set) {
  int c = peek(L);
  if (c == EOF || c == 0 || !strchr(set, c) || num.n >= kMaxNumeral) return false;
  num.buf[num.n++] = char(c);
  skip();
  return true;
}

static int read_digits(lua_State* L, Numeral& num, bool hex) {
  int count = 0;
  while (next_is(L, num, hex ? "0123456789abcdefABCDEF" : "0123456789")) ++count;
  return count;
}

static bool read_number(lua_State* L) {
  Numeral num;
  while (peek(L) != EOF && strchr(" \t\n\v\f\r", peek(L))) skip();  // leading spaces
  next_is(L, num, "+-");
  bool hex = false;
  int count = 0;
  if (next_is(L, num, "0")) {
    if (next_is(L, num, "xX")) hex = true;
    else count = 1;
  }
  count += read_digits(L, num, hex);
  if (next_is(L, num, ".")) count += read_digits(L, num, hex);
  if (count > 0 && next_is(L, num, hex ? "pP" : "eE")) {
    next_is(L, num, "+-");
    read_digits(L, num, false);
  }
  num.buf[num.n] = '\0';
  if (lua_stringtonumber(L, num.buf)) return true;
  lua_pushnil(L);  // "fail"
  return false;
}

// }======

// file:read(...) / io.read(...): formats from argument `first`.
static int read_formats(lua_State* L, int first) {
  int nargs = lua_gettop(L) - first + 1;
  if (nargs <= 0) {
    if (!read_line(L, false)) {
      lua_pop(L, 1);
      luaL_pushfail(L);
    }
    return 1;
  }
  luaL_checkstack(L, nargs + LUA_MINSTACK, "too many arguments");
  bool ok = true;
  int n = first;
  for (; nargs-- && ok; ++n) {
    if (lua_type(L, n) == LUA_TNUMBER) {
      size_t count = size_t(luaL_checkinteger(L, n));
      if (count == 0) {  // a test for the end of stdin
        ok = peek(L) != EOF;
        lua_pushliteral(L, "");
      } else {
        ok = read_count(L, count);
      }
      continue;
    }
    const char* p = luaL_checkstring(L, n);
    if (*p == '*') ++p;  // Lua 5.3's format style
    switch (*p) {
      case 'n': ok = read_number(L); break;
      case 'l': ok = read_line(L, false); break;
      case 'L': ok = read_line(L, true); break;
      case 'a': read_all(L); ok = true; break;
      default: return luaL_argerror(L, n, "invalid format");
    }
  }
  if (!ok) {
    lua_pop(L, 1);
    luaL_pushfail(L);
  }
  return n - first;
}

static int io_read(lua_State* L) { return read_formats(L, 1); }

// What Lua answers for an operation a standard file cannot do (EBADF).
static int bad_descriptor(lua_State* L) {
  luaL_pushfail(L);
  lua_pushliteral(L, "Bad file descriptor");
  lua_pushinteger(L, 9);
  return 3;
}

static int file_read(lua_State* L) {
  if (*check_file(L, 1) != kIn) return bad_descriptor(L);
  return read_formats(L, 2);
}

static int lines_step(lua_State* L) {
  int n = (int)lua_tointeger(L, lua_upvalueindex(1));
  luaL_checkstack(L, n, "too many arguments");
  for (int i = 1; i <= n; ++i) lua_pushvalue(L, lua_upvalueindex(1 + i));
  int first = lua_gettop(L) - n + 1;
  int results = read_formats(L, first);
  if (lua_toboolean(L, -results)) return results;
  return 0;  // the end: nil, as the generic for expects
}

static int push_lines(lua_State* L, int first) {
  int n = lua_gettop(L) - first + 1;
  luaL_argcheck(L, n <= 250, first + 250, "too many arguments");
  lua_pushinteger(L, n);
  lua_insert(L, first);
  lua_pushcclosure(L, lines_step, n + 1);
  return 1;
}

static int io_lines(lua_State* L) {
  if (!lua_isnoneornil(L, 1))
    return luaL_error(L, "io.lines: there are no files in the sandbox (io.lines() reads stdin)");
  if (lua_gettop(L) < 1) lua_pushnil(L);
  return push_lines(L, 2);
}

static int file_lines(lua_State* L) {
  luaL_argcheck(L, *check_file(L, 1) == kIn, 1, "not readable (only io.stdin has lines)");
  return push_lines(L, 2);
}

// }======

// {====== writing

static void write_values(lua_State* L, Stream stream, int first) {
  int n = lua_gettop(L);
  for (int i = first; i <= n; ++i) {
    if (lua_type(L, i) == LUA_TNUMBER) {  // as io.write formats numbers
      char text[64];
      int len = lua_isinteger(L, i)
                    ? snprintf(text, sizeof text, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, i))
                    : snprintf(text, sizeof text, LUA_NUMBER_FMT, (LUAI_UACNUMBER)lua_tonumber(L, i));
      output_write(L, stream, text, size_t(len));
    } else {
      size_t len;
      const char* s = luaL_checklstring(L, i, &len);
      output_write(L, stream, s, len);
    }
  }
}

static void push_std(lua_State* L, StdFile f) {
  lua_rawgeti(L, lua_upvalueindex(1), f + 1);
}

static int io_write(lua_State* L) {
  write_values(L, kStdout, 1);
  push_std(L, kOut);
  return 1;
}

static int file_write(lua_State* L) {
  int f = *check_file(L, 1);
  if (f == kIn) return bad_descriptor(L);
  write_values(L, f == kErr ? kStderr : kStdout, 2);
  lua_settop(L, 1);
  return 1;
}

static int io_flush(lua_State* L) {
  output_flush(L);
  push_std(L, kOut);
  return 1;
}

static int file_flush(lua_State* L) {
  check_file(L, 1);
  output_flush(L);
  lua_settop(L, 1);
  return 1;
}

// }======

static int file_close(lua_State* L) {
  check_file(L, 1);
  luaL_pushfail(L);
  lua_pushliteral(L, "cannot close standard file");
  return 2;
}

static int file_setvbuf(lua_State* L) {  // accepted; the host decides how output is buffered
  check_file(L, 1);
  static const char* const modes[] = {"no", "full", "line", nullptr};
  luaL_checkoption(L, 2, nullptr, modes);
  lua_pushboolean(L, 1);
  return 1;
}

static int file_seek(lua_State* L) {
  check_file(L, 1);
  luaL_pushfail(L);
  lua_pushliteral(L, "Illegal seek");
  lua_pushinteger(L, 29);
  return 3;
}

static int file_tostring(lua_State* L) {
  static const char* const names[] = {"stdin", "stdout", "stderr"};
  lua_pushfstring(L, "file (%s)", names[*check_file(L, 1)]);
  return 1;
}

static int io_type(lua_State* L) {
  luaL_checkany(L, 1);
  if (luaL_testudata(L, 1, kFileType)) lua_pushliteral(L, "file");
  else luaL_pushfail(L);
  return 1;
}

void open_io(lua_State* L) {
  lua_createtable(L, 3, 0);  // the three files: upvalue of every function that names one
  int files = lua_gettop(L);
  luaL_newmetatable(L, kFileType);
  static const luaL_Reg methods[] = {{"read", file_read},     {"write", file_write},
                                     {"lines", file_lines},   {"flush", file_flush},
                                     {"close", file_close},   {"setvbuf", file_setvbuf},
                                     {"seek", file_seek},     {nullptr, nullptr}};
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, file_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  for (int f = kIn; f <= kErr; ++f) {
    *static_cast<int*>(lua_newuserdatauv(L, sizeof(int), 0)) = f;
    luaL_setmetatable(L, kFileType);
    lua_rawseti(L, files, f + 1);
  }
  static const luaL_Reg lib[] = {{"write", io_write}, {"read", io_read}, {"lines", io_lines},
                                 {"flush", io_flush}, {"type", io_type}, {nullptr, nullptr}};
  luaL_newlibtable(L, lib);
  lua_pushvalue(L, files);
  luaL_setfuncs(L, lib, 1);
  static const char* const names[] = {"stdin", "stdout", "stderr"};
  for (int f = kIn; f <= kErr; ++f) {
    lua_rawgeti(L, files, f + 1);
    lua_setfield(L, -2, names[f]);
  }
  lua_remove(L, files);
}

}  // namespace lh
