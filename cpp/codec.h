// The value codec (tags 00..08) and the key encoding of external tables, as in docs/ABI.md.
#pragma once

#include <stdint.h>

#include "bytes.h"
#include "lua_api.h"
#include "wire.h"

namespace lh {

// Encodes the key at idx (tag byte, then the key as text). Raises Lua's usual errors for nil
// and NaN keys and a clear error for keys no external table can hold.
void encode_key(lua_State* L, int idx, Bytes& out);
// Pushes the Lua value of key bytes; raises an error for malformed bytes.
void push_key(lua_State* L, const uint8_t* p, uint32_t n);

// The codec size of the value at idx when it is nil, a boolean, a number or a string (whose
// encoding can never fail), else 0.
uint64_t scalar_size(lua_State* L, int idx);
// Writes such a value (scalar_size bytes) at dst.
void write_scalar(lua_State* L, int idx, uint8_t* dst);

// Encodes a value stored into an external table: plain tables are deep-copied into new
// external tables, proxies become references.
void encode_stored_value(lua_State* L, int idx, Bytes& out);
// How functions cross between the VM and a host with the channel: a Lua function becomes a
// handle (tag 0A) the host can call, a host function its id (tag 0B). Without them (an original
// host) a Lua function in results is its bytecode (tag 05), as stored values are.
struct FunctionRefs {
  uint32_t (*handle_of)(lua_State* L, int idx);    // a Lua function: its handle
  uint32_t (*host_id_of)(lua_State* L, int idx);   // a host function's id, 0 for other functions
  void (*push_handle)(lua_State* L, uint32_t handle);
  void (*push_host_function)(lua_State* L, uint32_t id);
};

// Encodes a value that leaves the VM without being stored: a result of a compute or a call, an
// argument to a host function (plain tables inline, tag 08; functions by refs when given).
// `position` numbers it in messages ("return value #2", "argument #2").
void encode_result(lua_State* L, int idx, int position, Bytes& out, const FunctionRefs* refs = nullptr);
// Pushes a value that enters the VM without being stored: an argument of a compute or call, a
// host function's answer (inline tables become new plain tables; 0A and 0B through refs).
// Returns the bytes it read; malformed bytes raise an error.
uint32_t push_passed_value(lua_State* L, const uint8_t* p, uint32_t n, const FunctionRefs& refs);
// Pushes the value of bytes read from an external table; malformed bytes raise an error.
void push_stored_value(lua_State* L, const uint8_t* p, uint32_t n);

}  // namespace lh
