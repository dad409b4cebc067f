// Output (output.h): captured into the I/O buffer, or streamed through the host channel.
// Public API only.
#include "output.h"

#include <string.h>

#include "channel.h"
#include "host_imports.h"
#include "vm_state.h"

namespace lh {

void output_begin() {
  g_vm.capturing = true;
  g_vm.output_len = 0;
  g_vm.output_dropped = 0;
  g_vm.staged = 0;
}

void output_end() { g_vm.capturing = false; }

// Without the channel: bytes that fit go to the I/O buffer at offset 4; the rest is counted.
static void capture(const char* s, size_t len) {
  Vm& g = g_vm;
  uint32_t room = kBufferSize - 4 - g.output_len;
  uint32_t n = len < room ? uint32_t(len) : room;
  memcpy(g.io + 4 + g.output_len, s, n);
  g.output_len += n;
  uint64_t dropped = uint64_t(g.output_dropped) + (len - n);
  g.output_dropped = dropped > UINT32_MAX ? UINT32_MAX : uint32_t(dropped);  // saturates
}

static void send(lua_State* L, Stream stream, const char* s, size_t len) {
  uint8_t key[2] = {kOpWrite, stream};
  while (len > 0) {  // in pieces the host can take in one call
    uint32_t n = len < kBufferSize ? uint32_t(len) : kBufferSize;
    channel_send(L, key, 2, reinterpret_cast<const uint8_t*>(s), n);
    s += n;
    len -= n;
  }
}

void output_flush(lua_State* L) {
  Vm& g = g_vm;
  if (g.staged == 0) return;
  uint32_t n = g.staged;
  g.staged = 0;
  send(L, kStdout, reinterpret_cast<const char*>(g.stage), n);
}

void output_flush_quiet(lua_State*) {
  Vm& g = g_vm;
  if (g.staged == 0) return;
  uint8_t key[2] = {kOpWrite, kStdout};
  if (js_ext_table_set(kChannelId, key, 2, g.stage, g.staged) != 0) g.output_dropped += g.staged;
  g.staged = 0;
}

void output_write(lua_State* L, Stream stream, const char* s, size_t len) {
  Vm& g = g_vm;
  if (!g.capturing || len == 0) return;
  if (!channel_on()) {
    capture(s, len);
    return;
  }
  if (stream == kStderr) {  // unbuffered, as C's stderr; stdout's staged bytes go first
    output_flush(L);
    send(L, kStderr, s, len);
    return;
  }
  if (len > kStageBytes - g.staged) {
    output_flush(L);
    if (len >= kStageBytes) {  // larger than the stage: straight through
      send(L, kStdout, s, len);
      return;
    }
  }
  memcpy(g.stage + g.staged, s, len);
  g.staged += uint32_t(len);
  if ((g.channel & kChannelLineOutput) && memchr(s, '\n', len)) output_flush(L);
}

void output_warning(const char* s, size_t len) {
  Vm& g = g_vm;
  if (!g.capturing) return;
  if (!channel_on()) {
    capture(s, len);
    return;
  }
  uint8_t key[2] = {kOpWrite, kStderr};
  if (js_ext_table_set(kChannelId, key, 2, reinterpret_cast<const uint8_t*>(s), uint32_t(len)) != 0)
    g.output_dropped += uint32_t(len);  // a warning has no lua_State to report a failure on
}

}  // namespace lh

extern "C" void lh_output_write(const char* s, size_t len) {
  lh::Vm& g = lh::g_vm;
  if (!g.capturing) return;
  if (!lh::channel_on()) {
    lh::capture(s, len);
    return;
  }
  if (len <= lh::kStageBytes - g.staged) {  // staged: sent by the next flush, from Lua code
    memcpy(g.stage + g.staged, s, len);
    g.staged += uint32_t(len);
  } else {
    g.output_dropped += uint32_t(len);  // no lua_State to report a failure on: counted
  }
}
