// The built package (dist/), rebuilt when a source is newer than it, as scripts/setup.sh does.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds dist/ when js/src or build/lua.wasm is newer than its last build. */
export function ensureBuiltPackage(): void {
  const stamp = join(root, 'dist', '.built');
  const sources = Math.max(newest(join(root, 'js', 'src')), statSync(join(root, 'build', 'lua.wasm')).mtimeMs);
  if (existsSync(stamp) && statSync(stamp).mtimeMs >= sources) return;
  execFileSync(process.execPath, [join(root, 'scripts', 'build-package.mjs')], { cwd: root, stdio: 'inherit' });
  writeFileSync(stamp, '');
}
