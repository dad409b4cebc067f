// The host channel (channel.h): messages and requests on the reserved table id.
// Public API only.
#include "channel.h"

#include <string.h>

#include "host_calls.h"
#include "host_imports.h"
#include "vm_state.h"
#include "wire.h"

namespace lh {

bool channel_on() { return (g_vm.channel & kChannelOn) != 0; }

void channel_send(lua_State* L, const uint8_t* key, uint32_t key_len, const uint8_t* value,
                  uint32_t value_len) {
  if (js_ext_table_set(kChannelId, key, key_len, value, value_len) != 0) {
    g_vm.host_failed = true;
    luaL_error(L, "the host failed a channel message (operation %d)", (int)key[0]);
  }
}

void channel_clock(lua_State* L) {
  Vm& g = g_vm;
  if (!(g.channel & kChannelClock) || !channel_on() || g.clock_read || !g.in_compute) return;
  uint8_t op = kOpClock;
  const uint8_t* a = g.get_scratch;
  int32_t n = js_ext_table_get(kChannelId, &op, 1, g.get_scratch, kGetScratchBytes);
  if (n == 17 && a[0] == kStatusOk) {
    double unix_seconds, cpu_seconds;
    memcpy(&unix_seconds, a + 1, 8);
    memcpy(&cpu_seconds, a + 9, 8);
    if (unix_seconds == unix_seconds) g.host_time = unix_seconds;  // NaN leaves it, as set_clock
    if (cpu_seconds == cpu_seconds) g.host_clock = cpu_seconds;
    g.clock_read = true;
    return;
  }
  if (!L) return;
  g.host_failed = true;
  uint32_t len;
  if (n >= 6 && uint32_t(n) <= kGetScratchBytes && a[0] == kStatusError && a[1] == kTagString &&
      (memcpy(&len, a + 2, 4), len == uint32_t(n) - 6)) {
    lua_pushlstring(L, reinterpret_cast<const char*>(a + 6), len);
    luaL_error(L, "the host failed to give the clock: %s", lua_tostring(L, -1));
  }
  luaL_error(L, "the host failed to give the clock");
}

const uint8_t* channel_take(lua_State* L, Bytes& out, uint32_t want) {
  out.clear();
  uint8_t* p = out.extend(want);
  uint8_t take = kOpTake;
  int32_t n = js_ext_table_get(kChannelId, &take, 1, p, want);
  if (n < 0 || uint32_t(n) != want) {
    g_vm.host_failed = true;
    luaL_error(L, "the host failed to hand over the %I bytes it kept (answered %d)", (lua_Integer)want, (int)n);
  }
  return p;
}

Answer channel_request(lua_State* L, const Bytes& request, Bytes& big) {
  Vm& g = g_vm;
  int32_t n = js_ext_table_get(kChannelId, request.data(), request.size(), g.get_scratch, kGetScratchBytes);
  const uint8_t* at = g.get_scratch;
  if (n >= 0 && uint32_t(n) > kGetScratchBytes) {  // kept by the host: take it whole
    uint32_t want = uint32_t(n);
    big.clear();
    uint8_t* p = big.extend(want);
    uint8_t take = kOpTake;
    n = js_ext_table_get(kChannelId, &take, 1, p, want);
    if (n >= 0 && uint32_t(n) != want) n = -2;
    at = p;
  }
  if (n == -1) {  // a host without the channel (or without this operation)
    return Answer{kStatusAbsent, at, 0};
  }
  if (n < 1) {
    g.host_failed = true;
    luaL_error(L, "the host failed a channel request (operation %d)", (int)request.data()[0]);
  }
  return Answer{at[0], at + 1, uint32_t(n) - 1};
}

}  // namespace lh
