// Functions across the boundary (host channel only): host functions callable from Lua (sync,
// or async under an async compute, which then suspends), Lua functions held for the host as
// handles, and the coroutine library taught to pass an async wait through coroutines.
#pragma once

#include <stdint.h>

#include "codec.h"
#include "lua_api.h"

namespace lh {

// How functions cross in results, arguments and answers (codec.h).
extern const FunctionRefs kFunctionRefs;

// Replaces coroutine.resume and coroutine.wrap with versions that let an async host call
// inside a coroutine suspend the whole compute (and resume it where it was).
void open_host_functions(lua_State* L);

// The first value an async wait yields: no Lua code can produce it (a light userdata).
bool is_await_marker(lua_State* L, int idx);

// Suspends the running compute until the host settles Promise `id` (an error where it cannot:
// a sync compute, or where Lua cannot yield). `what` names the caller in messages. When resumed,
// k runs with the caller's nargs arguments, then ok and the values (or the error).
int await_promise(lua_State* L, uint32_t id, int nargs, const char* what, lua_KFunction k);

// Pushes the Lua function behind a handle (an error when it was released).
void push_handle(lua_State* L, uint32_t handle);
// Forgets a handle (the host released it). Unknown handles are ignored.
void release_handle(lua_State* L, uint32_t handle);
// How many handles the host holds.
uint32_t handle_count(lua_State* L);

}  // namespace lh
