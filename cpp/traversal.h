// Traversal of external tables: pairs and next over tables far larger than the VM's memory.
#pragma once

#include <stdint.h>

#include "lua_api.h"

namespace lh {

// __pairs of a proxy: (step function, proxy, nil), the step streaming the host's pages.
int proxy_pairs(lua_State* L);
// next(t, k) of external table id (the key at index key): pushes k, v or nil.
int ext_next(lua_State* L, uint32_t id, int key);

}  // namespace lh
