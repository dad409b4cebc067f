// Calls to the five host imports with Lua's error handling: a failure raises a clear Lua error
// (and marks the compute as failed by the host).
#pragma once

#include <stdint.h>

#include "bytes.h"
#include "lua_api.h"

namespace lh {

// Pushes the Lua value of a stored value's bytes (the codec's push_stored_value).
using ValueDecoder = void (*)(lua_State* L, const uint8_t* p, uint32_t n);

[[noreturn]] void host_failed(lua_State* L, const char* what, uint32_t id);

// Registry key of the last quota error raised (its message): an uncaught error equal to it
// ends the compute as kind 8, quota.
extern const char kQuotaKey;
// What js_ext_table_set answers when it refuses a write for a quota (docs/ABI.md, "Host imports").
constexpr int32_t kRefusedHostBytes = -3, kRefusedTables = -4, kRefusedComputeBytes = -5;

void host_set(lua_State* L, uint32_t id, const uint8_t* key, uint32_t key_len,
              const uint8_t* value, uint32_t value_len);
inline void host_set(lua_State* L, uint32_t id, const Bytes& key, const Bytes& value) {
  host_set(L, id, key.data(), key.size(), value.data(), value.size());
}
void host_delete(lua_State* L, uint32_t id, const uint8_t* key, uint32_t key_len);
// Stores the string at idx under key without copying it (for strings of kLargeString bytes up).
void host_set_large_string(lua_State* L, uint32_t id, const Bytes& key, int idx);
constexpr size_t kLargeString = 4096;  // below this a copy is cheaper than the bookkeeping

// Pushes the value stored under key bytes (decoded by decode), or nil when absent.
void host_get(lua_State* L, uint32_t id, const uint8_t* key, uint32_t key_len, ValueDecoder decode);
// Whether key bytes are present.
bool host_has(lua_State* L, uint32_t id, const uint8_t* key, uint32_t key_len);

}  // namespace lh
