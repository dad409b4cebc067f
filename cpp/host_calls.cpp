// Host calls (host_calls.h): the imports, their failures, and large strings without copies.
// Public API only (new strings come from cpp/port/).
#include "host_calls.h"

#include <string.h>

#include "host_imports.h"
#include "port/port.h"
#include "vm_state.h"
#include "wire.h"

namespace lh {

void host_failed(lua_State* L, const char* what, uint32_t id) {
  g_vm.host_failed = true;
  luaL_error(L, "the host failed to %s external table %I", what, (lua_Integer)id);
  __builtin_trap();
}

const char kQuotaKey = 0;

// A write the host refused for one of its quotas: a Lua error at the write, which pcall can
// catch like a memory error; uncaught, the compute fails as kind 8 (quota) and is rolled back.
[[noreturn]] static void host_refused(lua_State* L, int32_t code, uint32_t id, const char* what = "store a value in") {
  const char* why = code == kRefusedHostBytes ? "its external tables would hold more bytes than limits.hostBytes allows"
                    : code == kRefusedTables  ? "it would hold more external tables than limits.tables allows"
                                              : "this compute's changes would need more host memory than limits.computeBytes allows";
  luaL_where(L, 1);
  lua_pushfstring(L, "host quota exceeded: cannot %s external table %I: %s", what, (lua_Integer)id, why);
  lua_concat(L, 2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kQuotaKey);
  g_vm.quota_error_kept = true;
  lua_error(L);
  __builtin_trap();
}

static void check_set(lua_State* L, int32_t r, uint32_t id) {
  if (r == 0) return;
  if (r == kRefusedHostBytes || r == kRefusedTables || r == kRefusedComputeBytes) host_refused(L, r, id);
  host_failed(L, "store a value in", id);
}

void host_set(lua_State* L, uint32_t id, const uint8_t* key, uint32_t key_len,
              const uint8_t* value, uint32_t value_len) {
  lh_charge(L, LH_HOST_CALL_STEPS + (key_len + value_len) / LH_HOST_BYTES_PER_STEP);
  check_set(L, js_ext_table_set(id, key, key_len, value, value_len), id);
}

void host_delete(lua_State* L, uint32_t id, const uint8_t* key, uint32_t key_len) {
  lh_charge(L, LH_HOST_CALL_STEPS + key_len / LH_HOST_BYTES_PER_STEP);
  int32_t r = js_ext_table_delete(id, key, key_len);
  if (r == kRefusedComputeBytes) host_refused(L, r, id, "delete a key of");
  if (r != 0) host_failed(L, "delete a key of", id);
}

// {====== large strings without copies
//
// A large string crosses the boundary as tag 04, u32 length, bytes. Building that in a separate
// buffer would need the string's size twice in a 2 MiB VM. Instead the 5 header bytes are
// written just before the string's own bytes, over the end of Lua's string header
// (port.h, kStringHeaderRoom), for the duration of the host call only (the host copies; no Lua
// code runs meanwhile), and the header is restored right after.

constexpr uint32_t kHeaderBytes = 5;  // tag and u32 length
static_assert(kHeaderBytes <= kStringHeaderRoom, "no room before a string's contents");

struct BorrowedHeader {
  uint8_t* at;
  uint8_t saved[kHeaderBytes];
  explicit BorrowedHeader(char* contents) : at(reinterpret_cast<uint8_t*>(contents) - kHeaderBytes) {
    memcpy(saved, at, kHeaderBytes);
  }
  ~BorrowedHeader() { memcpy(at, saved, kHeaderBytes); }
};

void host_set_large_string(lua_State* L, uint32_t id, const Bytes& key, int idx) {
  size_t n;
  char* s = const_cast<char*>(lua_tolstring(L, idx, &n));
  if (n > UINT32_MAX - kHeaderBytes) raise_memory_error(L);
  lh_charge(L, LH_HOST_CALL_STEPS + (key.size() + n) / LH_HOST_BYTES_PER_STEP);
  int32_t r;
  {
    BorrowedHeader header(s);
    uint32_t len = uint32_t(n);
    header.at[0] = kTagString;
    memcpy(header.at + 1, &len, 4);
    r = js_ext_table_set(id, key.data(), key.size(), header.at, uint32_t(n) + kHeaderBytes);
  }
  check_set(L, r, id);
}

// Reads a value of n bytes (n > the scratch buffer) into a new Lua string when it is a string,
// else decodes it from a temporary buffer. Returns false when the value's size changed since
// the host reported n (the caller asks again).
static bool host_get_large(lua_State* L, uint32_t id, const uint8_t* key, uint32_t key_len,
                           uint32_t n, int32_t* now, ValueDecoder decode) {
  char* contents = port_push_new_string(L, n - kHeaderBytes);
  uint8_t head[kHeaderBytes];
  {
    BorrowedHeader header(contents);
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
  copy.append(contents, n - kHeaderBytes);
  lua_pop(L, 1);
  decode(L, copy.data(), copy.size());
  return true;
}

// }======

// Values larger than the scratch buffer take a second call with a buffer of exactly their size.
// A host whose answers keep changing size gets a bounded number of calls, then an error.
void host_get(lua_State* L, uint32_t id, const uint8_t* key, uint32_t key_len, ValueDecoder decode) {
  Vm& g = g_vm;
  lh_charge(L, LH_HOST_CALL_STEPS + key_len / LH_HOST_BYTES_PER_STEP);
  int32_t n = js_ext_table_get(id, key, key_len, g.get_scratch, kGetScratchBytes);
  if (n > 0) lh_charge(L, n / LH_HOST_BYTES_PER_STEP);  // the value's copy
  for (int attempt = 0; attempt < 8; ++attempt) {
    if (n == -1) {
      lua_pushnil(L);
      return;
    }
    if (n < -1) host_failed(L, "read a value of", id);
    if (uint32_t(n) <= kGetScratchBytes) {
      decode(L, g.get_scratch, uint32_t(n));
      return;
    }
    int32_t m;
    if (host_get_large(L, id, key, key_len, uint32_t(n), &m, decode)) return;
    if (m >= 0 && uint32_t(m) <= kGetScratchBytes)  // it shrank to fit the scratch: ask again
      n = js_ext_table_get(id, key, key_len, g.get_scratch, kGetScratchBytes);
    else
      n = m;  // absent, failed, or another size: the next round decides
  }
  luaL_error(L, "the host kept changing the size of a value of external table %I", (lua_Integer)id);
}

bool host_has(lua_State* L, uint32_t id, const uint8_t* key, uint32_t key_len) {
  Vm& g = g_vm;
  lh_charge(L, LH_HOST_CALL_STEPS + key_len / LH_HOST_BYTES_PER_STEP);
  int32_t n = js_ext_table_get(id, key, key_len, g.get_scratch, kGetScratchBytes);
  if (n < -1) host_failed(L, "read a value of", id);
  return n != -1;
}

}  // namespace lh
