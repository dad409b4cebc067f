// The VM's lifecycle: creating the sandboxed state and binding _home.
#pragma once

#include <stddef.h>

#include "lua_api.h"

// The VM's allocator (exported by the ABI).
extern "C" void* lua_alloc(void* ud, void* ptr, size_t osize, size_t nsize);

namespace lh {

// Creates the VM (idempotent): 0 ok, -1 failure.
int vm_init();
// Binds _home (and Memory when the alias is on) to the proxy of the current home table.
void rebind_home(lua_State* L);

}  // namespace lh
