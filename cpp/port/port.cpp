// The port layer's C++ half (port.h): the only file that includes Lua's private headers. What it
// reads of them is checked against the sources at configure time (cmake/lua_port.cmake).
#include "port.h"

#include <string.h>

#include "numfmt.h"
#include "wire.h"

#include "lapi.h"
#include "ldo.h"
#include "lstate.h"
#include "lstring.h"
#include "ltable.h"

long long lh_steps_left = INT64_MAX;
int lh_finalizer_depth = 0;

namespace lh {

void port_set_step_hook(lua_State* L, lua_Hook hook) {
  L->hook = hook;
  L->basehookcount = 1;
  L->hookcount = 1;
}

int port_finalizer_depth() { return lh_finalizer_depth; }

static_assert(offsetof(TString, contents) >= kStringHeaderRoom, "TString header too small");

char* port_push_new_string(lua_State* L, size_t n) {
  TString* ts = luaS_createlngstrobj(L, n);
  setsvalue2s(L, L->top.p, ts);
  api_incr_top(L);
  return getstr(ts);
}

// The id of a proxy, read from its one raw entry in node 0, or 0 when o is not a proxy laid out
// so (a proxy's raw entry may move: the general path then decides).
static inline uint32_t fast_proxy_id(const TValue* o, const void* id_key) {
  if (!ttistable(o)) return 0;
  Table* t = hvalue(o);
  if (isdummy(t)) return 0;
  const Node* n = gnode(t, 0);
  if (keytt(n) != LUA_VLIGHTUSERDATA || pvalueraw(keyval(n)) != id_key || !ttisinteger(gval(n)))
    return 0;
  return uint32_t(ivalue(gval(n)));
}

static inline uint32_t fast_key(const TValue* k, uint8_t* out) {
  if (ttisinteger(k)) {  // the text tostring gives, as encode_key writes it
    out[0] = kTagInteger;
    return 1 + uint32_t(lh_format_integer(reinterpret_cast<char*>(out + 1), kFastKeyBytes - 1, ivalue(k)));
  }
  if (ttisshrstring(k)) {
    const TString* s = tsvalue(k);
    uint32_t len = s->shrlen;
    if (len >= kFastKeyBytes) return 0;
    out[0] = kTagString;
    memcpy(out + 1, getstr(s), len);
    return 1 + len;
  }
  return 0;
}

static inline uint32_t fast_value(const TValue* v, uint8_t* out) {
  switch (ttypetag(v)) {
    case LUA_VNUMINT: {
      lua_Integer i = ivalue(v);
      out[0] = kTagInteger;
      memcpy(out + 1, &i, 8);
      return 9;
    }
    case LUA_VNUMFLT: {
      lua_Number d = fltvalue(v);
      out[0] = kTagFloat;
      memcpy(out + 1, &d, 8);
      return 9;
    }
    case LUA_VFALSE:
    case LUA_VTRUE:
      out[0] = kTagBoolean;
      out[1] = ttistrue(v) ? 1 : 0;
      return 2;
    case LUA_VSHRSTR: {
      const TString* s = tsvalue(v);
      uint32_t len = s->shrlen;
      if (len > kFastValueBytes - 5) return 0;
      out[0] = kTagString;
      memcpy(out + 1, &len, 4);
      memcpy(out + 5, getstr(s), len);
      return 5 + len;
    }
  }
  return 0;
}

uint32_t port_fast_index(lua_State* L, const void* id_key, uint8_t* key, uint32_t* key_len) {
  StkId base = L->ci->func.p + 1;
  if (L->top.p - base != 2) return 0;  // (proxy, key): how Lua calls __index
  uint32_t id = fast_proxy_id(s2v(base), id_key);
  if (id == 0 || (*key_len = fast_key(s2v(base + 1), key)) == 0) return 0;
  return id;
}

uint32_t port_fast_newindex(lua_State* L, const void* id_key, uint8_t* key, uint32_t* key_len,
                            uint8_t* value, uint32_t* value_len) {
  StkId base = L->ci->func.p + 1;
  if (L->top.p - base != 3) return 0;  // (proxy, key, value): how Lua calls __newindex
  uint32_t id = fast_proxy_id(s2v(base), id_key);
  if (id == 0 || (*key_len = fast_key(s2v(base + 1), key)) == 0) return 0;
  const TValue* v = s2v(base + 2);
  if (ttisnil(v)) {
    *value_len = 0;
    return id;
  }
  return (*value_len = fast_value(v, value)) != 0 ? id : 0;
}

}  // namespace lh

// The edited ldo.c and lstate.c raise "error in error handling" here: the message is made where
// the error is raised (protected), so luaD_seterrorobj never allocates (5.4.8's fix).
void lh_port_error_in_error(lua_State* L) {
  TString* msg = luaS_newliteral(L, "error in error handling");
  setsvalue2s(L, L->top.p, msg);
  L->top.p++;  // EXTRA_STACK has room
  luaD_throw(L, LUA_ERRERR);
}

extern "C" FILE* lh_no_file(void) { return nullptr; }
extern "C" int lh_no_char(FILE*) { return EOF; }
