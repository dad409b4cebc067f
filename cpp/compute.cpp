// The compute pipeline (compute.h): load (or reuse) the chunk, run it under the limit, encode
// its results or its error into the I/O buffer. Public API only.
#include "compute.h"

#include <string.h>

#include "channel.h"
#include "codec.h"
#include "host_calls.h"
#include "host_functions.h"
#include "sources.h"
#include "lh_limits.h"
#include "limit.h"
#include "output.h"
#include "vm.h"
#include "vm_state.h"

namespace lh {

uint32_t memory_bytes() { return uint32_t(__builtin_wasm_memory_size(0)) * kPageSize; }

namespace {

const char kChunkCacheKey = 0;  // registry: code string -> compiled chunk
const char kChunkCountKey = 0;  // registry: number of cached chunks
const char kTracebackKey = 0;   // registry: the traceback of the error being reported
const char kThreadKey = 0;      // registry: the thread async computes run on

// An error result: the message at the start of the buffer, then (additive) the output the
// chunk printed before failing (u32 length and bytes), the traceback (u32 length and text) and
// the error object when it is not a string (u32 length and one codec value, or 0). What does not
// fit is cut in that order of priority: message, output, traceback, value.
int32_t error_result(ErrorKind kind, const char* msg, size_t len, const char* tb = nullptr,
                     size_t tb_len = 0, const uint8_t* value = nullptr, uint32_t value_len = 0) {
  Vm& g = g_vm;
  g.last_error = kind;
  if (len > kBufferSize - 12) len = kBufferSize - 12;
  uint32_t out = g.capturing ? g.output_len : 0;
  uint32_t room = uint32_t(kBufferSize - 12 - len);
  uint32_t keep = out < room ? out : room;
  g.output_dropped += out - keep;
  memmove(g.io + len + 4, g.io + 4, keep);  // the output moves right, past the message
  memcpy(g.io + len, &keep, 4);
  memmove(g.io, msg, len);
  uint32_t at = uint32_t(len) + 4 + keep;
  room -= keep;
  uint32_t t = tb_len < room ? uint32_t(tb_len) : room;
  memcpy(g.io + at, &t, 4);
  if (t) memcpy(g.io + at + 4, tb, t);
  at += 4 + t;
  room -= t;
  uint32_t v = value_len <= room ? value_len : 0;
  memcpy(g.io + at, &v, 4);
  if (v) memcpy(g.io + at + 4, value, v);
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

// Code that starts with its chunk name and a NUL byte (never cached).
int load_named(lua_State* L, const char* code, size_t len) {
  const char* end = static_cast<const char*>(memchr(code, 0, len));
  if (!end) luaL_error(L, "a named chunk without its name");
  size_t n = size_t(end - code) + 1;
  return luaL_loadbufferx(L, end + 1, len - n, code, "t");
}

// Results that do not fit the buffer go to the host in pieces (host channel only).
void send_result_piece(lua_State* L, const uint8_t* p, uint32_t n) {
  uint8_t op = kOpResult;
  g_vm.results_streamed = true;
  channel_send(L, &op, 1, p, n);
}

struct Encoded {
  Bytes* out;
  int first;  // stack index of the first result
  int count;
};

int encode_results(lua_State* L) {
  Encoded* e = static_cast<Encoded*>(lua_touserdata(L, 1));
  const FunctionRefs* refs = channel_on() ? &kFunctionRefs : nullptr;
  if (channel_on()) e->out->set_sink(send_result_piece, kResultPieceBytes);
  for (int i = 0; i < e->count; ++i) encode_result(L, e->first + i, i + 1, *e->out, refs);
  if (g_vm.results_streamed) {
    e->out->drain();
  } else if (e->out->size() > kBufferSize - 4) {
    luaL_error(L, "results too large for the I/O buffer (%I bytes; at most %I)",
               (lua_Integer)e->out->size(), (lua_Integer)(kBufferSize - 4));
  }
  return 0;
}

// What a compute or call runs: code (in memory or served by the host), or a Lua function the
// host holds a handle to; and the arguments, as codec bytes (u32 count, then the values).
struct Job {
  const char* code = nullptr;  // code in memory
  uint32_t code_len = 0;
  uint32_t source = 0;         // code served by the host (kOpSource), when non-zero
  uint32_t handle = 0;         // a Lua function held by the host, when non-zero
  const uint8_t* args = nullptr;
  uint32_t args_len = 0;
  int compile_status = LUA_OK;  // why the code did not compile
  bool named = false;          // the code starts with its chunk name and a NUL byte
  bool load_only = false;      // the result is the compiled function
  bool kept_args = false;      // the host keeps the arguments (args_len bytes): take them
};

// Protected: binds _home, pushes the function to run (compiled, from the cache, or the one
// behind a handle) and the arguments. Code that does not compile gives its message instead, with
// the status in job->compile_status, so that its kind (syntax, memory) is kept.
int prepare(lua_State* L) {
  Job* job = static_cast<Job*>(lua_touserdata(L, 1));
  lua_settop(L, 0);
  rebind_home(L);
  int status = job->handle ? (push_handle(L, job->handle), LUA_OK)
               : job->source ? load_served_code(L, job->source, job->named)
               : job->named  ? load_named(L, job->code, job->code_len)
                             : load_chunk(L, job->code, job->code_len);
  if (status != LUA_OK) {
    job->compile_status = status;
    return 1;  // the message
  }
  if (job->args_len) {
    Bytes kept(L);
    const uint8_t* args = job->kept_args ? channel_take(L, kept, job->args_len) : job->args;
    if (job->args_len < 4) luaL_error(L, "malformed arguments from the host (no count)");
    uint32_t count;
    memcpy(&count, args, 4);
    if (count > job->args_len) luaL_error(L, "malformed arguments from the host (count)");
    luaL_checkstack(L, int(count) + LUA_MINSTACK, "too many arguments");
    uint32_t at = 4;
    for (uint32_t i = 0; i < count; ++i)
      at += push_passed_value(L, args + at, job->args_len - at, kFunctionRefs);
    if (at != job->args_len) luaL_error(L, "malformed arguments from the host (trailing bytes)");
  }
  return lua_gettop(L);
}

// The message handler of a compute: keeps Lua's traceback at the error point for the host.
int keep_traceback(lua_State* L) {
  luaL_traceback(L, L, nullptr, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kTracebackKey);
  return 1;  // the error object, unchanged
}

// Runs the prepared function (at 1, its arguments after it). Errors go on to the caller's
// protected call, whose message handler keeps the traceback at the error point.
int run_prepared(lua_State* L) {
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  // The limit was hit but its error was absorbed (coroutine.resume returns it as a value): the
  // compute still fails.
  if (g_vm.limit_hit) raise_limit_error(L);
  return lua_gettop(L);
}

// Protected: prepares the job, then runs it unless it is only loaded or did not compile. One
// protected call for both (a call from JavaScript pays for each).
int prepare_and_run(lua_State* L) {
  Job* job = static_cast<Job*>(lua_touserdata(L, 1));
  prepare(L);
  if (job->compile_status != LUA_OK || job->load_only) return lua_gettop(L);
  return run_prepared(L);
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

// Protected: encodes the error object at 2 (not a string) into the Bytes at 1.
int encode_error_value(lua_State* L) {
  Bytes* out = static_cast<Bytes*>(lua_touserdata(L, 1));
  encode_result(L, 2, 1, *out, channel_on() ? &kFunctionRefs : nullptr);
  return 0;
}

// The error result of the object on top of L: kind from status and the VM's flags; the message;
// the traceback kept by keep_traceback (or given); the object itself when it is not a string.
int32_t lua_error_result(lua_State* L, int status, lua_State* where = nullptr) {
  Vm& g = g_vm;
  if (channel_on()) output_flush_quiet(L);  // what was written before the error is kept
  bool quota = false;
  if (status == LUA_ERRRUN && lua_checkstack(L, 2)) {  // the error a quota raised, uncaught
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kQuotaKey);
    quota = !lua_isnil(L, -1) && lua_rawequal(L, -1, -2);
    lua_pop(L, 1);
  }
  ErrorKind kind = status == LUA_ERRSYNTAX ? kErrorSyntax
                   : status == LUA_ERRMEM  ? kErrorMemory
                   : g.limit_hit           ? kErrorLimit
                   : quota                 ? kErrorQuota
                   : g.host_failed         ? kErrorHost
                                           : kErrorRuntime;
  const char* text;
  if (kind == kErrorLimit && !((text = lua_tostring(L, -1)) && strstr(text, "instruction limit exceeded"))) {
    // The limit surfaced as another error (a pattern match stopped by it): say what happened.
    lua_pop(L, 1);
    lua_pushfstring(L, "instruction limit exceeded (%I instructions)", (lua_Integer)g.instruction_limit);
  }
  int object = lua_gettop(L);
  if (where && status != LUA_ERRMEM && status != LUA_ERRSYNTAX) {  // a coroutine: its stack is intact
    luaL_traceback(L, where, nullptr, 0);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kTracebackKey);
  }
  Bytes value(L);
  if (kind == kErrorRuntime && lua_type(L, object) != LUA_TSTRING && lua_checkstack(L, 4)) {
    lua_pushcfunction(L, encode_error_value);
    lua_pushlightuserdata(L, &value);
    lua_pushvalue(L, object);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
      lua_pop(L, 1);
      value.clear();  // an object that cannot cross: the message says what it was
    }
  }
  lua_pushcfunction(L, error_message);
  lua_pushvalue(L, object);
  size_t len = 0, tb_len = 0;
  const char* msg;
  static const char fallback[] = "(error object is not a string)";
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || (msg = lua_tolstring(L, -1, &len)) == nullptr) {
    msg = fallback;
    len = sizeof fallback - 1;
  }
  const char* tb = nullptr;
  if (status != LUA_ERRMEM && lua_rawgetp(L, LUA_REGISTRYINDEX, &kTracebackKey) == LUA_TSTRING)
    tb = lua_tolstring(L, -1, &tb_len);
  int32_t r = error_result(kind, msg, len, tb, tb_len, value.data(), value.size());
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kTracebackKey);
  return r;
}

void end_compute(lua_State* L, int32_t result) {
  Vm& g = g_vm;
  lua_settop(L, 0);
  // Lua's emergency collection never shrinks thread stacks: after running out of memory, or
  // when a failure leaves much garbage, a full collection gives the next compute its memory.
  if (result < 0 && (g.last_error == kErrorMemory || lua_gc(L, LUA_GCCOUNT) > 512))
    lua_gc(L, LUA_GCCOLLECT);
  g.in_compute = false;
  g.async = false;
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
bool write_scalar_results(lua_State* L, int first, int count, uint32_t* written) {
  uint64_t size = 0;
  for (int i = first; i < first + count; ++i) {
    uint64_t n = scalar_size(L, i);
    if (n == 0) return false;
    size += n;
  }
  if (size > kBufferSize - 4) return false;  // the general path reports it (or streams it)
  uint8_t* p = place_results(uint32_t(size));
  for (int i = first; i < first + count; ++i) {
    write_scalar(L, i, p);
    p += scalar_size(L, i);
  }
  *written = uint32_t(p - g_vm.io);
  return true;
}

// The results at first.. (count of them) of L into the buffer (or the channel).
int32_t results(lua_State* L, int first, int count) {
  Vm& g = g_vm;
  if (channel_on()) output_flush_quiet(L);
  if (count == 0) {
    memcpy(g.io, &g.output_len, 4);
    return int32_t(4 + g.output_len);
  }
  uint32_t written;
  if (write_scalar_results(L, first, count, &written)) return int32_t(written);
  if (!lua_checkstack(L, 4)) {  // at Lua's stack limit: no room to encode
    lua_settop(L, 0);
    lua_pushliteral(L, "too many results to return");
    return lua_error_result(L, LUA_ERRRUN);
  }
  Bytes out(L);
  g.results_streamed = false;
  Encoded e{&out, 2, count};  // in encode_results' frame: e, then the results
  lua_pushcfunction(L, encode_results);
  lua_insert(L, first);
  lua_pushlightuserdata(L, &e);
  lua_insert(L, first + 1);
  int status = lua_pcall(L, count + 1, 0, 0);
  if (status != LUA_OK) return lua_error_result(L, status);
  if (g.results_streamed) {  // the host has them: the buffer says so
    uint8_t* p = place_results(1);
    *p = kTagChannel;
    return int32_t(p + 1 - g.io);
  }
  uint8_t* p = place_results(out.size());
  memcpy(p, out.data(), out.size());
  return int32_t(p + out.size() - g.io);
}

void begin(lua_State* L, bool async) {
  Vm& g = g_vm;
  lua_settop(L, 0);
  g.in_compute = true;
  g.async = async;
  g.host_failed = false;
  g.last_error = kErrorNone;
  g.clock_read = false;
  if (g.quota_error_kept) {  // the last compute's quota error is not this one's
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kQuotaKey);
    g.quota_error_kept = false;
  }
  output_begin();
  lua_gc(L, LUA_GCRESTART);  // a script may have stopped the collector in an earlier compute
  reset_limit();
}

// Runs a job on L above what its stack holds (a plain compute or call on the main thread, or a
// call from a host function on the running thread).
int32_t run_sync(lua_State* L, Job& job) {
  int base = lua_gettop(L);
  int handler = base + 1;
  lua_pushcfunction(L, keep_traceback);
  lua_pushcfunction(L, prepare_and_run);
  lua_pushlightuserdata(L, &job);
  int status = lua_pcall(L, 1, LUA_MULTRET, handler);
  if (status == LUA_OK && job.compile_status != LUA_OK) status = job.compile_status;  // the message
  if (status != LUA_OK) return lua_error_result(L, status);
  return results(L, handler + 1, lua_gettop(L) - handler);  // the results, or the loaded function
}

// {====== async: a compute on its own thread, suspended while the host settles a Promise

lua_State* compute_thread(lua_State* L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kThreadKey) == LUA_TTHREAD) {
    lua_State* co = lua_tothread(L, -1);
    lua_pop(L, 1);
    if (lua_status(co) == LUA_OK && lua_gettop(co) == 0) return co;
    lua_closethread(co, L);  // left by a failure: made ready again
    return co;
  }
  lua_pop(L, 1);
  lua_State* co = lua_newthread(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kThreadKey);
  return co;
}

// Resumes the compute thread with nargs values from its top; the outcome as a result.
int32_t step_async(lua_State* L, lua_State* co, int nargs) {
  Vm& g = g_vm;
  int nres;
  int status = lua_resume(co, L, nargs, &nres);
  if (status == LUA_YIELD && nres == 2 && is_await_marker(co, -2)) {
    uint32_t promise = uint32_t(lua_tointeger(co, -1));
    lua_pop(co, 2);
    if (channel_on()) output_flush_quiet(L);
    memcpy(g.io, &promise, 4);
    return kSuspended;
  }
  if (status == LUA_YIELD) {  // coroutine.yield at the top of the chunk
    lua_pop(co, nres);
    lua_closethread(co, L);
    lua_pushliteral(L, "attempt to yield from outside a coroutine");
    return lua_error_result(L, LUA_ERRRUN);
  }
  if (status != LUA_OK) {
    lua_xmove(co, L, 1);
    int32_t r = lua_error_result(L, status, co);
    lua_closethread(co, L);
    return r;
  }
  if (g.limit_hit) {
    lua_settop(co, 0);
    lua_pushfstring(L, "instruction limit exceeded (%I instructions)", (lua_Integer)g.instruction_limit);
    return lua_error_result(L, LUA_ERRRUN);
  }
  if (!lua_checkstack(L, nres + 8)) {
    lua_settop(co, 0);
    lua_pushliteral(L, "too many results to return");
    return lua_error_result(L, LUA_ERRRUN);
  }
  lua_xmove(co, L, nres);
  return results(L, lua_gettop(L) - nres + 1, nres);
}

// The thread of the suspended compute, as it is.
lua_State* suspended_thread(lua_State* L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kThreadKey);
  lua_State* co = lua_tothread(L, -1);
  lua_pop(L, 1);
  return co;
}

int32_t run_async(lua_State* L, Job& job) {
  lua_pushcfunction(L, prepare);
  lua_pushlightuserdata(L, &job);
  int status = lua_pcall(L, 1, LUA_MULTRET, 0);
  if (status == LUA_OK && job.compile_status != LUA_OK) status = job.compile_status;
  if (status != LUA_OK) return lua_error_result(L, status);
  int n = lua_gettop(L);
  lua_State* co = compute_thread(L);
  if (!lua_checkstack(co, n + LUA_MINSTACK)) {
    lua_settop(L, 0);
    lua_pushliteral(L, "too many arguments");
    return lua_error_result(L, LUA_ERRRUN);
  }
  lua_xmove(L, co, n);
  return step_async(L, co, n - 1);
}

// Protected: pushes (ok, values...) of a host's answer to a Promise onto the thread at 1.
int push_settled(lua_State* L) {
  lua_State* co = lua_tothread(L, 1);
  const uint8_t* p = static_cast<const uint8_t*>(lua_touserdata(L, 2));
  uint32_t n = uint32_t(lua_tointeger(L, 3));
  lua_settop(L, 0);
  Bytes kept(L);
  if (n == 5 && p[0] == kStatusKept) {  // too large for the buffer: the host keeps it
    uint32_t want;
    memcpy(&want, p + 1, 4);
    p = channel_take(L, kept, want);
    n = want;
  }
  if (n < 1 || (p[0] > kStatusError && p[0] != kStatusRaise))
    luaL_error(L, "malformed answer to a pending call (status)");
  lua_pushboolean(L, p[0] == kStatusOk);
  if (p[0] == kStatusOk) {
    if (n < 5) luaL_error(L, "malformed answer to a pending call (no value count)");
    uint32_t count;
    memcpy(&count, p + 1, 4);
    if (count > n) luaL_error(L, "malformed answer to a pending call (value count)");
    luaL_checkstack(L, int(count) + LUA_MINSTACK, "too many results from a host function");
    uint32_t at = 5;
    for (uint32_t i = 0; i < count; ++i) at += push_passed_value(L, p + at, n - at, kFunctionRefs);
    if (at != n) luaL_error(L, "malformed answer to a pending call (trailing bytes)");
  } else if (n > 1) {
    push_passed_value(L, p + 1, n - 1, kFunctionRefs);
    if (p[0] == kStatusError && lua_type(L, -1) == LUA_TSTRING) {  // the position of the call, as for a sync failure
      lua_Debug ar;
      if (lua_getstack(co, 1, &ar) && lua_getinfo(co, "Sl", &ar) && ar.currentline > 0) {
        lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
        lua_insert(L, -2);
        lua_concat(L, 2);
      }
    }
  } else {
    lua_pushliteral(L, "a host function failed");
  }
  if (!lua_checkstack(co, lua_gettop(L))) luaL_error(L, "stack overflow");
  lua_xmove(L, co, lua_gettop(L));
  return 0;
}

// }======

int collect(lua_State* L) {
  lua_gc(L, LUA_GCCOLLECT);
  return 0;
}

const char* const kReentered =
    "compute called while another compute is running or after one was interrupted (a host "
    "import must not call compute, and must not throw: an exception through the module leaves "
    "it unusable; create a new instance, the external tables are in the host)";

}  // namespace

int32_t compute_chunk(const char* code_ptr, int32_t code_len) {
  if (code_len == 0) return 0;
  return run_job(code_ptr, uint32_t(code_len), nullptr, 0, 0);
}

int32_t run_job(const char* code_ptr, uint32_t code_len, const uint8_t* args_ptr, uint32_t args_len,
                uint32_t flags) {
  Vm& g = g_vm;
  if (!g.L) return input_error("compute called before init");
  if (g.in_compute) return input_error(kReentered);  // re-entered from an import
  uint32_t ptr = uint32_t(reinterpret_cast<uintptr_t>(code_ptr));
  uint32_t aptr = uint32_t(reinterpret_cast<uintptr_t>(args_ptr));
  bool served = (flags & kRunServedCode) != 0;
  if ((flags & ~(kRunServedCode | kRunAsync | kRunNamed | kRunLoadOnly | kRunKeptArgs)) != 0) return input_error("unknown run flags");
  if ((flags & kRunLoadOnly) && ((flags & kRunAsync) || args_len)) return input_error("a load takes no arguments and is not async");
  if ((served || (flags & kRunAsync) || args_len) && !channel_on())
    return input_error("arguments, served code and async runs need the host channel (set_host_channel)");
  if (!served) {
    if (code_len > kMaxCodeBytes) {
      char msg[96];
      int n = snprintf(msg, sizeof msg, "code too long (%u bytes; at most %u)", code_len, kMaxCodeBytes);
      g.output_len = 0;
      return error_result(kErrorInput, msg, size_t(n));
    }
    if (ptr > memory_bytes() || code_len > memory_bytes() - ptr)
      return input_error("code pointer outside linear memory");
  }
  bool kept = (flags & kRunKeptArgs) != 0;
  if (!kept && (aptr > memory_bytes() || args_len > memory_bytes() - aptr))
    return input_error("arguments pointer outside linear memory");
  Job job;
  job.kept_args = kept;
  if (served) job.source = ptr;
  else job.code = code_ptr, job.code_len = code_len;
  job.args = args_ptr;
  job.args_len = args_len;
  job.named = (flags & kRunNamed) != 0;
  job.load_only = (flags & kRunLoadOnly) != 0;
  begin(g.L, (flags & kRunAsync) != 0);
  int32_t r = g.async ? run_async(g.L, job) : run_sync(g.L, job);
  if (r != kSuspended) end_compute(g.L, r);
  return r;
}

int32_t call_handle(uint32_t handle, const uint8_t* args_ptr, uint32_t args_len, uint32_t flags) {
  Vm& g = g_vm;
  if (!g.L) return input_error("call before init");
  if (!channel_on()) return input_error("calls need the host channel (set_host_channel)");
  uint32_t aptr = uint32_t(reinterpret_cast<uintptr_t>(args_ptr));
  bool kept = (flags & kRunKeptArgs) != 0;
  if (!kept && (aptr > memory_bytes() || args_len > memory_bytes() - aptr))
    return input_error("arguments pointer outside linear memory");
  if ((flags & ~(kRunAsync | kRunKeptArgs)) != 0) return input_error("unknown call flags");
  Job job;
  job.kept_args = kept;
  job.handle = handle;
  job.args = args_ptr;
  job.args_len = args_len;
  if (g.in_compute) {
    // Re-entrant: a host function calls back into Lua, on the thread that called it, within the
    // compute's limits and transaction. Anything else while a compute runs is refused.
    if (g.host_depth == 0 || !g.running) return input_error(kReentered);
    if (flags & kRunAsync) return input_error("a call from inside a host function cannot be async");
    lua_State* L = g.running;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 8)) return input_error("too deep to call back into Lua here");
    bool was_async = g.async;
    g.async = false;  // a nested call runs to its end
    uint32_t depth = g.host_depth;
    g.host_depth = 0;  // the nested call may call host functions again (counted from the outer)
    g.host_depth = depth;
    int32_t r = run_sync(L, job);
    g.async = was_async;
    lua_settop(L, top);
    return r;
  }
  begin(g.L, (flags & kRunAsync) != 0);
  int32_t r = g.async ? run_async(g.L, job) : run_sync(g.L, job);
  if (r != kSuspended) end_compute(g.L, r);
  return r;
}

int32_t resume_job(const uint8_t* answer, uint32_t len) {
  Vm& g = g_vm;
  if (!g.L || !g.in_compute || !g.async) return input_error("resume without a suspended compute");
  uint32_t ptr = uint32_t(reinterpret_cast<uintptr_t>(answer));
  if (ptr > memory_bytes() || len > memory_bytes() - ptr) return input_error("answer pointer outside linear memory");
  lua_State* L = g.L;
  lua_State* co = suspended_thread(L);
  if (!co || lua_status(co) != LUA_YIELD) return input_error("resume without a suspended compute");
  lua_pushcfunction(L, push_settled);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  lua_pushlightuserdata(L, const_cast<uint8_t*>(answer));
  lua_pushinteger(L, len);
  int before = lua_gettop(co);
  int status = lua_pcall(L, 3, 0, 0);
  int32_t r;
  if (status != LUA_OK) {
    lua_closethread(co, L);
    r = lua_error_result(L, status);
  } else {
    r = step_async(L, co, lua_gettop(co) - before);
  }
  if (r != kSuspended) end_compute(L, r);
  return r;
}

int32_t cancel_job() {
  Vm& g = g_vm;
  if (!g.L || !g.in_compute || !g.async || g.host_depth != 0) return input_error("nothing to cancel");
  lua_State* co = suspended_thread(g.L);
  if (co) lua_closethread(co, g.L);
  int32_t r = error_result(kErrorCancelled, "the compute was cancelled by the host", 37, nullptr, 0, nullptr, 0);
  end_compute(g.L, r);
  return r;
}

int32_t dump_function(uint32_t handle) {
  Vm& g = g_vm;
  lua_State* L = g.L;
  Bytes out(L);
  lua_pushcfunction(L, [](lua_State* L) -> int {
    Bytes* out = static_cast<Bytes*>(lua_touserdata(L, 1));
    push_handle(L, uint32_t(lua_tointeger(L, 2)));
    encode_stored_value(L, -1, *out);
    if (out->size() > kBufferSize) luaL_error(L, "function too large to dump (%I bytes)", (lua_Integer)out->size());
    return 0;
  });
  lua_pushlightuserdata(L, &out);
  lua_pushinteger(L, handle);
  bool capturing = g.capturing;
  g.capturing = false;
  int32_t r;
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    r = lua_error_result(L, LUA_ERRRUN);
  } else {
    memcpy(g.io, out.data(), out.size());
    r = int32_t(out.size());
  }
  g.capturing = capturing;
  lua_settop(L, 0);
  return r;
}

void collect_garbage() {
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

}  // namespace lh
