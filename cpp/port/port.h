// The port layer's C++ half: the few things lua-home needs from Lua's internals, behind plain
// functions. cpp/port/port.cpp is the only file of lua-home that includes Lua's private
// headers; every other file uses Lua's public API (lua.h, lauxlib.h, lualib.h) and this one.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lua_api.h"

namespace lh {

// {====== the instruction limit

// Installs `hook` on L to run when the steps run out (steps.h): a count hook with a count of 1
// and an empty mask, set directly since lua_sethook refuses a hook without a mask.
void port_set_step_hook(lua_State* L, lua_Hook hook);

// How many finalizers (__gc) are running now. External tables refuse writes from them: a
// finalizer runs in whichever compute the collector happens to run it, and its writes would
// escape the transaction of the compute that made the garbage.
int port_finalizer_depth();

// }======

// {====== strings without copies

// Bytes just before a string's contents that belong to its header: room for the codec's tag and
// length (5 bytes) while the host copies the string (cpp/host_calls.cpp).
constexpr size_t kStringHeaderRoom = 5;

// Pushes a new string of n bytes, not yet written, and returns its contents (writable until the
// next call into Lua).
char* port_push_new_string(lua_State* L, size_t n);

// }======

// {====== the external tables' fast path
//
// Inside __index(proxy, key) and __newindex(proxy, key, value): the arguments read from Lua's
// stack without the API, for the usual cases (a proxy laid out as push_proxy makes it, an
// integer or short string key, a nil, boolean, number or short string value). The bytes are
// exactly those encode_key and write_scalar produce. 0 means: take the general path.

constexpr uint32_t kFastKeyBytes = 48;    // tag and at most 47 bytes of text
constexpr uint32_t kFastValueBytes = 64;  // tag, u32 length and at most 59 bytes of string

// The proxy's id (the integer under id_key in its node 0) when the call is (proxy, key) and the
// key has a fast form; writes the key bytes and their length.
uint32_t port_fast_index(lua_State* L, const void* id_key, uint8_t* key, uint32_t* key_len);

// The same for (proxy, key, value); value_len is 0 for a nil value (a delete). 0 when any of
// the three needs the general path.
uint32_t port_fast_newindex(lua_State* L, const void* id_key, uint8_t* key, uint32_t* key_len,
                            uint8_t* value, uint32_t* value_len);

// }======

}  // namespace lh
