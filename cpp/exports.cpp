// The exported C ABI of lua.wasm (docs/ABI.md): the single source of the module's interface.
#include <malloc.h>
#include <string.h>

#include "build_id.h"
#include "codec.h"
#include "lh_limits.h"
#include "output.h"
#include "sandbox.h"
#include "ext_table.h"
#include "vm.h"

#define LH_EXPORT(name) extern "C" __attribute__((export_name(#name)))

namespace lh {
namespace {

const char kChunkCacheKey = 0;  // registry: code string -> compiled chunk
const char kChunkCountKey = 0;  // registry: number of cached chunks

uint32_t memory_bytes() { return uint32_t(__builtin_wasm_memory_size(0)) * kPageSize; }

// An error result: the message at the start of the buffer, then (additive) the output the
// chunk printed before failing, as u32 length and bytes.
int32_t error_result(ErrorKind kind, const char* msg, size_t len) {
  Vm& g = g_vm;
  g.last_error = kind;
  if (len > kBufferSize - 4) len = kBufferSize - 4;
  uint32_t out = g.capturing ? g.output_len : 0;
  uint32_t keep = out < kBufferSize - 4 - len ? out : uint32_t(kBufferSize - 4 - len);
  g.output_dropped += out - keep;
  memmove(g.io + len + 4, g.io + 4, keep);  // the output moves right, past the message
  memcpy(g.io + len, &keep, 4);
  memmove(g.io, msg, len);
  return -int32_t(len) - 1;
}

int32_t input_error(const char* msg) {
  g_vm.output_len = 0;
  return error_result(kErrorInput, msg, strlen(msg));
}

// Pushes the compiled chunk for code, from the cache or freshly loaded (never binary).
int load_chunk(lua_State* L, const char* code, size_t len) {
  bool cacheable = len <= kChunkCacheMaxCode;
  if (cacheable) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kChunkCacheKey) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_rawsetp(L, LUA_REGISTRYINDEX, &kChunkCacheKey);
    }
    lua_pushlstring(L, code, len);
    if (lua_rawget(L, -2) == LUA_TFUNCTION) {
      lua_remove(L, -2);
      return LUA_OK;
    }
    lua_pop(L, 2);
  }
  // luaL_dostring's chunk name is the code itself; Lua keeps at most LUA_IDSIZE of it, so a
  // prefix gives the same name (and stops at a NUL, as luaL_dostring's strlen would).
  char name[LUA_IDSIZE + 8];
  size_t name_len = len < sizeof name - 1 ? len : sizeof name - 1;
  memcpy(name, code, name_len);
  name[name_len] = '\0';
  int status = luaL_loadbufferx(L, code, len, name, "t");
  if (status != LUA_OK || !cacheable) return status;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kChunkCountKey);
  lua_Integer count = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (count >= kChunkCacheEntries) {  // full: start again (cheap, and bounds the memory)
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kChunkCacheKey);
    count = 0;
  }  // (the cache table exists: the lookup above created it)
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kChunkCacheKey);
  lua_pushlstring(L, code, len);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  lua_pushinteger(L, count + 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kChunkCountKey);
  return LUA_OK;
}

struct Encoded {
  Bytes* out;
  int first;  // stack index of the first result
  int count;
};

int encode_results(lua_State* L) {
  Encoded* e = static_cast<Encoded*>(lua_touserdata(L, 1));
  for (int i = 0; i < e->count; ++i) encode_result(L, e->first + i, i + 1, *e->out);
  if (e->out->size() > kBufferSize - 4)
    luaL_error(L, "results too large for the I/O buffer (%I bytes; at most %I)",
               (lua_Integer)e->out->size(), (lua_Integer)(kBufferSize - 4));
  return 0;
}

struct Chunk {
  const char* code;
  uint32_t len;
  int compile_status;  // LUA_OK, or why the code did not compile
};

// Protected: binds _home, compiles the chunk (or takes it from the cache) and runs it, in one
// protected call. Code that does not compile gives (nil, message, status) instead of an
// error, so that its kind (syntax, memory) is kept: the status goes to chunk->compile_status
// and the message is returned. Otherwise the chunk's results.
int prepare_and_run(lua_State* L) {
  Chunk* chunk = static_cast<Chunk*>(lua_touserdata(L, 1));
  lua_settop(L, 0);
  rebind_home(L);
  int status = load_chunk(L, chunk->code, chunk->len);
  if (status != LUA_OK) {
    chunk->compile_status = status;
    return 1;  // the message
  }
  lua_call(L, 0, LUA_MULTRET);
  // The limit was hit but its error was absorbed (coroutine.resume returns it as a value):
  // the compute still fails.
  if (g_vm.limit_hit) raise_limit_error(L);
  return lua_gettop(L);
}

int rebind(lua_State* L) {
  rebind_home(L);
  return 0;
}

// Turns any error object into a message, as lua.c's message handler does.
int error_message(lua_State* L) {
  if (lua_type(L, 1) == LUA_TSTRING) return 1;
  if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    luaL_tolstring(L, 1, nullptr);
    return 1;
  }
  lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  return 1;
}

int32_t lua_error_result(lua_State* L, int status) {
  Vm& g = g_vm;
  ErrorKind kind = status == LUA_ERRSYNTAX ? kErrorSyntax
                   : status == LUA_ERRMEM  ? kErrorMemory
                   : g.limit_hit           ? kErrorLimit
                   : g.host_failed         ? kErrorHost
                                           : kErrorRuntime;
  const char* text;
  if (kind == kErrorLimit && !((text = lua_tostring(L, -1)) && strstr(text, "instruction limit exceeded"))) {
    // The limit surfaced as another error (a pattern match stopped by it): say what happened.
    lua_pop(L, 1);
    lua_pushfstring(L, "instruction limit exceeded (%I instructions)", (lua_Integer)g.instruction_limit);
  }
  lua_pushcfunction(L, error_message);
  lua_insert(L, -2);
  size_t len = 0;
  const char* msg;
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && (msg = lua_tolstring(L, -1, &len)) != nullptr) {
    return error_result(kind, msg, len);
  }
  static const char fallback[] = "(error object is not a string)";
  return error_result(kind, fallback, sizeof fallback - 1);
}

void end_compute(lua_State* L, int32_t result) {
  Vm& g = g_vm;
  lua_settop(L, 0);
  // Lua's emergency collection never shrinks thread stacks: after running out of memory, or
  // when a failure leaves much garbage, a full collection gives the next compute its memory.
  if (result < 0 && (g.last_error == kErrorMemory || lua_gc(L, LUA_GCCOUNT) > 512))
    lua_gc(L, LUA_GCCOLLECT);
  g.in_compute = false;
  end_limit();
  output_end();
}

// Places `size` bytes of results after the output, cutting the output if it must yield them
// room. Returns where the results go.
uint8_t* place_results(uint32_t size) {
  Vm& g = g_vm;
  uint32_t room = kBufferSize - 4 - size;
  uint32_t keep = g.output_len < room ? g.output_len : room;  // output yields to results
  g.output_dropped += g.output_len - keep;
  g.output_len = keep;
  memcpy(g.io, &keep, 4);
  return g.io + 4 + keep;
}

// The fast path: results that are all nil, booleans, numbers or strings (whose encoding
// cannot fail) go straight into the buffer, with no allocation and no protected call.
bool write_scalar_results(lua_State* L, int count, uint32_t* written) {
  uint64_t size = 0;
  for (int i = 1; i <= count; ++i) {
    uint64_t n = scalar_size(L, i);
    if (n == 0) return false;
    size += n;
  }
  if (size > kBufferSize - 4) return false;  // the general path reports it
  uint8_t* p = place_results(uint32_t(size));
  for (int i = 1; i <= count; ++i) {
    write_scalar(L, i, p);
    p += scalar_size(L, i);
  }
  *written = uint32_t(p - g_vm.io);
  return true;
}

int32_t run(const char* code, uint32_t len) {
  Vm& g = g_vm;
  lua_State* L = g.L;
  lua_settop(L, 0);
  g.host_failed = false;
  g.last_error = kErrorNone;
  output_begin();
  lua_gc(L, LUA_GCRESTART);  // a script may have stopped the collector in an earlier compute
  reset_limit();

  Chunk chunk{code, len, LUA_OK};
  lua_pushcfunction(L, prepare_and_run);
  lua_pushlightuserdata(L, &chunk);
  int status = lua_pcall(L, 1, LUA_MULTRET, 0);
  if (status == LUA_OK && chunk.compile_status != LUA_OK) status = chunk.compile_status;
  if (status != LUA_OK) return lua_error_result(L, status);

  int count = lua_gettop(L);
  if (count == 0) {
    memcpy(g.io, &g.output_len, 4);
    return int32_t(4 + g.output_len);
  }
  uint32_t written;
  if (write_scalar_results(L, count, &written)) return int32_t(written);
  if (!lua_checkstack(L, 4)) {  // at Lua's stack limit: no room to encode
    lua_settop(L, 0);
    lua_pushliteral(L, "too many results to return");
    return lua_error_result(L, LUA_ERRRUN);
  }
  Bytes results(L);
  Encoded e{&results, 2, count};  // in encode_results' frame: e, then the results
  lua_pushcfunction(L, encode_results);
  lua_insert(L, 1);
  lua_pushlightuserdata(L, &e);
  lua_insert(L, 2);
  status = lua_pcall(L, count + 1, 0, 0);
  if (status != LUA_OK) return lua_error_result(L, status);
  uint8_t* p = place_results(results.size());
  memcpy(p, results.data(), results.size());
  return int32_t(p + results.size() - g.io);
}

int collect(lua_State* L) {
  lua_gc(L, LUA_GCCOLLECT);
  return 0;
}

}  // namespace
}  // namespace lh

using namespace lh;

LH_EXPORT(init) int32_t init() { return vm_init(); }

LH_EXPORT(compute) int32_t compute(const char* code_ptr, int32_t code_len) {
  Vm& g = g_vm;
  if (code_len == 0) return 0;
  if (!g.L) return input_error("compute called before init");
  if (g.in_compute)  // re-entered from an import, or an import threw through an earlier one
    return input_error("compute called while another compute is running or after one was "
                       "interrupted (a host import must not call compute, and must not throw: "
                       "an exception through the module leaves it unusable; create a new "
                       "instance, the external tables are in the host)");
  uint32_t len = uint32_t(code_len), ptr = uint32_t(reinterpret_cast<uintptr_t>(code_ptr));
  if (len > kMaxCodeBytes) {
    char msg[96];
    int n = snprintf(msg, sizeof msg, "code too long (%u bytes; at most %u)", len, kMaxCodeBytes);
    g.output_len = 0;
    return error_result(kErrorInput, msg, size_t(n));
  }
  if (ptr > memory_bytes() || len > memory_bytes() - ptr)
    return input_error("code pointer outside linear memory");
  g.in_compute = true;
  int32_t r = run(code_ptr, len);
  end_compute(g.L, r);
  return r;
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

LH_EXPORT(run_gc) void run_gc() {
  Vm& g = g_vm;
  if (!g.L || g.in_compute) return;
  g.in_compute = true;  // finalizers run under the same limits as a compute
  reset_limit();
  lua_pushcfunction(g.L, collect);
  lua_pcall(g.L, 0, 0, 0);
  lua_settop(g.L, 0);
  g.in_compute = false;
  end_limit();
}

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
  if (!g.L || id == 0) return;
  g.home_id = id;
  if (g.next_table_id != 0 && g.next_table_id <= id) g.next_table_id = id == UINT32_MAX ? 0 : id + 1;
  g.alias_active = g.alias_enabled;
  lua_pushcfunction(g.L, rebind);  // protected: making the proxy allocates
  lua_pcall(g.L, 0, 0, 0);
  lua_settop(g.L, 0);
}

LH_EXPORT(get_memory_table_id) uint32_t get_memory_table_id() { return g_vm.home_id; }

LH_EXPORT(sync_external_table_counter) void sync_external_table_counter(uint32_t next_id) {
  Vm& g = g_vm;
  if (next_id == 0) { g.next_table_id = 0; return; }
  if (g.next_table_id != 0 && next_id > g.next_table_id) g.next_table_id = next_id;
}

LH_EXPORT(set_memory_alias_enabled) void set_memory_alias_enabled(int32_t enabled) {
  g_vm.alias_enabled = enabled != 0;
}

// {====== additive exports (docs/ABI.md)

LH_EXPORT(set_instruction_limit) void set_instruction_limit(uint32_t limit) {
  g_vm.instruction_limit = limit;
}

LH_EXPORT(get_output_dropped) uint32_t get_output_dropped() { return g_vm.output_dropped; }

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

LH_EXPORT(get_build_id) uint64_t get_build_id() { return LH_BUILD_ID; }

LH_EXPORT(set_alloc_fail_at) void set_alloc_fail_at(uint32_t n) { g_vm.alloc_fail_countdown = n; }

// }======
