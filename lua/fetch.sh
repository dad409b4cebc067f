#!/usr/bin/env bash
# Obtains Lua 5.4.4's pristine sources, verifies them and applies the two CVE patches.
# Result: lua/lua-5.4.4/src (git-ignored). Nothing of Lua's source is ever committed.
#
# Sources, in order of preference:
#   1. lua/cache/ (a previous download, verified again every time);
#   2. Debian's source package lua5.4 (`apt-get source --download-only`), after enabling deb-src
#      when we are root and it is missing; its .orig.tar.gz is byte-identical to lua.org's tarball;
#   3. lua.org for the tarball, where the network reaches it (the patches still come from Debian).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache="$here/cache"
dest="$here/lua-5.4.4"
stamp="$dest/.lua-home-verified"
tarball=lua-5.4.4.tar.gz
patches=$(grep -v '^#' "$here/patches.txt" | sed '/^$/d')

want_sum() { awk -v f="$1" '$2 == f { print $1 }' "$here/SHA256SUMS"; }
have_sum() { sha256sum "$1" | awk '{ print $1 }'; }
verified() { [ -f "$cache/$1" ] && [ "$(have_sum "$cache/$1")" = "$(want_sum "$1")" ]; }
all_verified() {
  verified "$tarball" || return 1
  for p in $patches; do verified "$p" || return 1; done
}

# Up to date: the stamp records the checksums of what was extracted.
expected_stamp=$(cat "$here/SHA256SUMS" "$here/patches.txt" | sha256sum | awk '{ print $1 }')
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$expected_stamp" ]; then
  exit 0
fi

mkdir -p "$cache"

enable_deb_src() {
  if grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ || grep -qs '^deb-src' /etc/apt/sources.list; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "lua/fetch.sh: no deb-src entry in apt's sources and not root; add one, or put" >&2
    echo "  $tarball and the patches listed in lua/patches.txt into lua/cache/" >&2
    return 1
  fi
  local src=/etc/apt/sources.list.d/debian.sources
  if [ -f "$src" ]; then
    sed 's/^Types: deb$/Types: deb-src/' "$src" > /etc/apt/sources.list.d/lua-home-deb-src.sources
  else
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/lua-home-deb-src.list
  fi
  apt-get update -qq
}

from_debian() {
  command -v apt-get >/dev/null || return 1
  enable_deb_src || return 1
  local work
  work=$(mktemp -d)
  if ! (cd "$work" && apt-get source --download-only lua5.4 >/dev/null 2>"$work/err"); then
    apt-get update -qq || true
    (cd "$work" && apt-get source --download-only lua5.4 >/dev/null 2>"$work/err") || { cat "$work/err" >&2; rm -rf "$work"; return 1; }
  fi
  cp "$work"/lua5.4_5.4.4.orig.tar.gz "$cache/$tarball" 2>/dev/null || true
  local debian_tar
  debian_tar=$(ls "$work"/lua5.4_*.debian.tar.* 2>/dev/null | head -n 1)
  if [ -n "$debian_tar" ]; then
    tar -xf "$debian_tar" -C "$work"
    for p in $patches; do
      [ -f "$work/debian/patches/$p" ] && cp "$work/debian/patches/$p" "$cache/$p"
    done
  fi
  rm -rf "$work"
}

from_lua_org() {
  command -v curl >/dev/null || return 1
  curl -fsSL --max-time 30 -o "$cache/$tarball.part" "https://www.lua.org/ftp/$tarball" &&
    mv "$cache/$tarball.part" "$cache/$tarball"
}

if ! all_verified; then
  from_debian || true
  verified "$tarball" || from_lua_org || true
fi

for f in "$tarball" $patches; do
  if ! verified "$f"; then
    if [ -f "$cache/$f" ]; then
      echo "lua/fetch.sh: $f does not match its SHA-256 in lua/SHA256SUMS (got $(have_sum "$cache/$f")); refusing it" >&2
      rm -f "$cache/$f"
    else
      echo "lua/fetch.sh: could not obtain $f (see the sources listed at the top of this script)" >&2
    fi
    exit 1
  fi
done

rm -rf "$dest" "$dest.tmp"
mkdir -p "$dest.tmp"
tar -xzf "$cache/$tarball" -C "$dest.tmp" --strip-components=1
for p in $patches; do
  patch -p1 -s -d "$dest.tmp" < "$cache/$p"
done
echo "$expected_stamp" > "$dest.tmp/.lua-home-verified"
mv "$dest.tmp" "$dest"
echo "lua/fetch.sh: Lua 5.4.4 verified and patched in lua/lua-5.4.4"
