// Sources the host serves in pieces through the channel (kOpSource): code larger than the I/O
// buffer and modules. The source text never has to sit whole in the VM: lua_load reads it
// piece by piece.
#pragma once

#include <stdint.h>

#include "lua_api.h"

namespace lh {

// Loads source `source` as a text chunk named chunkname; Lua's load status.
int load_source(lua_State* L, uint32_t source, const char* chunkname);
// Loads served code with luaL_dostring's chunk name (the code's own beginning).
// Named: the first piece starts with the chunk name and a NUL byte.
int load_served_code(lua_State* L, uint32_t source, bool named = false);

}  // namespace lh
