// The `lua-home` command, spawned as a real process (the built dist/cjs/cli/cli.js).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = join(__dirname, '..', '..', 'dist', 'cjs', 'cli', 'cli.js');
let dir: string;

function run(args: string[], input?: string): { out: string; err: string; status: number | null } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: dir, input, encoding: 'utf8' });
  return { out: r.stdout, err: r.stderr, status: r.status };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lua-home-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('lua-home FILE and -e', () => {
  it('runs a file with its arguments in arg and in ..., skipping a #! line', () => {
    writeFileSync(join(dir, 'hello.lua'), '#!/usr/bin/env lua-home\nprint("hello", arg[0], arg[1], arg[2], #arg)\nio.write(select("#", ...), "\\n")');
    const r = run(['hello.lua', 'a', 'b c']);
    expect(r).toEqual({ out: 'hello\thello.lua\ta\tb c\t2\n2\n', err: '', status: 0 });
  });

  it('runs -e code, several in order, before the script', () => {
    writeFileSync(join(dir, 's.lua'), 'print(x + 1)');
    expect(run(['-e', 'x = 1', '-e', 'x = x * 10', 's.lua'])).toEqual({ out: '11\n', err: '', status: 0 });
  });

  it('keeps _home in ./.lua-home-state between runs', () => {
    const bump = ['-e', '_home.n = (_home.n or 0) + 1 print(_home.n)'];
    expect(run(bump).out).toBe('1\n');
    expect(run(bump).out).toBe('2\n');
    expect(existsSync(join(dir, '.lua-home-state'))).toBe(true);
    expect(run(['--state', 'other', ...bump]).out).toBe('1\n');
    expect(run(['--state=other', ...bump]).out).toBe('2\n');
    expect(run(['--no-state', ...bump]).out).toBe('1\n');
    expect(run(bump).out).toBe('3\n');
  });

  it('a failing chunk prints its output and error, exits 1, and saves nothing of it', () => {
    run(['-e', '_home.v = "kept"']);
    const r = run(['-e', 'print("partial") _home.v = "lost" error("it broke")']);
    expect(r.out).toBe('partial\n');
    expect(r.err).toMatch(/^lua-home: \(command line\):1: it broke\nstack traceback:\n/);
    expect(r.status).toBe(1);
    expect(run(['-e', 'print(_home.v)']).out).toBe('kept\n');
  });

  it('reports syntax errors, missing files and bad options', () => {
    expect(run(['-e', 'x = = 1'])).toMatchObject({ status: 1, err: expect.stringContaining("unexpected symbol near '='") });
    expect(run(['nope.lua'])).toMatchObject({ status: 1, err: 'lua-home: cannot open nope.lua: No such file or directory\n' });
    expect(run(['--frobnicate'])).toMatchObject({ status: 2, err: expect.stringContaining("unknown option '--frobnicate'") });
    expect(run(['-e'])).toMatchObject({ status: 2, err: expect.stringContaining("'-e' needs an argument") });
    expect(run(['--limit', 'lots'])).toMatchObject({ status: 2 });
  });

  it('--limit stops a runaway chunk', () => {
    const r = run(['--limit', '100000', '-e', 'while true do end']);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/instruction limit exceeded/);
  });

  it('runs a script from standard input with -', () => {
    expect(run(['-'], 'print(1 + 2)\n')).toEqual({ out: '3\n', err: '', status: 0 });
  });

  it('--help and --version', () => {
    expect(run(['--help'])).toMatchObject({ status: 0, out: expect.stringContaining('usage: lua-home') });
    expect(run(['--version'])).toMatchObject({ status: 0, out: expect.stringMatching(/^lua-home \d+\.\d+\.\d+ \(Lua 5\.4\.\d+\)\n$/) });
  });
});

describe('the REPL (-i, fed through stdin)', () => {
  it('prints results as Lua\'s REPL does, continues incomplete input, survives errors', () => {
    const r = run(['-i'], [
      '1 + 1',
      'return "a", nil, 2.0',
      'x = 10',
      'x * 2',
      'function sq(n)',
      '  return n * n',
      'end',
      'sq(12)',
      'error("oops")',
      '{}',
      'print("printed")',
      '_home.repl = "saved"',
      '',
    ].join('\n'));
    const lines = r.out.split('\n');
    expect(lines.slice(0, 5)).toEqual(['2', 'a\tnil\t2.0', '20', '144', lines[4]]);
    expect(lines[4]).toMatch(/^table: 0x[0-9a-f]+$/);
    expect(lines[5]).toBe('printed');
    expect(r.err).toMatch(/^stdin:1: oops\nstack traceback:\n\t\[C\]: in function 'error'\n\tstdin:1: in main chunk\n\t\[C\]: in \?\n$/);
    expect(r.status).toBe(0);
    expect(run(['-e', 'print(_home.repl)']).out).toBe('saved\n');
  });

  it('says so when the input ends inside a statement', () => {
    const r = run(['-i'], 'for i = 1, 3 do\nprint(i)\n');
    expect(r.out).toBe('');
    expect(r.err).toMatch(/incomplete input at end of file/);
  });

  it('-i enters the REPL after -e', () => {
    expect(run(['-i', '-e', 'y = 5'], 'y + 1\n').out).toBe('6\n');
  });
});

describe('the state lock', () => {
  it('a second process cannot write the state while the first holds it', async () => {
    const first = spawn(process.execPath, [cli], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    const lock = join(dir, '.lua-home-state', 'lock');
    try {
      for (let i = 0; i < 200 && !existsSync(lock); i++) await new Promise((r) => setTimeout(r, 25));
      expect(existsSync(lock)).toBe(true);
      const second = run(['-e', '_home.x = 1']);
      expect(second.status).toBe(1);
      expect(second.err).toMatch(/the state in .lua-home-state is in use by process \d+/);
    } finally {
      first.stdin.end('_home.first = true\n');
      await new Promise((r) => first.on('close', r));
    }
    expect(run(['-e', 'print(_home.first, _home.x)']).out).toBe('true\tnil\n');
  });
});
