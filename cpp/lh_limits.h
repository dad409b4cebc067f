// Every limit of lua.wasm, with why it has its value. docs/ABI.md quotes these numbers.
#pragma once

#include <stdint.h>

namespace lh {

constexpr uint32_t kBufferSize = 65536;         // the I/O buffer; fixed by the ABI
constexpr uint32_t kMaxCodeBytes = kBufferSize; // code longer than the buffer is refused
constexpr uint32_t kPageSize = 65536;
constexpr uint32_t kMemoryPages = 32;           // 2 MiB, initial = maximum

// Table ids are u32 from 1 to 2^32 - 1. Id 0 is never a table: it names the host channel
// (cpp/channel.h).
constexpr uint32_t kChannelId = 0;
constexpr uint32_t kMaxTableId = 0xFFFFFFFFu;

// Deepest nesting of tables that a deep copy into an external table, or an inline result,
// may have. Mirrors Lua's own C-level limit (LUAI_MAXCCALLS = 200): deeper structures are
// an error, never a trap of the native stack.
constexpr int kMaxNesting = 200;

// The codec's recursions (deep copies, inline results) are not counted by Lua's C-call limit,
// and can start 200 Lua C calls deep (about 200 KB of the 256 KiB shadow stack): they stop
// with "C stack overflow" while this much stack is still free, enough for what runs after
// them (lua_dump of nested functions, the error itself). The shadow stack has no guard page:
// overflowing it would silently overwrite static data.
constexpr uint32_t kNativeStackReserve = 32768;

// Largest key (tag byte included). Keys are hashed and compared by the host on every
// access; 64 KiB keeps every key page fitting the scratch sizes below.
constexpr uint32_t kMaxKeyBytes = 65536;

// First buffer offered to js_ext_table_get. Values up to this size need one host call;
// larger ones a second, with an exactly sized buffer. A host written for the original
// module (which answers -1 for values that do not fit) sees every value up to this size.
constexpr uint32_t kGetScratchBytes = 16384;

// First buffer offered to js_ext_table_keys for one page of keys; grows on demand.
constexpr uint32_t kKeysPageBytes = 4096;


// stdout is sent to a host with the channel in blocks of this size (or at each line in line
// mode, and at io.flush and the end of each compute): few host calls for bulk output.
constexpr uint32_t kStageBytes = 8192;
// stdin is read from the host in pieces of at most this size.
constexpr uint32_t kStdinBytes = 4096;

// Host functions that call back into Lua that calls host functions again...: at most this many
// calls into the host at once. Lua's own C-call limit (200) bounds the native stack anyway; this
// keeps the JavaScript stack (a few frames per level) far from its limit.
constexpr uint32_t kMaxHostDepth = 64;  // below Lua's C-call limit (each level is a host call and a Lua call)

// Results too large for the I/O buffer go to the host (with the channel) in pieces this large.
constexpr uint32_t kResultPieceBytes = 32768;

// Compiled chunks kept for code that is computed again and again (keyed by the exact code).
constexpr int kChunkCacheEntries = 64;
// Code longer than this is not cached (it is rarely repeated, and the key would be large).
constexpr uint32_t kChunkCacheMaxCode = 4096;

// The payload of a persisted function ends with this many bytes of checksum (FNV-1a 64),
// so that damaged bytecode from a host is refused instead of being run.
constexpr uint32_t kFunctionChecksumBytes = 8;

}  // namespace lh
