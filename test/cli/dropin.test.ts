// `lua-home` as a drop-in for `lua`: the real built CLI (dist/cjs/cli/cli.js) spawned as a
// process, and the same scripts run through Debian's lua5.4 for comparison.
import { spawn, spawnSync, SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = join(__dirname, '..', '..', 'dist', 'cjs', 'cli', 'cli.js');
let dir: string;

interface Run { out: string; err: string; status: number | null; bytes: Buffer }

function result(r: SpawnSyncReturns<Buffer>): Run {
  return { out: r.stdout.toString('utf8'), err: r.stderr.toString('utf8'), status: r.status, bytes: r.stdout };
}

function home(args: string[], input?: string, env: NodeJS.ProcessEnv = {}): Run {
  return result(spawnSync(process.execPath, [cli, ...args], { cwd: dir, input, env: { ...process.env, LUA_INIT: undefined, LUA_PATH: undefined, ...env } }));
}

function lua(args: string[], input?: string): Run {
  return result(spawnSync('lua5.4', args, { cwd: dir, input, env: { ...process.env, LUA_INIT: undefined, LUA_PATH: undefined } }));
}

function file(name: string, text: string): void {
  mkdirSync(join(dir, name, '..'), { recursive: true });
  writeFileSync(join(dir, name), text);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lua-home-dropin-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('arguments', () => {
  it('a script gets its arguments as ... and the global arg, as lua gives them', () => {
    file('s.lua', 'print(select("#", ...), ...)\nprint(arg[-2], arg[-1], arg[0], arg[1], arg[2], #arg)');
    expect(home(['--no-state', 's.lua', 'a', 'b c'])).toMatchObject({ out: '2\ta\tb c\nlua-home\t--no-state\ts.lua\ta\tb c\t2\n', status: 0 });
  });

  it('arg holds the options at negative indices, and the program at 0 when there is no script', () => {
    file('s.lua', 'print(arg[-3], arg[-2], arg[-1], arg[0], arg[1])');
    expect(home(['--no-state', '-e', 'x=1', 's.lua', 'z']).out).toBe('--no-state\t-e\tx=1\ts.lua\tz\n');
    expect(home(['--no-state', '-e', 'print(arg[0], arg[1], arg[2], select("#", ...))']).out).toBe('lua-home\t--no-state\t-e\t0\n');
  });
});

describe('errors', () => {
  it('a runtime error prints lua-home: script.lua:N: message and a traceback, and exits 1', () => {
    file('script.lua', 'local function f()\n  local x = nil\n  return x.y\nend\nf()\n');
    const r = home(['--no-state', 'script.lua']);
    expect(r.status).toBe(1);
    expect(r.err).toBe("lua-home: script.lua:3: attempt to index a nil value (local 'x')\nstack traceback:\n" +
      "\tscript.lua:3: in local 'f'\n\tscript.lua:5: in main chunk\n\t[C]: in ?\n");
  });

  it('a syntax error names the script (no traceback); -e chunks are (command line)', () => {
    file('bad.lua', 'x = = 1\n');
    expect(home(['--no-state', 'bad.lua'])).toMatchObject({ status: 1, err: "lua-home: bad.lua:1: unexpected symbol near '='\n" });
    expect(home(['--no-state', '-e', 'error("boom")'])).toMatchObject({
      status: 1, err: "lua-home: (command line):1: boom\nstack traceback:\n\t[C]: in function 'error'\n\t(command line):1: in main chunk\n\t[C]: in ?\n",
    });
  });
});

describe('standard input', () => {
  it('piped stdin with no script runs as one chunk: a local stays visible on the next line', () => {
    expect(home(['--no-state'], 'local x = 41\nprint(x + 1)\n')).toMatchObject({ out: '42\n', err: '', status: 0 });
  });

  it('an error in piped stdin names stdin and exits 1', () => {
    const r = home(['--no-state'], 'print("before")\nerror("late")\n');
    expect(r).toMatchObject({ out: 'before\n', status: 1 });
    expect(r.err).toMatch(/^lua-home: stdin:2: late\nstack traceback:\n/);
  });

  it('- runs stdin as the script, with the arguments after it', () => {
    expect(home(['--no-state', '-', 'p', 'q'], 'print(arg[0], ...)\n').out).toBe('-\tp\tq\n');
  });

  it('with a script (or -e), stdin is what io.read reads', () => {
    expect(home(['--no-state', '-e', 'print(io.read())'], 'hi\n').out).toBe('hi\n');
    file('count.lua', 'local n = 0 for line in io.lines() do n = n + #line end print(n)');
    expect(home(['--no-state', 'count.lua'], 'ab\ncde\n').out).toBe('5\n');
  });
});

describe('modules', () => {
  beforeEach(() => {
    file('app/lib/util.lua', 'return { twice = function(n) return 2 * n end }');
    file('app/pkg/init.lua', 'return { name = "pkg" }');
    file('app/main.lua', 'print(require("lib.util").twice(21), require("pkg").name)');
    file('secret.lua', 'return "outside"');
  });

  it('require finds ?.lua and ?/init.lua beside the script, wherever it is run from', () => {
    expect(home(['--no-state', 'app/main.lua'])).toMatchObject({ out: '42\tpkg\n', status: 0 });
  });

  it('-l mod and -l g=mod require a module into a global before the script', () => {
    file('app/run.lua', 'print(U.twice(4), pkg.name)');
    expect(home(['--no-state', '-l', 'U=lib.util', '-lpkg', 'app/run.lua'])).toMatchObject({ out: '8\tpkg\n', status: 0 });
    const r = home(['--no-state', '-l', 'nothere', '-e', 'print(1)']);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/^lua-home: module 'nothere' not found:/);
  });

  it('LUA_PATH replaces package.path (;; is the default) and its directories are served', () => {
    const r = home(['--no-state', '-e', 'print(require("util").twice(5), package.path)'], undefined, { LUA_PATH: join(dir, 'app', 'lib', '?.lua') + ';;' });
    expect(r.out).toBe(`10\t${join(dir, 'app', 'lib', '?.lua')};?.lua;?/init.lua\n`);
    expect(home(['--no-state', '-E', '-e', 'print(pcall(require, "util"))'], undefined, { LUA_PATH: join(dir, 'app', 'lib', '?.lua') }).out)
      .toMatch(/^false\tmodule 'util' not found/);
  });

  it('nothing outside the served directories is readable, whatever package.path says', () => {
    const probe = (path: string) => `package.path = ${JSON.stringify(path)} print(pcall(require, "secret"))`;
    file('app/probe.lua', probe('../?.lua'));
    expect(home(['--no-state', 'app/probe.lua']).out).toMatch(/^false\tmodule 'secret' not found/);
    file('app/probe2.lua', probe(join(dir, '?.lua')));
    expect(home(['--no-state', 'app/probe2.lua']).out).toMatch(/^false\tmodule 'secret' not found/);
    file('app/probe3.lua', 'package.path = "/etc/?" print(pcall(require, "passwd"))');
    expect(home(['--no-state', 'app/probe3.lua']).out).toMatch(/^false\tmodule 'passwd' not found/);
  });
});

describe('the REPL', () => {
  it('-i runs the REPL after the script, which sees the script\'s globals', () => {
    file('s.lua', 'greeting = "hello"');
    expect(home(['--no-state', '-i', 's.lua'], 'greeting .. "!"\n')).toMatchObject({ out: 'hello!\n', status: 0 });
  });

  it('keeps its history from one run to the next in $LUA_HOME_HISTORY (a terminal, through script(1))', async () => {
    const history = join(dir, 'history');
    // A pseudo-terminal: the first run types a line; the second recalls it with the up arrow.
    const typed = async (keys: string[]) => {
      const child = spawn('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} --no-state`, '/dev/null'],
        { cwd: dir, env: { ...process.env, LUA_HOME_HISTORY: history }, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      for (const k of keys) {
        await new Promise((r) => setTimeout(r, 700));
        child.stdin.write(k);
      }
      await new Promise((r) => setTimeout(r, 500));
      child.stdin.end('\x04');
      await new Promise((r) => child.on('close', r));
      return out;
    };
    const first = await typed(['print("remembered" .. 6 * 7)\r']);
    expect(first).toContain('remembered42');
    expect(readFileSync(history, 'utf8')).toBe('print("remembered" .. 6 * 7)\n');
    const second = await typed(['\x1b[A\r']);
    expect(second).toContain('remembered42');
  });
});

describe('Ctrl-C', () => {
  const sigint = async (args: string[], input?: string, afterMs = 500) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    if (input !== undefined) child.stdin.write(input);
    setTimeout(() => child.kill('SIGINT'), afterMs);
    const started = Date.now();
    const status = await new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    return { out, err, status, ms: Date.now() - started, end: () => child.stdin.end() };
  };

  it('SIGINT stops a runaway chunk without --limit: exit 130, "interrupted" on stderr', async () => {
    const r = await sigint(['--no-state', '-e', 'while true do end']);
    expect(r.status).toBe(130);
    expect(r.err).toMatch(/interrupted/);
    expect(r.ms).toBeLessThan(4000);
  });

  it('_home stays as of the last completed chunk', async () => {
    expect(home(['-e', '_home.n = 1']).status).toBe(0);
    const r = await sigint(['-e', '_home.n = 2', '-e', '_home.n = 3 while true do end'], undefined, 1500);
    expect(r.status).toBe(130);
    expect(home(['-e', 'print(_home.n)']).out).toBe('2\n');
  });

  it('in the REPL, SIGINT stops the running input and returns to the prompt', async () => {
    const child = spawn(process.execPath, [cli, '--no-state', '-i'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.stdin.write('_home.k = 1\n_home.k = 2 while true do end\n');
    await new Promise((r) => setTimeout(r, 1000));
    child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 1000));
    child.stdin.end('print("back", _home.k)\n');
    const status = await new Promise((r) => child.on('close', r));
    expect(err).toMatch(/interrupted/);
    expect(out).toBe('back\t1\n');
    expect(status).toBe(0);
  });
});

describe('output', () => {
  it('is byte-exact: io.write("\\xff\\xfe") reaches stdout as those two bytes', () => {
    const r = home(['--no-state', '-e', 'io.write("\\xff\\xfe") io.stderr:write("e")']);
    expect([...r.bytes]).toEqual([0xff, 0xfe]);
    expect(r.err).toBe('e');
  });

  it('is written as it is produced, before the chunk ends', async () => {
    const child = spawn(process.execPath, [cli, '--no-state', '-e', 'print("early") io.stdout:flush() while true do end'], { cwd: dir });
    const first = await new Promise<string>((r) => child.stdout.once('data', (d) => r(String(d))));
    expect(first).toBe('early\n');
    child.kill('SIGINT');
    await new Promise((r) => child.on('close', r));
  });
});

describe('--help', () => {
  it('says where lua-home differs from lua', () => {
    const r = home(['--help']);
    expect(r.status).toBe(0);
    for (const word of ['_home', 'state', 'os.execute', 'io.open', 'require', 'package.path', '--limit', 'sandbox']) expect(r.out).toContain(word);
  });
});

// The same small scripts through lua5.4 and `lua-home --no-state`.
describe('differential: lua5.4 and lua-home', () => {
  const hasLua = spawnSync('lua5.4', ['-v']).status === 0;
  const cases: { name: string; files: Record<string, string>; args: string[]; input?: string; stderr: 'all' | 'first' }[] = [
    { name: 'arguments in ...', files: { 's.lua': 'print(select("#", ...), ...)' }, args: ['s.lua', 'x', 'y z', ''], stderr: 'all' },
    { name: 'the arg table', files: { 's.lua': 'for i = 0, #arg do print(i, arg[i]) end print(arg[-2], arg[-1] ~= nil)' }, args: ['-e', 'a=1', 's.lua', 'p'], stderr: 'all' },
    { name: 'a runtime error and its traceback', files: { 'e.lua': 'local t = {}\nlocal function g() error("bad " .. #t) end\nlocal function f() g() end\nf()' }, args: ['e.lua'], stderr: 'all' },
    { name: 'an error object with __tostring', files: { 'e.lua': 'error(setmetatable({}, { __tostring = function() return "custom" end }))' }, args: ['e.lua'], stderr: 'all' },
    { name: 'a syntax error', files: { 'e.lua': 'print("ok")\nlocal = 1' }, args: ['e.lua'], stderr: 'all' },
    { name: 'os.exit with a status', files: { 'x.lua': 'print("bye") os.exit(3)' }, args: ['x.lua'], stderr: 'all' },
    { name: 'os.exit(false) inside a function and a pcall', files: { 'x.lua': 'io.write("no newline") pcall(function() os.exit(false) end) print("not reached")' }, args: ['x.lua'], stderr: 'all' },
    { name: 'an error object without __tostring', files: { 'e.lua': 'error({ code = 1 })' }, args: ['e.lua'], stderr: 'all' },
    { name: 'stdin piped into a script', files: { 'r.lua': 'local a = io.read("n") local b = io.read("l") print(a * 2, b, io.read("a"))' }, args: ['r.lua'], input: '21 rest\nmore\nlines\n', stderr: 'all' },
    { name: 'stdin as the chunk (-)', files: {}, args: ['-', 'a1'], input: 'local n = ...\nprint(n, #arg)\nprint(#n + n.x.y)', stderr: 'all' },
    { name: 'require of a module beside the script', files: { 'm.lua': 'local M = {} function M.f() return "from m" end return M', 'main.lua': 'local m = require("m") print(m.f(), package.loaded.m == m)' }, args: ['main.lua'], stderr: 'all' },
    { name: 'print of various values', files: { 'p.lua': 'print(1, 1.0, -0.0, 2^63, math.maxinteger, 1e300 * 10, 0/0 ~= 0/0, "s", nil, true, 10 // 3, 7 / 2, #"abc", ("%5.2f"):format(3.14159), tostring(nil), 3 | 5, "10" + 1)' }, args: ['p.lua'], stderr: 'all' },
    { name: 'string and table library results', files: { 't.lua': 'local t = {5, 3, 1, 4} table.sort(t) print(table.concat(t, ","), ("hello"):rep(2, "-"), string.format("%q", "a\\nb"), select(2, pcall(error, {code = 1})).code)' }, args: ['t.lua'], stderr: 'all' },
    { name: 'an error in -e stops the rest, exit 1', files: { 's.lua': 'print("not run")' }, args: ['-e', 'print(1)', '-e', 'error("stop")', 's.lua'], stderr: 'all' },
    { name: 'a missing script', files: {}, args: ['missing.lua'], stderr: 'all' },
    { name: 'a missing module', files: { 'n.lua': 'require("nope")' }, args: ['n.lua'], stderr: 'first' },
  ];

  for (const c of cases) {
    (hasLua ? it : it.skip)(c.name, () => {
      for (const [name, text] of Object.entries(c.files)) file(name, text);
      const want = lua(c.args, c.input);
      const got = home(['--no-state', ...c.args], c.input);
      expect(got.out).toBe(want.out);
      expect(got.status).toBe(want.status);
      const wantErr = want.err.replace(/^lua5\.4:/gm, 'lua-home:');
      if (c.stderr === 'all') expect(got.err).toBe(wantErr);
      else expect(got.err.split('\n')[0]).toBe(wantErr.split('\n')[0]);
    });
  }

  it('the state directory is not created by --no-state', () => {
    home(['--no-state', '-e', 'print(1)']);
    expect(existsSync(join(dir, '.lua-home-state'))).toBe(false);
  });
});
