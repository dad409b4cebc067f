// The one VM that the ABI implies: its lua_State, I/O buffer, counters and settings, in one
// place. State only: what changes it lives in the layers above (vm.cpp, limit.cpp, compute.cpp).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lh_limits.h"
#include "lua_api.h"

namespace lh {

// What kind of failure the last compute reported (export get_error_kind).
enum ErrorKind : int32_t {
  kErrorNone = 0,
  kErrorSyntax = 1,   // the code did not compile
  kErrorRuntime = 2,  // a Lua error while running or encoding results
  kErrorMemory = 3,   // the 2 MiB were exhausted
  kErrorLimit = 4,    // the instruction limit stopped the chunk
  kErrorInput = 5,    // a bad call: before init, code too long, pointer outside memory
  kErrorHost = 6,     // a host import reported failure
  kErrorCancelled = 7,  // the host cancelled a suspended compute
  kErrorQuota = 8,      // the host refused a write that would cross one of its quotas
};

struct Vm {
  lua_State* L = nullptr;

  // External tables.
  uint32_t home_id = 0;        // the table bound to _home
  uint32_t next_table_id = 1;  // the id ext.table() and deep copies use next
  bool alias_enabled = true;   // requested by set_memory_alias_enabled
  bool alias_active = true;    // in force since the last init/attach

  // The current compute.
  bool in_compute = false;
  bool capturing = false;       // output is accepted (a compute or call is running)
  uint32_t output_len = 0;      // bytes at io + 4
  uint32_t output_dropped = 0;  // bytes of output that did not fit
  ErrorKind last_error = kErrorNone;
  bool host_failed = false;     // an import answered with an error during this compute

  // The host channel (set_host_channel): 0 = off, the original's behaviour.
  uint32_t channel = 0;
  uint32_t staged = 0;          // bytes of stdout in `stage`, not yet sent
  // stdin, read through the channel: the bytes in `in` from in_pos to in_len are unread.
  uint32_t in_pos = 0, in_len = 0;
  bool in_eof = false;

  // Calls across the channel (host_functions.cpp, compute.cpp).
  bool async = false;             // the compute or call may suspend on a host Promise
  lua_State* running = nullptr;   // the thread inside a host function (where re-entrant calls run)
  uint32_t host_depth = 0;        // host functions under way, one inside another
  uint32_t handle_counter = 0;    // the last handle given to the host
  bool results_streamed = false;  // the results of this compute went through the channel

  // Lua warnings (warn): off until "@on"; when on they go to the captured output.
  bool warnings_on = false;
  bool warning_continues = false;

  // The instruction limit, in steps (0 = none); the steps left are lh_steps_left (vm.cpp).
  uint32_t instruction_limit = 0;
  bool limit_hit = false;
  long long steps_start = 0;  // lh_steps_left when the compute began
  uint64_t steps_used = 0;    // steps the last compute (or run_gc) took, charges included

  // The string-hash seed Lua takes at init (set_hash_seed; fixed 0 until the host sets one).
  uint32_t hash_seed = 0;

  // Fault injection: the Nth allocation from now fails (0 = off).
  uint32_t alloc_fail_countdown = 0;
  size_t alloc_failed_size = 0;  // the size that failed, so that Lua's retry fails too

  // The clock the host feeds (set_clock); deterministic zero until it does.
  double host_time = 0;   // seconds since 1970-01-01 UTC (os.time, os.date)
  double host_clock = 0;  // seconds of processor time (os.clock)
  bool clock_read = false;  // the host gave this compute's clock (channel_clock)
  bool quota_error_kept = false;  // the registry holds a quota error (host_calls.cpp)

  alignas(16) uint8_t io[kBufferSize];              // the I/O buffer
  alignas(16) uint8_t get_scratch[kGetScratchBytes]; // first buffer for js_ext_table_get
  alignas(16) uint8_t stage[kStageBytes];            // stdout on its way to the host
  alignas(16) uint8_t in[kStdinBytes];               // stdin read ahead from the host
};

extern Vm g_vm;

}  // namespace lh
