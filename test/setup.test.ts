// scripts/setup.sh installs every external command the suites and the bench run: a fresh
// machine (no manual installs) must pass `npm test` after `npm start`.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { postgresBinDir } from './support/postgres';

const root = join(__dirname, '..');
const setup = readFileSync(join(root, 'scripts', 'setup.sh'), 'utf8');
// Always there where `npm test` runs at all.
const given = new Set(['node', 'npm', 'npx', 'bash', 'sh', '/bin/sh', 'git', 'kill', 'true', 'false']);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (f === 'node_modules' || f === 'fixtures-out') return [];
    return statSync(p).isDirectory() ? files(p) : /\.(ts|mjs|cjs|js)$/.test(f) ? [p] : [];
  });
}

/** The commands the tests and the bench run by name (child processes, browsers). */
function commandsCalled(): Map<string, string> {
  const found = new Map<string, string>();
  for (const f of [...files(join(root, 'test')), ...files(join(root, 'bench'))]) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\b(?:execFileSync|spawnSync|execFile|spawn|execSync)\(\s*['"`]([^'"`$]+)['"`]/g)) found.set(m[1], f);
    for (const m of text.matchAll(/executablePath:\s*['"`]([^'"`]+)['"`]/g)) found.set(m[1], f);
    for (const m of text.matchAll(/\bcommand\(\s*['"`]([\w.+-]+)['"`]/g)) found.set(m[1], f); // bench helpers
  }
  return found;
}

describe('setup', () => {
  const called = commandsCalled();

  it('finds the commands the suites call (the scan itself works)', () => {
    expect([...called.keys()]).toEqual(expect.arrayContaining(['lua5.4', 'emcc', 'cmake', '/usr/bin/chromium']));
  });

  it('installs every external command a test or the bench calls', () => {
    const missing = [...called.keys()].filter((c) => !given.has(c)).filter((c) => {
      const name = c.split('/').pop()!;
      return !new RegExp(`command -v ${name.replace(/[.+]/g, '\\$&')} `).test(setup);
    });
    expect(missing).toEqual([]);
  });

  it('installs the PostgreSQL server programs the PostgreSQL store\'s tests run (by path: Debian keeps them off PATH)', () => {
    expect(setup).toMatch(/ls \/usr\/lib\/postgresql\/\*\/bin\/initdb \/usr\/lib\/postgresql\/\*\/bin\/pg_ctl .*\|\| apt_install postgresql/);
    const bin = postgresBinDir();
    for (const program of ['initdb', 'pg_ctl']) expect(statSync(join(bin, program)).mode & 0o111).not.toBe(0);
  });

  it('has installed them on this machine', () => {
    for (const c of called.keys()) {
      if (given.has(c)) continue;
      const where = execFileSync('bash', ['-c', `command -v ${c} || true`], { encoding: 'utf8' }).trim();
      expect([c, where !== '']).toEqual([c, true]);
    }
  });
});
