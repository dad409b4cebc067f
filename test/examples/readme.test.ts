// The README's snippets are executed: the Node usage (twice: _home survives the restart), the
// browser usage (in Node, over fake-indexeddb), and the CLI transcript, line by line.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
let dir: string;

/** The fenced blocks (of the given language) in the README section with this heading. */
function blocks(heading: string, lang: string): string[] {
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const end = readme.indexOf('\n## ', start + 4);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lua-home-readme-'));
  mkdirSync(join(dir, 'node_modules'));
  // The snippets import 'lua-home' as users do: this repository is the installed package.
  symlinkSync(root, join(dir, 'node_modules', 'lua-home'), 'dir');
  symlinkSync(join(root, 'node_modules', 'fake-indexeddb'), join(dir, 'node_modules', 'fake-indexeddb'), 'dir');
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'lua-home'), `#!/bin/sh\nexec "${process.execPath}" "${join(root, 'dist', 'cjs', 'cli', 'cli.js')}" "$@"\n`);
  chmodSync(join(dir, 'bin', 'lua-home'), 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README', () => {
  it('Node usage runs as shown, and _home survives a restart', () => {
    const [code] = blocks('Node usage', 'js');
    writeFileSync(join(dir, 'usage.mjs'), code);
    const first = execFileSync(process.execPath, ['usage.mjs'], { cwd: dir, encoding: 'utf8' });
    expect(first).toContain('hello from Lua, time number 1\n');
    expect(first).toContain("[ 1, 'two', [ 1, 2, 3 ] ]");
    expect(first).toContain('runtime [string "_home.greetings = 1000 error("no, thanks")"]:1: no, thanks');
    expect(first).toContain("[ 3, 2 ]\n{ level: 3, tags: [ 'a', 'b' ] }");
    const second = execFileSync(process.execPath, ['usage.mjs'], { cwd: dir, encoding: 'utf8' });
    expect(second).toContain('hello from Lua, time number 2\n');
    expect(second).toContain("[ 2, 'two', [ 1, 2, 3 ] ]");
  });

  it('browser usage runs as shown (over fake-indexeddb in Node)', () => {
    const [code] = blocks('Browser usage with Vite', 'js');
    writeFileSync(join(dir, 'browser.mjs'), `import 'fake-indexeddb/auto';\n${code}`);
    expect(execFileSync(process.execPath, ['browser.mjs'], { cwd: dir, encoding: 'utf8' })).toBe('visit 1\n');
  });

  it('the CLI transcript is what the command prints', () => {
    const [transcript] = blocks('The `lua-home` command', '');
    const steps: { command: string; expected: string[] }[] = [];
    for (const line of transcript.split('\n')) {
      if (line.startsWith('$ ')) steps.push({ command: line.slice(2), expected: [] });
      else if (line !== '') steps[steps.length - 1].expected.push(line);
    }
    expect(steps.length).toBeGreaterThanOrEqual(3);
    const cwd = mkdtempSync(join(dir, 'cli-'));
    for (const { command, expected } of steps) {
      const r = spawnSync('/bin/sh', ['-c', command], { cwd, encoding: 'utf8', env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` } });
      expect(r.stderr).toBe('');
      const got = r.stdout.split('\n').filter((l) => l !== '');
      expect(got.length).toBe(expected.length);
      // "…" in the README stands for what differs from run to run (addresses).
      expected.forEach((e, i) => expect(got[i]).toMatch(new RegExp('^' + e.split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.+') + '$')));
    }
  });
});
