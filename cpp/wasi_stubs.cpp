// The one WASI function libc still references (exit, behind abort). The sandbox has no process
// to exit: it is defined here, as a trap that no path reaches, so the module imports no WASI.
#include <wasi/api.h>

extern "C" void __wasi_proc_exit(__wasi_exitcode_t) { __builtin_trap(); }
