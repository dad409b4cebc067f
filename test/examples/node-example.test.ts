// examples/node (what `npm start` runs): _home survives from one run to the next in the file store.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const script = join(root, 'examples', 'node', 'counter.mjs');

describe('examples/node', () => {
  it('is what npm start runs', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(pkg.scripts.start).toContain('node examples/node/counter.mjs');
  });

  it('counts its runs in _home, kept on disk, and a failed compute changes nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lua-home-counter-'));
    try {
      const run = () => execFileSync(process.execPath, [script], { cwd: dir, encoding: 'utf8' });
      const first = run();
      expect(first).toMatch(/^This is run #1 of this VM's _home \(first run: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)\.\n/);
      expect(first).toContain('left _home.runs at 1.');
      const second = run();
      expect(second).toContain('This is run #2');
      expect(second).toContain('left _home.runs at 2.');
      for (let i = 3; i <= 7; i++) run();
      const eighth = run();
      expect(eighth).toContain('This is run #8');
      // The history keeps the last five runs: a nested table updated in place.
      expect(eighth).toMatch(/Last runs at: (\d\d:\d\d:\d\d, ){4}\d\d:\d\d:\d\d\n/);
      expect(eighth).toMatch(/history = \[(\s*'\d\d:\d\d:\d\d',?){5}\s*\]/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
