// The sandbox's package library and require: modules come from package.preload and from what
// the host serves through the channel (never from a file the host did not choose).
#pragma once

#include "lua_api.h"

namespace lh {

// Sets the globals package and require.
void open_package(lua_State* L);

}  // namespace lh
