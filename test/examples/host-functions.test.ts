// examples/node/host-functions.mjs and the README's "Lua and JavaScript" section run as shown:
// each `console.log(...); // expected` prints what its comment says.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const example = join(root, 'examples', 'node', 'host-functions.mjs');
const SECTION = 'Lua and JavaScript: arguments, globals, functions';

/** The comments of `console.log(...); // expected` lines, in order: what the script must print. */
function expectedLines(code: string): string[] {
  return code.split('\n').filter((l) => /console\.log\(/.test(l) && /\/\/ /.test(l)).map((l) => l.slice(l.lastIndexOf('// ') + 3));
}

/** The js blocks of one README section. */
function sectionBlocks(heading: string): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const end = readme.indexOf('\n## ', start + 4);
  return [...readme.slice(start, end < 0 ? undefined : end).matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
}

describe('examples/node/host-functions.mjs', () => {
  it('passes arguments, calls sync and async JavaScript functions and a Lua function, as its comments say', () => {
    const code = readFileSync(example, 'utf8');
    const out = execFileSync(process.execPath, [example], { cwd: root, encoding: 'utf8' });
    const lines = out.trimEnd().split('\n');
    expect(lines).toEqual([
      "[ 'total: 4.25', 2 ]",
      "[ false, 'no price for caviar' ]",
      '[string "return price("caviar")"]:1: no price for caviar / cause: no price for caviar',
      'apple=10 cheese=0',
      '60 "discount of 25%\\n"',
    ]);
    // The commented results in the file are the ones printed.
    for (const e of expectedLines(code)) expect(lines).toContain(e);
  });
});

describe('README: Lua and JavaScript', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'lua-home-interop-readme-'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules', 'lua-home'), 'dir'); // imported as users do
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('its blocks run in order as one script and print what their comments say', () => {
    const blocks = sectionBlocks(SECTION);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    const code = blocks.join('\n');
    writeFileSync(join(dir, 'interop.mjs'), code);
    const out = execFileSync(process.execPath, ['interop.mjs'], { cwd: dir, encoding: 'utf8' });
    const expected = expectedLines(code);
    expect(expected.length).toBeGreaterThanOrEqual(6);
    expect(out.trimEnd().split('\n')).toEqual(expected);
  });
});
