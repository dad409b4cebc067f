// The codec's tag bytes (docs/ABI.md, "Value codec"): the first byte of every key and value.
#pragma once

#include <stdint.h>

namespace lh {

enum Tag : uint8_t {
  kTagNil = 0x00,
  kTagBoolean = 0x01,
  kTagInteger = 0x02,
  kTagFloat = 0x03,
  kTagString = 0x04,
  kTagFunction = 0x05,
  kTagReserved = 0x06,  // the original's C-function references; never produced
  kTagExternal = 0x07,
  kTagTable = 0x08,     // inline table (results, arguments, host answers; never stored)
  kTagChannel = 0x09,   // the results continue in the host channel (too large for the buffer)
  kTagHandle = 0x0A,    // a Lua function held for the host: u32 handle (host channel only)
  kTagHostFunction = 0x0B,  // a host function: u32 id (host channel only)
};

}  // namespace lh
