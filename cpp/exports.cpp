// The exported C ABI of lua.wasm (docs/ABI.md): the single source of the module's interface.
// Each export checks its arguments and calls the layer that does the work.
// Public API only.
#include <malloc.h>
#include <string.h>

#include "build_id.h"
#include "compute.h"
#include "host_functions.h"
#include "lh_limits.h"
#include "proxy.h"
#include "sandbox.h"
#include "vm.h"
#include "vm_state.h"

#define LH_EXPORT(name) extern "C" __attribute__((export_name(#name)))

using namespace lh;

LH_EXPORT(init) int32_t init() { return vm_init(); }

LH_EXPORT(compute) int32_t compute(const char* code_ptr, int32_t code_len) {
  return compute_chunk(code_ptr, code_len);
}

LH_EXPORT(get_buffer_ptr) uint8_t* get_buffer_ptr() { return g_vm.io; }

LH_EXPORT(get_buffer_size) int32_t get_buffer_size() { return int32_t(kBufferSize); }

LH_EXPORT(get_memory_stats) void get_memory_stats(uint8_t* ptr) {
  uint32_t at = uint32_t(reinterpret_cast<uintptr_t>(ptr));
  if (at > memory_bytes() - 12) return;  // outside memory: nothing to write
  uint32_t stats[3] = {kBufferSize, uint32_t(mallinfo().uordblks),
                       uint32_t(__builtin_wasm_memory_size(0))};
  memcpy(ptr, stats, sizeof stats);
}

LH_EXPORT(run_gc) void run_gc() { collect_garbage(); }

// Additive: the ids of the external tables still referenced inside the VM (call after run_gc),
// so that a host can drop the tables that neither _home nor the VM can reach any more.
LH_EXPORT(get_live_tables) uint32_t get_live_tables(uint8_t* ptr, uint32_t max) {
  Vm& g = g_vm;
  if (!g.L || g.in_compute) return 0;
  uint32_t at = uint32_t(reinterpret_cast<uintptr_t>(ptr));
  if (max > (memory_bytes() - at) / 4 || at > memory_bytes()) return 0;  // outside memory
  return lh::live_table_ids(g.L, ptr, max);
}

LH_EXPORT(attach_memory_table) void attach_memory_table(uint32_t id) {
  Vm& g = g_vm;
  if (!g.L || id == 0 || id > kMaxTableId) return;
  g.home_id = id;
  if (g.next_table_id != 0 && g.next_table_id <= id) g.next_table_id = id == kMaxTableId ? 0 : id + 1;
  g.alias_active = g.alias_enabled;
  lua_pushcfunction(g.L, [](lua_State* L) -> int {  // protected: making the proxy allocates
    rebind_home(L);
    return 0;
  });
  lua_pcall(g.L, 0, 0, 0);
  lua_settop(g.L, 0);
}

LH_EXPORT(get_memory_table_id) uint32_t get_memory_table_id() { return g_vm.home_id; }

LH_EXPORT(sync_external_table_counter) void sync_external_table_counter(uint32_t next_id) {
  Vm& g = g_vm;
  if (next_id == 0 || next_id > kMaxTableId) g.next_table_id = 0;  // exhausted stays exhausted
  else if (g.next_table_id != 0 && next_id > g.next_table_id) g.next_table_id = next_id;
}

LH_EXPORT(set_memory_alias_enabled) void set_memory_alias_enabled(int32_t enabled) {
  g_vm.alias_enabled = enabled != 0;
}

// {====== additive exports (docs/ABI.md)

LH_EXPORT(set_instruction_limit) void set_instruction_limit(uint32_t limit) {
  g_vm.instruction_limit = limit;
}

LH_EXPORT(get_output_dropped) uint32_t get_output_dropped() { return g_vm.output_dropped; }
LH_EXPORT(get_steps_used) double get_steps_used() { return double(g_vm.steps_used); }

LH_EXPORT(get_error_kind) int32_t get_error_kind() { return g_vm.last_error; }

LH_EXPORT(get_external_table_counter) uint32_t get_external_table_counter() {
  return g_vm.next_table_id;
}

LH_EXPORT(set_clock) void set_clock(double unix_seconds, double cpu_seconds) {
  Vm& g = g_vm;
  if (unix_seconds == unix_seconds) g.host_time = unix_seconds;  // NaN leaves it unchanged
  if (cpu_seconds == cpu_seconds) g.host_clock = cpu_seconds;
}

LH_EXPORT(set_random_seed) void set_random_seed(int64_t a, int64_t b) {
  Vm& g = g_vm;
  if (!g.L || g.in_compute) return;
  lua_pushcfunction(g.L, [](lua_State* L) -> int {
    seed_random(L, lua_tointeger(L, 1), lua_tointeger(L, 2));
    return 0;
  });
  lua_pushinteger(g.L, a);
  lua_pushinteger(g.L, b);
  lua_pcall(g.L, 2, 0, 0);
  lua_settop(g.L, 0);
}

// {====== the host channel and calls across it (docs/ABI.md, "The host channel")

LH_EXPORT(set_host_channel) void set_host_channel(uint32_t flags) { g_vm.channel = flags; }

LH_EXPORT(run) int32_t run(const char* code_ptr, uint32_t code_len, const uint8_t* args_ptr,
                           uint32_t args_len, uint32_t flags) {
  return run_job(code_ptr, code_len, args_ptr, args_len, flags);
}

LH_EXPORT(call) int32_t call(uint32_t handle, const uint8_t* args_ptr, uint32_t args_len, uint32_t flags) {
  return call_handle(handle, args_ptr, args_len, flags);
}

LH_EXPORT(resume) int32_t resume(const uint8_t* answer_ptr, uint32_t answer_len) {
  return resume_job(answer_ptr, answer_len);
}

LH_EXPORT(cancel) int32_t cancel() { return cancel_job(); }

LH_EXPORT(release_handle) void release_handle(uint32_t handle) {
  Vm& g = g_vm;
  if (!g.L || (g.in_compute && g.host_depth == 0 && !g.async)) return;
  lua_pushcfunction(g.L, [](lua_State* L) -> int {
    lh::release_handle(L, uint32_t(lua_tointeger(L, 1)));
    return 0;
  });
  lua_pushinteger(g.L, handle);
  lua_pcall(g.L, 1, 0, 0);
  lua_settop(g.L, 0);
}

LH_EXPORT(get_handle_count) uint32_t get_handle_count() {
  Vm& g = g_vm;
  if (!g.L) return 0;
  return handle_count(g.L);
}

// The stored form (tag 05: bytecode and checksum) of the Lua function behind a handle, written
// at the buffer's start: its length, or an error result (a function that captures locals).
LH_EXPORT(dump_handle) int32_t dump_handle(uint32_t handle) {
  Vm& g = g_vm;
  if (!g.L || g.in_compute) return -1;
  return dump_function(handle);
}

// }======

// The string-hash seed of the next init (before init; later calls change nothing).
LH_EXPORT(set_hash_seed) void set_hash_seed(uint32_t seed) { g_vm.hash_seed = seed; }

// The Lua release lua.wasm runs: major * 10000 + minor * 100 + release (50407: Lua 5.4, release 7).
LH_EXPORT(get_lua_version) int32_t get_lua_version() { return LUA_VERSION_RELEASE_NUM; }

LH_EXPORT(get_build_id) uint64_t get_build_id() { return LH_BUILD_ID; }

LH_EXPORT(set_alloc_fail_at) void set_alloc_fail_at(uint32_t n) { g_vm.alloc_fail_countdown = n; }

// }======
