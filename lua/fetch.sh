#!/usr/bin/env bash
# Obtains Lua's pristine sources (lua/SOURCE names the version), verifies their SHA-256 and
# extracts them into lua/lua-<version>/src (git-ignored). Nothing of Lua's source is committed,
# and nothing of Lua's source is patched: every change lua-home makes lives in cpp/port/.
#
# Sources, in order of preference:
#   1. lua/cache/ (a previous download, verified again every time);
#   2. Debian's source package (`apt-get source --download-only`) from the suite lua/SOURCE
#      names, through a deb-src list and apt state of our own in a temporary folder: nothing in
#      /etc/apt or /var/lib/apt changes. Debian's two patches (its build system and module paths
#      in luaconf.h) concern neither the files we build nor what they do here: none is applied.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
field() { sed -n "s/^$1=//p" "$here/SOURCE"; }
version=$(field version)
tarball=$(field tarball)
want=$(field sha256)
cache="$here/cache"
dest="$here/lua-$version"
stamp="$dest/.lua-home-verified"

have_sum() { sha256sum "$1" | awk '{ print $1 }'; }
verified() { [ -f "$cache/$tarball" ] && [ "$(have_sum "$cache/$tarball")" = "$want" ]; }

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
mkdir -p "$cache"

from_debian() {
  command -v apt-get >/dev/null || { echo "lua/fetch.sh: no apt-get on this machine" >&2; return 1; }
  local work uri keyring
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  # The archive and keyring this machine already uses for Debian.
  uri=$(sed -n 's/^URIs: *\(http[^ ]*debian\)\/* *$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  [ -n "$uri" ] || uri=$(sed -n 's/^deb \(http[^ ]*debian\)\/* .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
  [ -n "$uri" ] || uri=http://deb.debian.org/debian
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  cat > "$work/src.sources" <<SRC
Types: deb-src
URIs: $uri
Suites: $(field debian_suite)
Components: main
Signed-By: $keyring
SRC
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  local opts=(-o "Dir::Etc::sourcelist=$work/src.sources" -o Dir::Etc::sourceparts=-
              -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
  apt-get update -qq "${opts[@]}" >"$work/log" 2>&1 || { cat "$work/log" >&2; return 1; }
  (cd "$work" && apt-get source --download-only -qq "${opts[@]}" \
      "$(field debian_package)=$(field debian_version)" >"$work/log" 2>&1) || { cat "$work/log" >&2; return 1; }
  cp "$work/$tarball" "$cache/$tarball.part" && mv "$cache/$tarball.part" "$cache/$tarball"
}

refuse_cached() {
  echo "lua/fetch.sh: $tarball does not match its SHA-256 in lua/SOURCE (got $(have_sum "$cache/$tarball")); refusing it" >&2
  rm -f "$cache/$tarball"
}
if ! verified; then
  [ -f "$cache/$tarball" ] && refuse_cached
  from_debian || true
fi
if ! verified; then
  if [ -f "$cache/$tarball" ]; then
    refuse_cached
  else
    echo "lua/fetch.sh: could not obtain $tarball from Debian's source package; put a copy in lua/cache/" >&2
  fi
  exit 1
fi

rm -rf "$dest" "$dest.tmp"
mkdir -p "$dest.tmp"
tar -xzf "$cache/$tarball" -C "$dest.tmp" --strip-components=1
echo "$want" > "$dest.tmp/.lua-home-verified"
mv "$dest.tmp" "$dest"
echo "lua/fetch.sh: Lua $version verified in lua/lua-$version" >&2
