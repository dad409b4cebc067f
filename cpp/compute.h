// The compute pipeline behind the `compute` and `run_gc` exports.
#pragma once

#include <stdint.h>

#include "lua_api.h"

namespace lh {

// What a run or call returns when it waits for a host Promise (the id is at the buffer's start).
constexpr int32_t kSuspended = INT32_MIN;

// run's flags (docs/ABI.md).
constexpr uint32_t kRunServedCode = 1;  // code_ptr is a source the host serves, in pieces
constexpr uint32_t kRunAsync = 2;       // may suspend on a host Promise
constexpr uint32_t kRunNamed = 4;       // the code starts with its chunk name and a NUL byte
constexpr uint32_t kRunLoadOnly = 8;    // compile only: the result is the compiled function
constexpr uint32_t kRunKeptArgs = 16;   // the arguments (args_len bytes) are kept by the host: take them

// Runs a chunk (the `compute` export's contract, docs/ABI.md): the bytes written to the I/O
// buffer, or -(message length + 1) for an error.
int32_t compute_chunk(const char* code_ptr, int32_t code_len);
// `run`: a chunk with arguments (codec bytes: u32 count, values), served code, async.
int32_t run_job(const char* code_ptr, uint32_t code_len, const uint8_t* args_ptr, uint32_t args_len,
                uint32_t flags);
// `call`: the Lua function behind a handle, with arguments; re-entrant from a host function.
int32_t call_handle(uint32_t handle, const uint8_t* args_ptr, uint32_t args_len, uint32_t flags);
// `resume`: the answer to the Promise a suspended compute waits for (status, then values).
int32_t resume_job(const uint8_t* answer, uint32_t len);
// `cancel`: abandons a suspended compute.
int32_t cancel_job();
// `dump_handle`: the stored form of the function behind a handle, in the buffer.
int32_t dump_function(uint32_t handle);
// A full collection, finalizers under the instruction limit (the `run_gc` export).
void collect_garbage();
// Bytes of linear memory.
uint32_t memory_bytes();

}  // namespace lh
