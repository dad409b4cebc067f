// External tables: proxies, their metamethods, streaming traversal and the `ext` library.
#include "ext_table.h"

#include <stddef.h>
#include <string.h>

#include "codec.h"
#include "host_imports.h"
#include "lh_limits.h"
#include "vm.h"

// Lua's internals, for one purpose only: moving large strings between the host and Lua
// without a temporary copy (see "large strings" below). Everything else uses the public API.
#include "lapi.h"
#include "lstate.h"
#include "lstring.h"
#include "ltable.h"

namespace lh {

// Registry and proxy keys: addresses no Lua code can produce (light userdata).
static const char kMetaKey = 0;   // registry: the proxies' shared metatable
static const char kCacheKey = 0;  // registry: id -> proxy, weak values
static const char kIdKey = 0;     // proxy: its id (the only raw entry a proxy ever has)
static const char kNextKey = 0;   // registry: the traversal behind the last next(proxy, k)

// {====== host calls

[[noreturn]] static void host_failed(lua_State* L, const char* what, uint32_t id) {
  g_vm.host_failed = true;
  luaL_error(L, "the host failed to %s external table %I", what, (lua_Integer)id);
  __builtin_trap();
}

void host_set(lua_State* L, uint32_t id, const Bytes& key, const Bytes& value) {
  if (js_ext_table_set(id, key.data(), key.size(), value.data(), value.size()) != 0)
    host_failed(L, "store a value in", id);
}

static void host_delete(lua_State* L, uint32_t id, const Bytes& key) {
  if (js_ext_table_delete(id, key.data(), key.size()) != 0)
    host_failed(L, "delete a key of", id);
}

// {====== large strings without copies
//
// A large string crosses the boundary as tag 04, u32 length, bytes. Building that in a separate
// buffer would need the string's size twice in a 2 MiB VM. Instead the 5 header bytes are
// written just before the string's own bytes, over the end of Lua's TString header, for the
// duration of the host call only (the host copies; no Lua code runs meanwhile), and the header
// is restored right after.

constexpr uint32_t kHeaderBytes = 5;  // tag and u32 length
constexpr size_t kLargeString = 4096;  // below this a copy is cheaper than the bookkeeping

struct BorrowedHeader {
  uint8_t* at;
  uint8_t saved[kHeaderBytes];
  explicit BorrowedHeader(char* contents) : at(reinterpret_cast<uint8_t*>(contents) - kHeaderBytes) {
    memcpy(saved, at, kHeaderBytes);
  }
  ~BorrowedHeader() { memcpy(at, saved, kHeaderBytes); }
};

static_assert(offsetof(TString, contents) >= kHeaderBytes, "TString header too small");

// Stores the large string at idx under key without copying it.
static void host_set_large_string(lua_State* L, uint32_t id, const Bytes& key, int idx) {
  size_t n;
  char* s = const_cast<char*>(lua_tolstring(L, idx, &n));
  if (n > UINT32_MAX - kHeaderBytes) raise_memory_error(L);
  int32_t r;
  {
    BorrowedHeader header(s);
    uint32_t len = uint32_t(n);
    header.at[0] = kTagString;
    memcpy(header.at + 1, &len, 4);
    r = js_ext_table_set(id, key.data(), key.size(), header.at, uint32_t(n) + kHeaderBytes);
  }
  if (r != 0) host_failed(L, "store a value in", id);
}

// Reads a value of n bytes (n > the scratch buffer) into a new Lua string when it is a string,
// else decodes it from a temporary buffer. Returns false when the value's size changed since
// the host reported n (the caller asks again).
static bool host_get_large(lua_State* L, uint32_t id, const uint8_t* key, uint32_t key_len,
                           uint32_t n, int32_t* now) {
  TString* ts = luaS_createlngstrobj(L, n - kHeaderBytes);
  setsvalue2s(L, L->top, ts);
  api_incr_top(L);
  uint8_t head[kHeaderBytes];
  {
    BorrowedHeader header(getstr(ts));
    *now = js_ext_table_get(id, key, key_len, header.at, n);
    memcpy(head, header.at, kHeaderBytes);
  }
  if (*now < 0 || uint32_t(*now) != n) {
    lua_pop(L, 1);
    return false;
  }
  uint32_t len;
  memcpy(&len, head + 1, 4);
  if (head[0] == kTagString && len == n - kHeaderBytes) return true;  // the string is in place
  Bytes copy(L);  // another kind of value: decode it from a buffer
  copy.append(head, kHeaderBytes);
  copy.append(getstr(ts), n - kHeaderBytes);
  lua_pop(L, 1);
  push_stored_value(L, copy.data(), copy.size());
  return true;
}

// }======

// Pushes the value stored under key bytes, or nil when absent. Values larger than the
// scratch buffer take a second call with a buffer of exactly their size. A host whose answers
// keep changing size gets a bounded number of calls (never a recursion), then an error.
static void host_get(lua_State* L, uint32_t id, const uint8_t* key, uint32_t key_len) {
  Vm& g = g_vm;
  int32_t n = js_ext_table_get(id, key, key_len, g.get_scratch, kGetScratchBytes);
  for (int attempt = 0; attempt < 8; ++attempt) {
    if (n == -1) {
      lua_pushnil(L);
      return;
    }
    if (n < -1) host_failed(L, "read a value of", id);
    if (uint32_t(n) <= kGetScratchBytes) {
      push_stored_value(L, g.get_scratch, uint32_t(n));
      return;
    }
    int32_t m;
    if (host_get_large(L, id, key, key_len, uint32_t(n), &m)) return;
    if (m >= 0 && uint32_t(m) <= kGetScratchBytes)  // it shrank to fit the scratch: ask again
      n = js_ext_table_get(id, key, key_len, g.get_scratch, kGetScratchBytes);
    else
      n = m;  // absent, failed, or another size: the next round decides
  }
  luaL_error(L, "the host kept changing the size of a value of external table %I", (lua_Integer)id);
}

static bool host_has(lua_State* L, uint32_t id, const Bytes& key) {
  Vm& g = g_vm;
  int32_t n = js_ext_table_get(id, key.data(), key.size(), g.get_scratch, kGetScratchBytes);
  if (n < -1) host_failed(L, "read a value of", id);
  return n != -1;
}

// }======

// {====== proxies

void push_proxy(lua_State* L, uint32_t id) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kCacheKey);
  if (lua_rawgeti(L, -1, lua_Integer(id)) == LUA_TTABLE) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  lua_createtable(L, 0, 1);
  lua_pushinteger(L, lua_Integer(id));
  lua_rawsetp(L, -2, &kIdKey);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kMetaKey);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, lua_Integer(id));
  lua_remove(L, -2);
}

uint32_t live_table_ids(lua_State* L, uint8_t* out, uint32_t max) {
  // The proxy cache has weak values: after a full collection it holds exactly the proxies
  // something in the VM still references (globals, upvalues, coroutines, _home). No allocation.
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kCacheKey);
  uint32_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (n < max) {
      uint32_t id = uint32_t(lua_tointeger(L, -2));
      memcpy(out + 4 * size_t(n), &id, 4);
    }
    ++n;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return n;
}

uint32_t proxy_id(lua_State* L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  uint32_t id = 0;
  if (lua_rawgetp(L, idx, &kIdKey) == LUA_TNUMBER) id = uint32_t(lua_tointeger(L, -1));
  lua_pop(L, 1);
  return id;
}

static uint32_t check_proxy(lua_State* L, int idx) {
  uint32_t id = proxy_id(L, idx);
  if (id == 0) luaL_typeerror(L, idx, "external table");
  return id;
}

// }======

// {====== get, set, length

void ext_get(lua_State* L, uint32_t id, int key) {
  int t = lua_type(L, key);
  if (t == LUA_TNIL || (t == LUA_TNUMBER && lua_tonumber(L, key) != lua_tonumber(L, key)) ||
      (t != LUA_TNUMBER && t != LUA_TSTRING && t != LUA_TBOOLEAN)) {
    lua_pushnil(L);  // such keys can never be stored, so reading them finds nothing
    return;
  }
  Bytes k(L);
  encode_key(L, key, k);
  host_get(L, id, k.data(), k.size());
}

void ext_set(lua_State* L, uint32_t id, int key, int value) {
  key = lua_absindex(L, key);
  value = lua_absindex(L, value);
  Bytes k(L);
  encode_key(L, key, k);
  int type = lua_type(L, value);
  if (type == LUA_TNIL) {
    host_delete(L, id, k);
    return;
  }
  if (type == LUA_TSTRING && lua_rawlen(L, value) >= kLargeString) {
    host_set_large_string(L, id, k, value);
    return;
  }
  Bytes v(L);
  if (uint64_t n = scalar_size(L, value))  // the common case: no tables to copy, no context
    write_scalar(L, value, v.extend(uint32_t(n)));
  else
    encode_stored_value(L, value, v);
  host_set(L, id, k, v);
}

static bool has_index(lua_State* L, uint32_t id, lua_Integer i) {
  Bytes k(L);
  lua_pushinteger(L, i);
  encode_key(L, -1, k);
  lua_pop(L, 1);
  return host_has(L, id, k);
}

lua_Integer ext_len(lua_State* L, uint32_t id) {
  lua_Integer n = lua_Integer(js_ext_table_size(id));
  if (n == 0) return 0;
  if (has_index(L, id, n) && !has_index(L, id, n + 1)) return n;  // a proper sequence
  if (!has_index(L, id, 1)) return 0;
  // Unbound search, as Lua's luaH_getn does for its hash part: i present, j absent.
  lua_Integer i = 1, j = 2;
  while (has_index(L, id, j)) {
    i = j;
    if (j > LUA_MAXINTEGER / 2) {  // a pathological table: find a border linearly
      lua_Integer k = 1;
      while (has_index(L, id, k + 1)) ++k;
      return k;
    }
    j *= 2;
  }
  while (j - i > 1) {
    lua_Integer m = i + (j - i) / 2;
    if (has_index(L, id, m))
      i = m;
    else
      j = m;
  }
  return i;
}

// }======

// {====== traversal
//
// Keys arrive in pages from js_ext_table_keys (protocol in docs/ABI.md): the guest writes the
// cursor (0 = start) into the first 4 bytes of the buffer; the host answers with the next
// cursor (0 = last page) and length-prefixed keys. Values are read one key at a time, so a
// traversal streams over tables far larger than the VM's memory, and a key cleared during the
// traversal is skipped when its turn comes.

struct Iter {
  uint32_t id;
  uint32_t cursor;    // to send with the next request
  bool started;       // a page was requested
  bool finished;      // the host sent the last page
  uint32_t pos, len;  // reading position and length of the page
  uint32_t last_off;  // the key returned last: offset and length in the page
  uint32_t last_len;
  uint32_t cap;       // page capacity
  uint8_t* page() { return reinterpret_cast<uint8_t*>(this + 1); }
};

static Iter* new_iter(lua_State* L, uint32_t id, uint32_t cap) {
  Iter* it = static_cast<Iter*>(lua_newuserdatauv(L, sizeof(Iter) + cap, 0));
  *it = Iter{id, 0, false, false, 0, 0, 0, 0, cap};
  return it;
}

static uint32_t read_u32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

[[noreturn]] static void malformed_page(lua_State* L, uint32_t id) {
  luaL_error(L, "the host answered js_ext_table_keys for external table %I with a malformed "
                "page (this host may not support traversal; see docs/ABI.md)", (lua_Integer)id);
  __builtin_trap();
}

// Fetches the next page into the iterator at stack index idx (which may be replaced by a
// larger one). Returns the iterator.
static Iter* fetch_page(lua_State* L, int idx) {
  Iter* it = static_cast<Iter*>(lua_touserdata(L, idx));
  for (int attempt = 0;; ++attempt) {
    memcpy(it->page(), &it->cursor, 4);
    int32_t n = js_ext_table_keys(it->id, it->page(), it->cap);
    if (n < 0) {
      g_vm.host_failed = true;
      luaL_error(L, "the host failed to list the keys of external table %I (js_ext_table_keys "
                    "answered %d: an error, an expired cursor, or a host without keys paging, "
                    "which cannot traverse external tables; see docs/ABI.md)",
                 (lua_Integer)it->id, (int)n);
    }
    if (uint32_t(n) > it->cap) {  // the next key needs a bigger buffer
      if (attempt >= 4 || uint32_t(n) > kMaxKeyBytes + 64) malformed_page(L, it->id);
      Iter old = *it;
      Iter* bigger = new_iter(L, old.id, uint32_t(n));
      *bigger = old;
      bigger->cap = uint32_t(n);
      lua_replace(L, idx);
      it = bigger;
      continue;
    }
    if (n < 4) malformed_page(L, it->id);
    uint32_t next = read_u32(it->page());
    uint32_t pos = 4, count = 0;
    while (pos < uint32_t(n)) {
      if (uint32_t(n) - pos < 4) malformed_page(L, it->id);
      uint32_t len = read_u32(it->page() + pos);
      if (len == 0 || len > uint32_t(n) - pos - 4) malformed_page(L, it->id);
      pos += 4 + len;
      ++count;
    }
    if (count == 0 && next != 0) malformed_page(L, it->id);  // no progress
    it->started = true;
    it->cursor = next;
    it->finished = next == 0;
    it->pos = 4;
    it->len = uint32_t(n);
    return it;
  }
}

// Advances the iterator at idx: pushes the next key and its value (2), or nil at the end (1).
// Keys cleared since their page arrived are skipped. With values = false only the key is
// pushed (1), so the caller tells a key from the end by checking for nil.
static int iter_step(lua_State* L, int idx, bool values) {
  idx = lua_absindex(L, idx);
  Iter* it = static_cast<Iter*>(lua_touserdata(L, idx));
  for (;;) {
    if (it->pos >= it->len) {
      if (it->finished) {
        lua_pushnil(L);
        return 1;
      }
      it = fetch_page(L, idx);
      continue;
    }
    uint32_t len = read_u32(it->page() + it->pos);
    uint32_t off = it->pos + 4;
    it->pos = off + len;
    it->last_off = off;
    it->last_len = len;
    push_key(L, it->page() + off, len);
    if (!values) return 1;
    host_get(L, it->id, it->page() + off, len);
    it = static_cast<Iter*>(lua_touserdata(L, idx));
    if (!lua_isnil(L, -1)) return 2;
    lua_pop(L, 2);
  }
}

static int pairs_step(lua_State* L) {
  return iter_step(L, lua_upvalueindex(1), true);
}

static int proxy_pairs(lua_State* L) {
  uint32_t id = check_proxy(L, 1);
  new_iter(L, id, kKeysPageBytes);
  lua_pushcclosure(L, pairs_step, 1);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

static bool last_key_is(lua_State* L, Iter* it, int key) {
  if (!it->started || it->last_len == 0) return false;
  int t = lua_type(L, key);
  if (t != LUA_TNUMBER && t != LUA_TSTRING && t != LUA_TBOOLEAN) return false;
  if (t == LUA_TNUMBER && lua_tonumber(L, key) != lua_tonumber(L, key)) return false;
  Bytes k(L);
  encode_key(L, key, k);
  return k.size() == it->last_len && memcmp(k.data(), it->page() + it->last_off, k.size()) == 0;
}

int ext_next(lua_State* L, uint32_t id, int key) {
  key = lua_absindex(L, key);
  if (lua_type(L, key) == LUA_TNONE) lua_settop(L, key);  // next(t): the key is nil, and its slot
                                                          // must not be taken by what we push
  if (!lua_isnil(L, key)) {
    // The usual loop: continue the traversal that returned this key.
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kNextKey);
    Iter* it = static_cast<Iter*>(lua_touserdata(L, -1));
    if (it && it->id == id && last_key_is(L, it, key)) {
      int iter = lua_gettop(L);
      int n = iter_step(L, iter, true);
      lua_pushvalue(L, iter);  // the step may have replaced it with a larger one
      lua_rawsetp(L, LUA_REGISTRYINDEX, &kNextKey);
      return n;
    }
    lua_pop(L, 1);
  }
  new_iter(L, id, kKeysPageBytes);
  int iter = lua_gettop(L);
  if (!lua_isnil(L, key)) {  // an arbitrary key: find it from the start (O(n), as documented)
    for (;;) {
      iter_step(L, iter, false);  // pushes the next key, or nil at the end
      if (lua_isnil(L, -1)) luaL_error(L, "invalid key to 'next'");
      bool found = last_key_is(L, static_cast<Iter*>(lua_touserdata(L, iter)), key);
      lua_pop(L, 1);
      if (found) break;
    }
  }
  int n = iter_step(L, iter, true);
  lua_pushvalue(L, iter);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kNextKey);
  return n;
}

// }======

// {====== metamethods and the ext library

// {====== the fast path of t[k] and t[k] = v
//
// The usual accesses (an integer or short string key; nil, a boolean, a number or a short
// string value) read their arguments straight from Lua's stack and build the key and value
// bytes on the native stack: no Lua API calls, no Bytes buffers. They produce exactly the bytes
// encode_key and write_scalar produce; anything else takes the general path (ext_get, ext_set).

constexpr uint32_t kFastKeyBytes = 48;    // tag and at most 47 bytes of text
constexpr uint32_t kFastValueBytes = 64;  // tag, u32 length and at most 59 bytes of string

// The id of a proxy, read from its one raw entry in node 0, or 0 when o is not a proxy laid
// out so (a proxy given raw entries by rawset may have moved it): check_proxy then decides.
static inline uint32_t fast_proxy_id(const TValue* o) {
  if (!ttistable(o)) return 0;
  Table* t = hvalue(o);
  if (isdummy(t)) return 0;
  const Node* n = gnode(t, 0);
  if (keytt(n) != LUA_VLIGHTUSERDATA || pvalueraw(keyval(n)) != &kIdKey || !ttisinteger(gval(n)))
    return 0;
  return uint32_t(ivalue(gval(n)));
}

// Writes the key bytes of k at out (kFastKeyBytes); returns their length, 0 for the general path.
static inline uint32_t fast_key(const TValue* k, uint8_t* out) {
  if (ttisinteger(k)) {  // the text tostring gives (libc_shim.h), as encode_key writes it
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

// Writes the value bytes of v at out (kFastValueBytes); returns their length, 0 for the general
// path. Nil is not a value here (it deletes).
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

static int proxy_index(lua_State* L) {
  StkId base = L->ci->func + 1;
  if (L->top - base == 2) {  // (proxy, key): how Lua calls __index
    uint8_t key[kFastKeyBytes];
    uint32_t id = fast_proxy_id(s2v(base)), n;
    if (id != 0 && (n = fast_key(s2v(base + 1), key)) != 0) {
      host_get(L, id, key, n);
      return 1;
    }
  }
  ext_get(L, check_proxy(L, 1), 2);
  return 1;
}

static int proxy_newindex(lua_State* L) {
  StkId base = L->ci->func + 1;
  if (L->top - base == 3) {  // (proxy, key, value): how Lua calls __newindex
    uint8_t key[kFastKeyBytes], value[kFastValueBytes];
    uint32_t id = fast_proxy_id(s2v(base)), kn, vn;
    if (id != 0 && (kn = fast_key(s2v(base + 1), key)) != 0) {
      const TValue* v = s2v(base + 2);
      if (ttisnil(v)) {
        if (js_ext_table_delete(id, key, kn) != 0) host_failed(L, "delete a key of", id);
        return 0;
      }
      if ((vn = fast_value(v, value)) != 0) {
        if (js_ext_table_set(id, key, kn, value, vn) != 0) host_failed(L, "store a value in", id);
        return 0;
      }
    }
  }
  ext_set(L, check_proxy(L, 1), 2, 3);
  return 0;
}

// }======

static int proxy_len(lua_State* L) {
  lua_pushinteger(L, ext_len(L, check_proxy(L, 1)));
  return 1;
}

static int ext_table(lua_State* L) {
  push_proxy(L, allocate_table_id(L));
  return 1;
}

static int ext_id(lua_State* L) {
  uint32_t id = proxy_id(L, 1);
  if (id)
    lua_pushinteger(L, lua_Integer(id));
  else
    lua_pushnil(L);
  return 1;
}

void open_ext(lua_State* L) {
  static const luaL_Reg metamethods[] = {{"__index", proxy_index},
                                         {"__newindex", proxy_newindex},
                                         {"__len", proxy_len},
                                         {"__pairs", proxy_pairs},
                                         {nullptr, nullptr}};
  luaL_newlib(L, metamethods);
  lua_pushliteral(L, "external table");
  lua_setfield(L, -2, "__name");      // tostring and error messages say "external table"
  lua_pushliteral(L, "external table");
  lua_setfield(L, -2, "__metatable");  // getmetatable hides it; setmetatable refuses
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kMetaKey);

  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kCacheKey);

  static const luaL_Reg lib[] = {{"table", ext_table}, {"id", ext_id}, {nullptr, nullptr}};
  luaL_newlib(L, lib);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);  // require("ext") finds it too
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, "ext");
  lua_pop(L, 1);
  lua_setglobal(L, "ext");
}

// }======

}  // namespace lh
