# Makes musl's decimal/hex float scanner (floatscan.c, as installed with Emscripten) work in
# double instead of long double: on wasm32 long double is a 128-bit float done in software, which
# made strtod and the soft-float routines it pulls in about 14 KB of lua.wasm. musl's scanner
# supports long double = double (it is so on 32-bit ARM), so this is a change of words only.
# Usage: cmake -DIN=<floatscan.c> -DOUT=<file> -P floatscan_double.cmake
file(READ "${IN}" text)
string(REPLACE "long double" "double" text "${text}")
string(REPLACE "LDBL_" "DBL_" text "${text}")
foreach(f copysign fmod fabs scalbn)
  string(REGEX REPLACE "([^a-z_])${f}l\\(" "\\1${f}(" text "${text}")
endforeach()
string(REPLACE "__floatscan(" "lh_floatscan(" text "${text}")
if(text MATCHES "long double|LDBL|[^a-z_](copysign|fmod|fabs|scalbn)l\\(" OR NOT text MATCHES "double lh_floatscan\\(")
  message(FATAL_ERROR "${IN} is not the floatscan.c this build knows how to convert")
endif()
file(WRITE "${OUT}" "/* Generated from ${IN} by cmake/floatscan_double.cmake: do not edit. */\n${text}")
