// The value codec and key encoding: Lua values to bytes and back, refusing what cannot cross.
// Public API only.
#include "codec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_calls.h"
#include "lh_limits.h"
#include "numfmt.h"
#include "proxy.h"

namespace lh {

// {====== keys

static void put_decimal_integer(Bytes& out, lua_Integer i) {
  char text[24];  // by hand (numfmt.h): integer keys are the hottest path of external tables
  out.append(text, uint32_t(lh_format_integer(text, sizeof text, i)));
}

// m * 10^e, read back as strtod reads it (m of at most 17 digits).
static double decimal_value(uint64_t m, int e) {
  char text[40];
  snprintf(text, sizeof text, "%llue%d", (unsigned long long)m, e);
  return strtod(text, nullptr);
}

// The shortest decimal that reads back to d, the nearest of them (ties to even digits), as
// JavaScript's String(d) chooses it; written as "%.Pg" writes P significant digits (docs/ABI.md).
static void put_shortest_float(Bytes& out, double d) {
  if (isinf(d)) {
    out.append(d < 0 ? "-inf" : "inf", d < 0 ? 4 : 3);
    return;
  }
  static const uint64_t kPow10[18] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull,
    10000000ull, 100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
    10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
    100000000000000000ull};
  double a = fabs(d);
  uint64_t m = 0;  // a reads back from m * 10^(x - p + 1), m of p digits
  int x = 0, p = 1;
  for (; p <= 17; ++p) {
    char text[40];
    snprintf(text, sizeof text, "%.*e", p - 1, a);  // the nearest p-digit decimal, ties to even
    m = 0;
    const char* c = text;
    for (; *c != 'e'; ++c)
      if (*c != '.') m = m * 10 + uint64_t(*c - '0');
    x = int(strtol(c + 1, nullptr, 10));
    double back = decimal_value(m, x - p + 1);
    if (back == a) break;
    // Below a power of two the doubles are twice as dense: the nearest decimal can miss a's
    // rounding interval on that side while its neighbour on the other side lies inside it.
    uint64_t m2 = back < a ? m + 1 : m - 1;
    int x2 = x;
    if (m2 == kPow10[p]) m2 = kPow10[p - 1], ++x2;
    else if (m2 < kPow10[p - 1]) m2 = kPow10[p] - 1, --x2;
    if (decimal_value(m2, x2 - p + 1) == a) {
      m = m2, x = x2;
      break;
    }
  }
  if (p > 17) p = 17;
  while (p > 1 && m % 10 == 0) m /= 10, --p;
  char digits[20];
  for (int i = p - 1; i >= 0; --i) digits[i] = char('0' + m % 10), m /= 10;
  char text[48];
  int n = 0;
  if (d < 0) text[n++] = '-';
  if (x < -4 || x >= p) {  // %g's exponent form: d.ddde+XX
    text[n++] = digits[0];
    if (p > 1) {
      text[n++] = '.';
      memcpy(text + n, digits + 1, size_t(p - 1));
      n += p - 1;
    }
    n += snprintf(text + n, sizeof text - size_t(n), "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
  } else if (x >= 0) {  // ddd.ddd
    memcpy(text + n, digits, size_t(x + 1));
    n += x + 1;
    if (p > x + 1) {
      text[n++] = '.';
      memcpy(text + n, digits + x + 1, size_t(p - x - 1));
      n += p - x - 1;
    }
  } else {  // 0.000ddd
    text[n++] = '0';
    text[n++] = '.';
    for (int i = 0; i < -x - 1; ++i) text[n++] = '0';
    memcpy(text + n, digits, size_t(p));
    n += p;
  }
  out.append(text, uint32_t(n));
}

void encode_key(lua_State* L, int idx, Bytes& out) {
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      size_t n;
      const char* s = lua_tolstring(L, idx, &n);
      if (n >= kMaxKeyBytes)
        luaL_error(L, "key too long for an external table (%I bytes; at most %I)",
                   (lua_Integer)n, (lua_Integer)(kMaxKeyBytes - 1));
      out.push(kTagString);
      out.append(s, uint32_t(n));
      return;
    }
    case LUA_TNUMBER: {
      int integral;
      lua_Integer i = lua_tointegerx(L, idx, &integral);  // floats with integral values too
      if (!integral) {
        double d = lua_tonumber(L, idx);
        if (d != d) luaL_error(L, "table index is NaN");
        out.push(kTagFloat);
        put_shortest_float(out, d);
        return;
      }
      out.push(kTagInteger);
      put_decimal_integer(out, i);
      return;
    }
    case LUA_TBOOLEAN:
      out.push(kTagBoolean);
      out.push(lua_toboolean(L, idx) ? '1' : '0');
      return;
    case LUA_TNIL:
      luaL_error(L, "table index is nil");
      return;
    default:
      luaL_error(L, "cannot use a %s value as a key of an external table (keys are strings, "
                    "numbers or booleans)", luaL_typename(L, idx));
  }
}

void push_key(lua_State* L, const uint8_t* p, uint32_t n) {
  if (n == 0) luaL_error(L, "malformed key from the host (empty)");
  const char* text = reinterpret_cast<const char*>(p + 1);
  uint32_t len = n - 1;
  switch (p[0]) {
    case kTagString:
      lua_pushlstring(L, text, len);
      return;
    case kTagBoolean:
      if (len == 1 && (text[0] == '0' || text[0] == '1')) {
        lua_pushboolean(L, text[0] == '1');
        return;
      }
      break;
    case kTagInteger:
    case kTagFloat: {
      char buf[40];
      if (len == 0 || len >= sizeof buf) break;
      memcpy(buf, text, len);
      buf[len] = '\0';
      char* end;
      errno = 0;
      if (p[0] == kTagInteger) {
        long long i = strtoll(buf, &end, 10);
        if (errno || end != buf + len) break;
        lua_pushinteger(L, (lua_Integer)i);
      } else {
        double d = strtod(buf, &end);
        if (end != buf + len || d != d) break;
        lua_pushnumber(L, d);
      }
      return;
    }
  }
  luaL_error(L, "malformed key from the host (tag %d, %d bytes)", (int)p[0], (int)n);
}

// }======

// {====== values

namespace {

enum class Mode { kStore, kResult };

struct Context {
  Mode mode;
  int position;    // return value number, for messages (kResult)
  int tables = 0;  // absolute stack index of the visiting/copies table, 0 until needed
  const FunctionRefs* refs = nullptr;  // functions by reference (kResult with the channel)
};

uint64_t fnv1a64(const uint8_t* p, uint32_t n) {
  uint64_t h = 14695981039346656037ull;
  for (uint32_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

void write_scalar_header(uint8_t* dst, uint32_t len) {  // a string's tag and length
  dst[0] = kTagString;
  memcpy(dst + 1, &len, 4);
}

int write_bytes(lua_State*, const void* p, size_t n, void* ud) {
  static_cast<Bytes*>(ud)->append(p, uint32_t(n));
  return 0;
}

[[noreturn]] void refuse(lua_State* L, const Context& ctx, const char* what) {
  if (ctx.mode == Mode::kResult && ctx.position < 0)
    luaL_error(L, "cannot pass %s to a host function (argument #%d)", what, -ctx.position);
  if (ctx.mode == Mode::kResult)
    luaL_error(L, "cannot return %s (return value #%d)", what, ctx.position);
  luaL_error(L, "cannot store %s in an external table", what);
  __builtin_trap();
}

void check_upvalues(lua_State* L, int idx, const Context& ctx) {
  for (int i = 1;; ++i) {
    const char* name = lua_getupvalue(L, idx, i);
    if (!name) return;
    lua_pushglobaltable(L);
    bool globals = strcmp(name, "_ENV") == 0 && lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (globals) continue;
    lua_pushfstring(L, "a function that captures the local '%s' (only functions whose one "
                       "upvalue is the global _ENV persist; pass such values as arguments)",
                    name);
    refuse(L, ctx, lua_tostring(L, -1));
  }
}

void encode_function(lua_State* L, int idx, Bytes& out, const Context& ctx) {
  if (ctx.refs) {  // leaving for a host with the channel: by reference
    if (uint32_t id = ctx.refs->host_id_of(L, idx)) {
      out.push(kTagHostFunction);
      out.put_u32(id);
      return;
    }
    if (lua_iscfunction(L, idx)) refuse(L, ctx, "a C function");
    out.push(kTagHandle);
    out.put_u32(ctx.refs->handle_of(L, idx));
    return;
  }
  if (lua_iscfunction(L, idx)) refuse(L, ctx, "a C function");
  check_upvalues(L, idx, ctx);
  out.push(kTagFunction);
  uint32_t length_at = out.size();
  out.put_u32(0);
  uint32_t start = out.size();
  lua_pushvalue(L, idx);
  lua_dump(L, write_bytes, &out, 0);
  lua_pop(L, 1);
  out.put_u64(fnv1a64(out.data() + start, out.size() - start));
  out.set_u32(length_at, out.size() - start);
}

void encode_value(lua_State* L, int idx, Bytes& out, Context& ctx, int depth);

void encode_inline_table(lua_State* L, int idx, Bytes& out, Context& ctx, int depth) {
  // ctx.tables holds the tables being encoded (a cycle cannot be written inline).
  lua_pushvalue(L, idx);
  if (lua_rawget(L, ctx.tables) != LUA_TNIL)
    refuse(L, ctx, "a table that contains itself (a cycle cannot be returned inline; "
                   "keep it in an external table)");
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, ctx.tables);

  uint32_t count = 0;  // counted first: what is written may already be on its way to the host
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    ++count;
  }
  out.push(kTagTable);
  out.put_u32(count);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int top = lua_gettop(L);
    encode_value(L, top - 1, out, ctx, depth + 1);
    encode_value(L, top, out, ctx, depth + 1);
    lua_pop(L, 1);
  }

  lua_pushvalue(L, idx);
  lua_pushnil(L);
  lua_rawset(L, ctx.tables);
}

// Stores a deep copy of the plain table at idx as new external tables and returns the id of
// the copy. ctx.tables maps each table copied so far to its id, so shared references and
// cycles in the copied graph stay shared references and cycles.
uint32_t copy_into_external_table(lua_State* L, int idx, Context& ctx, int depth) {
  lua_pushvalue(L, idx);
  if (lua_rawget(L, ctx.tables) == LUA_TNUMBER) return uint32_t(lua_tointeger(L, -1));
  lua_pop(L, 1);
  uint32_t id = allocate_table_id(L);
  lua_pushvalue(L, idx);
  lua_pushinteger(L, id);
  lua_rawset(L, ctx.tables);
  Bytes key(L), value(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    key.clear();
    value.clear();
    lh_charge(L, 24);  // encoding an entry of a deep copy, beside host_set's charge ("Steps")
    encode_key(L, -2, key);
    encode_value(L, -1, value, ctx, depth + 1);
    host_set(L, id, key, value);
    lua_pop(L, 1);
  }
  return id;
}

void encode_table(lua_State* L, int idx, Bytes& out, Context& ctx, int depth) {
  uint32_t id = proxy_id(L, idx);
  if (id == 0) {
    if (depth >= kMaxNesting)
      luaL_error(L, "tables nested too deeply (more than %d levels)", kMaxNesting);
    if (lua_getmetatable(L, idx)) {
      lua_pop(L, 1);
      refuse(L, ctx, "a table with a metatable (its behaviour would be lost)");
    }
    if (ctx.tables == 0) luaL_error(L, "internal error: no table context");
    if (ctx.mode == Mode::kResult) {
      encode_inline_table(L, idx, out, ctx, depth);
      return;
    }
    id = copy_into_external_table(L, idx, ctx, depth);
  }
  out.push(kTagExternal);
  out.put_u32(id);
}

void encode_value(lua_State* L, int idx, Bytes& out, Context& ctx, int depth) {
  idx = lua_absindex(L, idx);
  check_native_stack(L);
  if (!lua_checkstack(L, 8)) luaL_error(L, "stack overflow while encoding a value");
  StackGuard guard(L);
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
    case LUA_TBOOLEAN:
    case LUA_TNUMBER:
    case LUA_TSTRING: {
      uint64_t n = scalar_size(L, idx);
      if (n > UINT32_MAX - 16) raise_memory_error(L);
      if (out.has_sink() && n >= kLargeString) {  // straight from the string to the host
        size_t len;
        const char* text = lua_tolstring(L, idx, &len);
        write_scalar_header(out.extend(5), uint32_t(len));
        out.drain();
        out.send_direct(reinterpret_cast<const uint8_t*>(text), uint32_t(len));
        return;
      }
      write_scalar(L, idx, out.extend(uint32_t(n)));
      return;
    }
    case LUA_TFUNCTION:
      encode_function(L, idx, out, ctx);
      return;
    case LUA_TTABLE:
      encode_table(L, idx, out, ctx, depth);
      return;
    case LUA_TTHREAD:
      refuse(L, ctx, "a thread (coroutine)");
    case LUA_TLIGHTUSERDATA:
    case LUA_TUSERDATA:
      refuse(L, ctx, "a userdata");
    default:
      refuse(L, ctx, "a value of an unknown type");
  }
}

void encode_top_level(lua_State* L, int idx, Bytes& out, Context& ctx) {
  StackGuard guard(L);
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TTABLE) {
    lua_newtable(L);  // visiting set (results) or copies made so far (stored values)
    ctx.tables = lua_gettop(L);
  }
  encode_value(L, idx, out, ctx, 0);
}

struct Reader {
  const uint8_t* p;
  size_t n;
};

const char* read_all(lua_State*, void* ud, size_t* size) {
  Reader* r = static_cast<Reader*>(ud);
  *size = r->n;
  r->n = 0;
  return reinterpret_cast<const char*>(r->p);
}

[[noreturn]] void malformed(lua_State* L, const char* why) {
  luaL_error(L, "malformed value from the host: %s", why);
  __builtin_trap();
}

void push_function(lua_State* L, const uint8_t* p, uint32_t n) {
  if (n < kFunctionChecksumBytes) malformed(L, "function payload too short");
  uint32_t code_len = n - kFunctionChecksumBytes;
  uint64_t sum;
  memcpy(&sum, p + code_len, 8);
  if (fnv1a64(p, code_len) != sum) malformed(L, "function bytecode fails its checksum");
  Reader reader{p, code_len};
  if (lua_load(L, read_all, &reader, "=(external table)", "b") != LUA_OK)
    luaL_error(L, "malformed value from the host: %s", lua_tostring(L, -1));
  if (lua_getupvalue(L, -1, 2)) malformed(L, "function with more than one upvalue");
}

}  // namespace

uint64_t scalar_size(lua_State* L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TNIL: return 1;
    case LUA_TBOOLEAN: return 2;
    case LUA_TNUMBER: return 9;
    case LUA_TSTRING: return 5 + uint64_t(lua_rawlen(L, idx));
    default: return 0;
  }
}

void write_scalar(lua_State* L, int idx, uint8_t* dst) {
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      dst[0] = kTagNil;
      return;
    case LUA_TBOOLEAN:
      dst[0] = kTagBoolean;
      dst[1] = lua_toboolean(L, idx) ? 1 : 0;
      return;
    case LUA_TNUMBER: {
      uint64_t bits;
      if (lua_isinteger(L, idx)) {
        dst[0] = kTagInteger;
        bits = uint64_t(lua_tointeger(L, idx));
      } else {
        dst[0] = kTagFloat;
        double d = lua_tonumber(L, idx);
        memcpy(&bits, &d, 8);
      }
      memcpy(dst + 1, &bits, 8);
      return;
    }
    case LUA_TSTRING: {
      size_t n;
      const char* s = lua_tolstring(L, idx, &n);
      uint32_t len = uint32_t(n);
      dst[0] = kTagString;
      memcpy(dst + 1, &len, 4);
      memcpy(dst + 5, s, n);
      return;
    }
  }
}

void encode_stored_value(lua_State* L, int idx, Bytes& out) {
  Context ctx{Mode::kStore, 0};
  encode_top_level(L, idx, out, ctx);
}

void encode_result(lua_State* L, int idx, int position, Bytes& out, const FunctionRefs* refs) {
  Context ctx{Mode::kResult, position};
  ctx.refs = refs;
  encode_top_level(L, idx, out, ctx);
}

void push_stored_value(lua_State* L, const uint8_t* p, uint32_t n) {
  if (n == 0) malformed(L, "empty");
  uint32_t payload = n - 1;
  switch (p[0]) {
    case kTagNil:
      if (payload != 0) malformed(L, "nil with a payload");
      lua_pushnil(L);
      return;
    case kTagBoolean:
      if (payload != 1 || p[1] > 1) malformed(L, "bad boolean");
      lua_pushboolean(L, p[1]);
      return;
    case kTagInteger:
    case kTagFloat: {
      if (payload != 8) malformed(L, "number payload is not 8 bytes");
      uint64_t bits;
      memcpy(&bits, p + 1, 8);
      if (p[0] == kTagInteger) {
        lua_pushinteger(L, lua_Integer(bits));
      } else {
        double d;
        memcpy(&d, &bits, 8);
        lua_pushnumber(L, d);
      }
      return;
    }
    case kTagString:
    case kTagFunction: {
      uint32_t len;
      if (payload < 4) malformed(L, "length missing");
      memcpy(&len, p + 1, 4);
      if (len != payload - 4) malformed(L, "length does not match the bytes");
      if (p[0] == kTagString)
        lua_pushlstring(L, reinterpret_cast<const char*>(p + 5), len);
      else
        push_function(L, p + 5, len);
      return;
    }
    case kTagExternal: {
      uint32_t id;
      if (payload != 4) malformed(L, "table reference is not 4 bytes");
      memcpy(&id, p + 1, 4);
      if (id == 0 || id > kMaxTableId) malformed(L, "table reference to an id that is not a table");
      push_proxy(L, id);
      return;
    }
    case kTagTable:
      malformed(L, "an inline table (tag 08 is never stored)");
    case kTagChannel:
    case kTagHandle:
    case kTagHostFunction:
      malformed(L, "a value that is never stored (tags 09, 0A, 0B)");
    case kTagReserved:
      malformed(L, "tag 06 (reserved, never produced)");
    default:
      luaL_error(L, "malformed value from the host: unknown tag %d", (int)p[0]);
  }
}

// {====== values passed in (arguments, host answers)

namespace {

struct PassedReader {
  const uint8_t* p;
  uint32_t n, at;
  const FunctionRefs& refs;
  uint32_t u32() {
    uint32_t v;
    memcpy(&v, p + at, 4);
    at += 4;
    return v;
  }
};

void need(lua_State* L, const PassedReader& r, uint32_t bytes) {
  if (bytes > r.n - r.at) malformed(L, "truncated");
}

void push_passed(lua_State* L, PassedReader& r, int depth) {
  check_native_stack(L);
  if (!lua_checkstack(L, 4)) luaL_error(L, "stack overflow while decoding a value");
  need(L, r, 1);
  uint8_t tag = r.p[r.at];
  switch (tag) {
    case kTagTable: {
      if (depth >= kMaxNesting) luaL_error(L, "tables nested too deeply (more than %d levels)", kMaxNesting);
      ++r.at;
      need(L, r, 4);
      uint32_t count = r.u32();
      if (count > (r.n - r.at) / 2) malformed(L, "table count larger than its bytes");
      lua_createtable(L, 0, int(count < 1024 ? count : 1024));
      for (uint32_t i = 0; i < count; ++i) {
        push_passed(L, r, depth + 1);
        if (lua_isnil(L, -1) || (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) != lua_tonumber(L, -1)))
          malformed(L, "a table key that is nil or NaN");
        push_passed(L, r, depth + 1);
        lua_rawset(L, -3);
      }
      return;
    }
    case kTagHandle:
    case kTagHostFunction: {
      ++r.at;
      need(L, r, 4);
      uint32_t id = r.u32();
      if (tag == kTagHandle) r.refs.push_handle(L, id);
      else r.refs.push_host_function(L, id);
      return;
    }
    case kTagNil:
    case kTagBoolean:
    case kTagInteger:
    case kTagFloat:
    case kTagExternal: {
      uint32_t size = tag == kTagNil ? 1 : tag == kTagBoolean ? 2 : tag == kTagExternal ? 5 : 9;
      need(L, r, size);
      push_stored_value(L, r.p + r.at, size);
      r.at += size;
      return;
    }
    case kTagString:
    case kTagFunction: {
      need(L, r, 5);
      uint32_t len;
      memcpy(&len, r.p + r.at + 1, 4);
      need(L, r, 5 + len);
      push_stored_value(L, r.p + r.at, 5 + len);
      r.at += 5 + len;
      return;
    }
    default:
      luaL_error(L, "malformed value from the host: unknown tag %d", (int)tag);
  }
}

}  // namespace

uint32_t push_passed_value(lua_State* L, const uint8_t* p, uint32_t n, const FunctionRefs& refs) {
  PassedReader r{p, n, 0, refs};
  push_passed(L, r, 0);
  return r.at;
}

// }======

}  // namespace lh
