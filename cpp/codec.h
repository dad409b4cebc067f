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
// Encodes the results of a compute (plain tables inline, tag 08) after the output.
void encode_result(lua_State* L, int idx, int position, Bytes& out);
// Pushes the value of bytes read from an external table; malformed bytes raise an error.
void push_stored_value(lua_State* L, const uint8_t* p, uint32_t n);

}  // namespace lh
