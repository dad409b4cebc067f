// Captured output: print, io.write and warnings go to the I/O buffer, after a u32 length.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace lh {

void output_begin();  // start capturing into the I/O buffer (compute)
void output_end();    // stop capturing: writes from finalizers run later are dropped

}  // namespace lh

extern "C" void lh_output_write(const char* s, size_t len);
