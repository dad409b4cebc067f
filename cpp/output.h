// Output: print, io.write, io.stderr and warnings. Without the host channel, stdout (and
// stderr) are captured into the I/O buffer after a u32 length, as the original did; with it,
// each stream goes to the host as it is produced (stdout staged in blocks or lines, stderr at
// once), binary-exact and never dropped.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lua_api.h"

namespace lh {

enum Stream : uint8_t { kStdout = 1, kStderr = 2 };

void output_begin();  // a compute starts: capture into the I/O buffer (without the channel)
void output_end();    // stop capturing: writes from finalizers run later are dropped

// Writes bytes to a stream; a host that fails the write raises a Lua error.
void output_write(lua_State* L, Stream stream, const char* s, size_t len);
// Lua warnings (warn): stderr with the channel (as Lua's own warnf), else the captured output.
void output_warning(const char* s, size_t len);
// Sends what stdout has staged (io.flush, before reading stdin, at the end of a compute).
void output_flush(lua_State* L);
// The same where a failure cannot be raised (the end of a compute): it is counted as dropped.
void output_flush_quiet(lua_State* L);

}  // namespace lh

// For Lua's own files (lua_writestring): stdout, without a lua_State to raise errors on.
extern "C" void lh_output_write(const char* s, size_t len);
