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
# Hex floats: musl gathers digits 9 to LDBL_MANT_DIG/4+1 exactly and marks any later nonzero digit
# with half a unit of the last one gathered. With a 64-bit or wider long double that mark sits
# far below where the result rounds; with double it can sit exactly at the half-way point of the
# 53rd bit (a leading digit below 8 leaves x fewer than 32 bits), and a value just above a tie
# then rounded as a tie (0x18cff254db740d08p-18 gave ...740e instead of ...740d). So: gather ten
# digits after the first eight (x + y then holds 72 bits exactly, 19 past the rounding point) and
# make the mark 1/16 of a digit, below all of them: the one rounding in `x + y` is then correct.
foreach(edit "dc < DBL_MANT_DIG/4+1|dc < 18" "y += 0.5*scale;|y += 0.0625*scale;")
  string(REPLACE "|" ";" pair "${edit}")
  list(GET pair 0 from)
  list(GET pair 1 to)
  string(FIND "${text}" "${from}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${IN}: the hex-float scanner no longer has '${from}'")
  endif()
  string(REPLACE "${from}" "${to}" text "${text}")
endforeach()
if(text MATCHES "long double|LDBL|[^a-z_](copysign|fmod|fabs|scalbn)l\\(" OR NOT text MATCHES "double lh_floatscan\\(")
  message(FATAL_ERROR "${IN} is not the floatscan.c this build knows how to convert")
endif()
file(WRITE "${OUT}" "/* Generated from ${IN} by cmake/floatscan_double.cmake: do not edit. */\n${text}")
