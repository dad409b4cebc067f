// Traversal of external tables (traversal.h): keys in pages from the host, values one by one.
// Public API only.
#include "traversal.h"

#include <string.h>

#include "codec.h"
#include "host_calls.h"
#include "host_imports.h"
#include "lh_limits.h"
#include "proxy.h"
#include "vm_state.h"

namespace lh {

static const char kNextKey = 0;  // registry: the traversals behind next(proxy, k)

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

constexpr uint32_t kSeekCursor = 0xffffffff;  // a request that starts after the key it carries
constexpr int32_t kNoSuchKey = -4;            // the answer when that key is absent

// Fetches the next page into the iterator at stack index idx (which may be replaced by a
// larger one). Returns the iterator. With `seek` (key bytes), the first page starts just after
// that key; returns nullptr when the host cannot seek (it then answered -1).
static Iter* fetch_page(lua_State* L, int idx, const Bytes* seek = nullptr) {
  Iter* it = static_cast<Iter*>(lua_touserdata(L, idx));
  for (int attempt = 0;; ++attempt) {
    memcpy(it->page(), &it->cursor, 4);
    if (seek) {
      uint32_t cursor = kSeekCursor, len = uint32_t(seek->size());
      if (it->cap < 8 + len) return nullptr;
      memcpy(it->page(), &cursor, 4);
      memcpy(it->page() + 4, &len, 4);
      memcpy(it->page() + 8, seek->data(), len);
    }
    int32_t n = js_ext_table_keys(it->id, it->page(), it->cap);
    if (seek && n == kNoSuchKey) luaL_error(L, "invalid key to 'next'");
    if (seek && n == -1) return nullptr;  // a host without seeking: the caller walks instead
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
    lh_charge(L, LH_HOST_CALL_STEPS + uint32_t(n) / LH_HOST_BYTES_PER_STEP);  // the page's copy
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
    host_get(L, it->id, it->page() + off, len, push_stored_value);
    it = static_cast<Iter*>(lua_touserdata(L, idx));
    if (!lua_isnil(L, -1)) return 2;
    lua_pop(L, 2);
  }
}

static int pairs_step(lua_State* L) {
  return iter_step(L, lua_upvalueindex(1), true);
}

int proxy_pairs(lua_State* L) {
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

// The traversals behind next(proxy, k): the kNextIterators used last, most recent first, in a
// registry table. A loop of next() continues its own traversal (found by the key it returned
// last) even when other traversals of the same table ran in between, as with plain tables.
constexpr int kNextIterators = 8;

// Finds the traversal of table id that returned key last; moves it to the front. Pushes it and
// returns true, or pushes nothing and returns false.
static bool find_traversal(lua_State* L, int list, uint32_t id, int key) {
  for (int i = 1; i <= kNextIterators; ++i) {
    if (lua_rawgeti(L, list, i) != LUA_TUSERDATA) {
      lua_pop(L, 1);
      return false;
    }
    Iter* it = static_cast<Iter*>(lua_touserdata(L, -1));
    if (it->id == id && last_key_is(L, it, key)) {
      for (int j = i; j > 1; --j) {  // most recent first
        lua_rawgeti(L, list, j - 1);
        lua_rawseti(L, list, j);
      }
      lua_pushvalue(L, -1);
      lua_rawseti(L, list, 1);
      return true;
    }
    lua_pop(L, 1);
  }
  return false;
}

// Makes the iterator at the top the most recent traversal, dropping the oldest.
static void remember_traversal(lua_State* L, int list) {
  for (int j = kNextIterators; j > 1; --j) {
    lua_rawgeti(L, list, j - 1);
    lua_rawseti(L, list, j);
  }
  lua_pushvalue(L, -1);
  lua_rawseti(L, list, 1);
}

int ext_next(lua_State* L, uint32_t id, int key) {
  key = lua_absindex(L, key);
  if (lua_type(L, key) == LUA_TNONE) lua_settop(L, key);  // next(t): the key is nil, and its slot
                                                          // must not be taken by what we push
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kNextKey) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, kNextIterators, 0);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kNextKey);
  }
  int list = lua_gettop(L);
  if (!lua_isnil(L, key) && find_traversal(L, list, id, key)) {  // the usual loop
    int iter = lua_gettop(L);
    int n = iter_step(L, iter, true);
    lua_pushvalue(L, iter);  // the step may have replaced it with a larger one
    lua_rawseti(L, list, 1);
    return n;
  }
  new_iter(L, id, kKeysPageBytes);
  int iter = lua_gettop(L);
  bool found_by_host = false;
  int kt = lua_type(L, key);
  if ((kt == LUA_TNUMBER && lua_tonumber(L, key) == lua_tonumber(L, key)) || kt == LUA_TSTRING || kt == LUA_TBOOLEAN) {
    // An arbitrary key: the host starts a traversal just after it, without walking the table.
    Bytes k(L);
    encode_key(L, key, k);
    found_by_host = fetch_page(L, iter, &k) != nullptr;
  }
  if (!lua_isnil(L, key) && !found_by_host) {  // a host that cannot seek: find it from the start
    for (;;) {
      lh_charge(L, 4);  // 4 steps per key passed: the search is charged (docs/ABI.md, "Steps")
      iter_step(L, iter, false);  // pushes the next key, or nil at the end
      if (lua_isnil(L, -1)) luaL_error(L, "invalid key to 'next'");
      bool found = last_key_is(L, static_cast<Iter*>(lua_touserdata(L, iter)), key);
      lua_pop(L, 1);
      if (found) break;
    }
  }
  int n = iter_step(L, iter, true);
  lua_pushvalue(L, iter);
  remember_traversal(L, list);
  lua_pop(L, 1);
  return n;
}

// }======

}  // namespace lh
