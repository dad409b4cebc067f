// examples/raw-host drives lua.wasm from docs/ABI.md alone, with no dependency.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const script = join(root, 'examples', 'raw-host', 'host.mjs');
const wasm = join(root, 'build', 'lua.wasm');

function run(...code: string[]): string {
  return execFileSync(process.execPath, [script, wasm, ...code], { encoding: 'utf8' });
}

describe('the raw host example', () => {
  it('imports nothing but Node built-ins', () => {
    const imports = [...readFileSync(script, 'utf8').matchAll(/^import .* from '([^']+)'/gm)].map((m) => m[1]);
    expect(imports.length).toBeGreaterThan(0);
    for (const name of imports) expect(name.startsWith('node:')).toBe(true);
  });

  it('runs its default session: state in _home, output, results and an error', () => {
    expect(run().split('\n')).toEqual([
      'results: (none)',
      'results: (none)',
      'hello from Lua\tLua 5.4',
      'results: 1, key',
      'results: 2',
      'error (kind 2): [string "error("boom")"]:1: boom',
      '',
    ]);
  });

  it('pages through more keys than one page holds', () => {
    const out = run(
      'for i = 1, 5000 do _home["key number " .. i] = i end',
      'local n, sum = 0, 0 for k, v in pairs(_home) do n = n + 1 sum = sum + v end return n, sum',
    );
    expect(out).toContain(`results: 5000, ${(5000 * 5001) / 2}`);
  });

  it('returns inline tables through the codec', () => {
    const line = run('return { a = 1, b = "two" }').trim();
    expect(line.startsWith('results: ')).toBe(true);
    expect(JSON.parse(line.slice('results: '.length))).toEqual({ a: 1, b: 'two' });
  });
});
