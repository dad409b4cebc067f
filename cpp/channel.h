// The host channel: the one way out of the VM besides external tables. Requests and messages to
// the host travel through the same five imports, on the reserved table id kChannelId; the first
// byte of the key names the operation (docs/ABI.md, "The host channel"). A host opts in with the
// export set_host_channel; for a host that does not, nothing here is ever called.
#pragma once

#include <stdint.h>

#include "bytes.h"
#include "lh_limits.h"
#include "lua_api.h"

namespace lh {

enum ChannelOp : uint8_t {
  kOpWrite = 0x01,   // set: output bytes for a stream (1 stdout, 2 stderr)
  kOpRead = 0x02,    // get: up to n bytes of stdin
  kOpCall = 0x03,    // get: call host function id with arguments
  kOpTake = 0x04,    // get: the answer the host kept because it did not fit
  kOpModule = 0x05,  // get: the source of a module, by name
  kOpSource = 0x06,  // get: a piece of a source the host serves (module or code), from an offset
  kOpResult = 0x07,  // set: a piece of the results of a compute or call too large for the buffer
  kOpRelease = 0x08, // set: the VM dropped its last reference to host function id (informational)
  kOpClock = 0x09,   // get: the clock, at its first reading in a compute (kChannelClock)
};

enum ChannelStatus : uint8_t {
  kStatusOk = 0,       // then the payload
  kStatusError = 1,    // then the error, as one codec value
  kStatusPending = 2,  // then a u32 promise id (async host functions)
  kStatusAbsent = 3,   // the host has nothing for this request
  kStatusRaise = 4,    // then an error to raise as it is (a Lua error passing back through the host)
  kStatusKept = 5,     // (resume only) then a u32 length: the host keeps the answer; take it
};

// Takes `want` bytes the host kept (arguments, an answer too large for the buffer) into `out`;
// returns where they are. A host that cannot hand them over raises a Lua error.
const uint8_t* channel_take(lua_State* L, Bytes& out, uint32_t want);

// Channel options (set_host_channel's argument).
constexpr uint32_t kChannelOn = 1;          // the host implements the channel
constexpr uint32_t kChannelLineOutput = 2;  // flush stdout at every line (a terminal)
constexpr uint32_t kChannelClock = 4;       // the host answers kOpClock (else set_clock's clock)

bool channel_on();

// The clock of the running compute: a host that answers clock requests is asked at the first
// reading in each compute (the clock then stays put until the compute ends); else, or outside a
// compute, the clock stays what set_clock gave. A failed request raises a Lua error on L (with
// the host's message when it gave one); with no L, it leaves the clock as it was.
void channel_clock(lua_State* L);

// A one-way message: key = op and header, value = bytes. A failure raises a Lua error.
void channel_send(lua_State* L, const uint8_t* key, uint32_t key_len, const uint8_t* value,
                  uint32_t value_len);

// A request (key = op and payload) and its answer: status byte, then payload. Small answers
// land in the scratch buffer, large ones (the host keeps them, answering only their size) are
// taken into `big`. The answer stays valid until the next host call.
struct Answer {
  uint8_t status;
  const uint8_t* data;  // the payload after the status byte
  uint32_t len;
};
Answer channel_request(lua_State* L, const Bytes& request, Bytes& big);

}  // namespace lh
