// The compute pipeline behind the `compute` and `run_gc` exports.
#pragma once

#include <stdint.h>

namespace lh {

// Runs a chunk (the `compute` export's contract, docs/ABI.md): the bytes written to the I/O
// buffer, or -(message length + 1) for an error.
int32_t compute_chunk(const char* code_ptr, int32_t code_len);
// A full collection, finalizers under the instruction limit (the `run_gc` export).
void collect_garbage();
// Bytes of linear memory.
uint32_t memory_bytes();

}  // namespace lh
