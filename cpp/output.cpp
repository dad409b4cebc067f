// Captured output: bytes that fit go to the I/O buffer at offset 4; the rest is counted.
// Public API only.
#include "output.h"

#include <string.h>

#include "vm_state.h"

namespace lh {

void output_begin() {
  g_vm.capturing = true;
  g_vm.output_len = 0;
  g_vm.output_dropped = 0;
}

void output_end() { g_vm.capturing = false; }

}  // namespace lh

extern "C" void lh_output_write(const char* s, size_t len) {
  lh::Vm& g = lh::g_vm;
  if (!g.capturing) return;
  uint32_t room = lh::kBufferSize - 4 - g.output_len;
  uint32_t n = len < room ? uint32_t(len) : room;
  memcpy(g.io + 4 + g.output_len, s, n);
  g.output_len += n;
  uint64_t dropped = uint64_t(g.output_dropped) + (len - n);
  g.output_dropped = dropped > UINT32_MAX ? UINT32_MAX : uint32_t(dropped);  // saturates
}
