#!/usr/bin/env bash
# Installs what is missing and builds what is stale: npm dependencies, Emscripten (Debian's
# package, when we are root), native Lua (the reference the tests and the bench compare with),
# Lua's verified sources, lua.wasm and the TypeScript package.
# `--for-tests` also makes sure Chromium is there for the browser test, and PostgreSQL for the
# PostgreSQL store's tests.
# Every external command a test or the bench runs is installed here: test/setup.test.ts checks.
# Every step is a no-op when already done, so `npm start` and `npm test` can always call it.
set -euo pipefail
cd "$(dirname "$0")/.."

for_tests=0
[ "${1:-}" = "--for-tests" ] && for_tests=1

say() { echo "setup: $*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }
apt_updated=0
apt_install() {
  if ! is_root || ! command -v apt-get >/dev/null; then
    say "missing $*; install it (e.g. 'sudo apt-get install $*') and run again"
    exit 1
  fi
  if [ $apt_updated = 0 ]; then
    apt-get update -qq >&2
    apt_updated=1
  fi
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# npm dependencies: installed when absent or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund >&2 || npm install --no-audit --no-fund >&2
fi

# Emscripten (Debian's package gives the pinned version).
command -v emcc >/dev/null || apt_install emscripten
command -v cmake >/dev/null || apt_install cmake
command -v lua5.4 >/dev/null || apt_install lua5.4
# The store tests mount a tiny tmpfs (a full disk); Debian's essential `mount` package has them.
command -v mount >/dev/null || apt_install mount
# The CLI's REPL tests run it on a pseudo-terminal with script(1).
command -v script >/dev/null || apt_install bsdutils
command -v umount >/dev/null || apt_install mount
# Debian's emcc runs its JavaScript tools with Debian's node modules.
export NODE_PATH="${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs"

# lua.wasm: configured once, rebuilt only when a source changed (make decides).
bash lua/fetch.sh
if [ ! -f build/CMakeCache.txt ]; then
  emcmake cmake -S . -B build >&2
fi
cmake --build build >&2

# The TypeScript package (dist/), when its sources are newer than the output.
if [ -f js/tsconfig.json ]; then
  newest_src=$(find js cpp -newer dist/.built -type f 2>/dev/null | head -n 1 || true)
  if [ ! -f dist/.built ] || [ -n "$newest_src" ] || [ build/lua.wasm -nt dist/.built ]; then
    say "building the TypeScript package"
    node scripts/build-package.mjs >&2
    touch dist/.built
  fi
fi

if [ $for_tests = 1 ]; then
  command -v chromium >/dev/null || apt_install chromium || say "no chromium: the browser test will fail"
  # The PostgreSQL store's tests start a private server (test/support/postgres.ts) with Debian's
  # server programs: initdb and pg_ctl from /usr/lib/postgresql/N/bin (not on PATH), run as the
  # `postgres` user (which the package creates) through runuser when we are root.
  ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || apt_install postgresql
  getent passwd postgres >/dev/null || apt_install postgresql
  command -v runuser >/dev/null || apt_install util-linux
fi
