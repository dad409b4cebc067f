import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
// Lua ⇄ JavaScript (issue 12): arguments, globals, JavaScript functions in Lua (sync and async),
// Lua functions from JavaScript as handles, errors both ways. Against the real lua.wasm.
import { inspect } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  Lua, LuaClosedError, LuaError, LuaFunctionHandle, LuaHandleReleasedError, multi, TableView,
} from '../../js/src/node';

async function failure(run: () => unknown): Promise<LuaError> {
  try {
    await run();
  } catch (e) {
    if (e instanceof LuaError) return e;
    throw e;
  }
  throw new Error('expected a LuaError');
}

describe('arguments', () => {
  it('arrive as ..., with select("#") exact (trailing undefined included)', async () => {
    const lua = await Lua.create();
    expect(lua.compute('return select("#", ...), ...', 'x', 2, undefined).values).toEqual([3, 'x', 2]);
    expect(lua.compute('return select("#", ...)', undefined, undefined).values).toEqual([2]);
    expect(lua.compute('return math.type((...)), math.type(select(2, ...))', 3, 3.5).values).toEqual(['integer', 'float']);
    expect(lua.compute('return ... + 1', 2n ** 62n).values).toEqual([2n ** 62n + 1n]);
    expect(lua.compute('return #..., (...):byte(1)', Uint8Array.of(255, 0, 1)).values).toEqual([3, 255]);
  });

  it('arrays, objects and Maps are copied in as plain Lua tables; table views arrive as references', async () => {
    const lua = await Lua.create();
    const [n, name, mapped, isExt] = lua.compute('local a, o, m = ... return #a, o.name, m[true], ext.id(a) == nil',
      [1, 2, 3], { name: 'n' }, new Map([[true, 'yes']])).values;
    expect([n, name, mapped, isExt]).toEqual([3, 'n', 'yes', true]);
    lua.home.set('shared', { hits: 0 });
    const view = lua.home.get('shared') as TableView;
    lua.compute('local t = ... t.hits = t.hits + 1', view);
    expect(view.get('hits')).toBe(1);
    // A copy, not a reference: Lua's change does not reach the JS object.
    const obj = { k: 1 };
    lua.compute('local t = ... t.k = 2', obj);
    expect(obj.k).toBe(1);
  });

  it('bad arguments are TypeErrors naming them', async () => {
    const lua = await Lua.create();
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(() => lua.compute('return 1', cyc)).toThrow('cannot pass argument #1.self to Lua: it contains itself (a cycle)');
    expect(() => lua.compute('return 1', 1, new Date())).toThrow(/cannot pass argument #2 to Lua/);
    expect(() => lua.compute('return 1', Symbol('s'))).toThrow(TypeError);
    const other = await Lua.create();
    expect(() => lua.compute('return 1', other.home)).toThrow(/another Lua VM/);
  });
});

describe('lua.global', () => {
  it('reads and writes globals; a Lua function read is a callable handle', async () => {
    const lua = await Lua.create();
    lua.global.set('limit', 10);
    lua.global.set('config', { depth: 2, tags: ['a', 'b'] });
    expect(lua.compute('return limit, config.depth, config.tags[2]').values).toEqual([10, 2, 'b']);
    lua.compute('function double(x) return x * 2 end counter = 7');
    expect(lua.global.get('counter')).toBe(7);
    expect(lua.global.get('nothing')).toBeUndefined();
    const double = lua.global.get('double') as LuaFunctionHandle;
    expect(double).toBeInstanceOf(LuaFunctionHandle);
    expect(double.call(21).values).toEqual([42]);
    expect(() => lua.global.get(3 as never)).toThrow(TypeError);
  });
});

describe('JavaScript functions in Lua', () => {
  it('are called with converted arguments and give converted results; objects of functions nest', async () => {
    const lua = await Lua.create();
    lua.global.set('add', (a: number, b: number) => a + b);
    const log: unknown[] = [];
    lua.global.set('api', { add: (a: number, b: number) => a + b, log: (...v: unknown[]) => void log.push(v) });
    expect(lua.compute('local s = 0 for i = 1, 100 do s = s + add(i, 1) end return s').values).toEqual([5150]);
    expect(lua.compute('api.log("x", {1, 2}, nil, 3) return api.add(1, 2)').values).toEqual([3]);
    expect(log).toEqual([['x', [1, 2], undefined, 3]]);
  });

  it('return several values with multi(...); undefined is no value; an array is one table', async () => {
    const lua = await Lua.create();
    lua.global.set('two', () => multi(1, 'b'));
    lua.global.set('none', () => undefined);
    lua.global.set('arr', () => [1, 2]);
    expect(lua.compute('return select("#", two()), two()').values).toEqual([2, 1, 'b']);
    expect(lua.compute('return select("#", none())').values).toEqual([0]);
    expect(lua.compute('local t = arr() return type(t), #t').values).toEqual(['table', 2]);
  });

  it('a JavaScript exception is a Lua error pcall catches; uncaught, the LuaError has it as cause', async () => {
    const lua = await Lua.create();
    const boom = new Error('kaboom');
    lua.global.set('boom', () => {
      throw boom;
    });
    expect(lua.compute('local ok, e = pcall(boom) return ok, e').values).toEqual([false, 'kaboom']);
    const e = await failure(() => lua.compute('local x = 1\nboom()'));
    expect(e.message).toBe('[string "local x = 1..."]:2: kaboom');
    expect(e.kind).toBe('runtime');
    expect(e.cause).toBe(boom);
  });

  it('may call back into Lua through a handle, within the instruction limit and the transaction', async () => {
    const lua = await Lua.create({ instructionLimit: 100_000 });
    lua.global.set('each', (t: number[], fn: LuaFunctionHandle) => {
      let s = 0;
      for (const x of t) s += fn.call(x).value as number;
      return s;
    });
    expect(lua.compute('return each({1, 2, 3}, function(x) return x * 10 end)').values).toEqual([60]);
    // The limit holds inside the callback.
    const limited = await failure(() => lua.compute('return each({1}, function() while true do end end)'));
    expect(limited.message).toMatch(/instruction limit exceeded/);
    // A write made inside a callback is rolled back with the compute that fails after it.
    lua.compute('_home.n = 0');
    await failure(() => lua.compute('each({1}, function() _home.n = 5 return 0 end) error("after")'));
    expect(lua.compute('return _home.n').values).toEqual([0]);
  });

  it('10,000 re-entrant calls in a loop leave the heap and the handle count flat', async () => {
    const lua = await Lua.create();
    lua.global.set('apply', (fn: LuaFunctionHandle, x: number) => {
      const r = fn.call(x).value;
      fn.release();
      return r;
    });
    const run = () => lua.compute('local s = 0 for i = 1, 10000 do s = s + apply(function(x) return x + 1 end, i) end return s');
    run();
    lua.gc();
    const before = lua.stats().heapUsed;
    expect(run().values).toEqual([50015000]);
    lua.gc();
    expect(lua.handleCount).toBe(0);
    expect(Math.abs(lua.stats().heapUsed - before)).toBeLessThan(16 * 1024);
  });

  it('are nested to a documented depth (64 calls into the host at once)', async () => {
    const lua = await Lua.create();
    lua.global.set('down', (n: number, fn: LuaFunctionHandle) => fn.call(n).value);
    lua.compute('function rec(n) if n == 0 then return 0 end return 1 + down(n - 1, rec) end');
    expect(lua.compute('return rec(60)').values).toEqual([60]);
    const e = await failure(() => lua.compute('return rec(100)'));
    // The error passes back out through every level as it was raised: one position, not 64.
    expect(e.message).toBe('[string "function rec(n) if n == 0 then return 0 end r..."]:1: ' +
      'host functions nested too deeply (more than 64 calls into the host)');
    expect(lua.compute('return rec(3)').values).toEqual([3]); // and the VM is fine after it
  });

  it('a compute from inside a host function is refused with a clear error', async () => {
    const lua = await Lua.create();
    let inner: unknown;
    lua.global.set('nest', () => {
      try {
        lua.compute('return 1');
      } catch (e) {
        inner = e;
      }
    });
    lua.compute('nest()');
    expect((inner as LuaError).message).toMatch(/^compute called from inside a host function/);
  });

  it('are part of the VM, not of _home: an image records their names and reattaches them', async () => {
    const lua = await Lua.create({ functions: { greet: (n: string) => `hi ${n}` } });
    lua.global.set('api', { twice: (x: number) => x * 2 });
    lua.compute('function run() return greet("ann"), api.twice(4) end');
    expect(lua.compute('return run()').values).toEqual(['hi ann', 8]);
    const e = await failure(() => lua.compute('_home.f = greet'));
    expect(e.message).toMatch(/C function/);
    const image = await lua.saveImage();
    const again = await Lua.create({ image, functions: { greet: (n: string) => `hello ${n}`, api: { twice: (x: number) => x * 3 } } });
    expect(again.compute('return run()').values).toEqual(['hello ann', 12]);
    // A function not given again is a clear error when called, not at load.
    const partial = await Lua.create({ image, functions: { greet: (n: string) => n } });
    const missing = await failure(() => partial.compute('return run()'));
    expect(missing.message).toMatch(/the host has no function \d+ \(a VM resumed from an image gets its functions back/);
  });
});

describe('async host functions (computeAsync)', () => {
  const sleep = (ms: number, v: unknown) => new Promise((r) => setTimeout(() => r(v), ms));

  it('suspend Lua until the promise settles, in pcall, coroutines, nested functions and metamethods', async () => {
    const lua = await Lua.create();
    lua.global.set('fetch', (v: unknown) => sleep(2, v));
    expect((await lua.computeAsync('return fetch(7), fetch("x")')).values).toEqual([7, 'x']);
    expect((await lua.computeAsync('return pcall(fetch, 1)')).values).toEqual([true, 1]);
    expect((await lua.computeAsync(`
      local co = coroutine.create(function(a) local ok, v = pcall(fetch, a) coroutine.yield(v) return fetch(a + 1) end)
      local _, first = coroutine.resume(co, 10) local _, second = coroutine.resume(co) return first, second`)).values).toEqual([10, 11]);
    expect((await lua.computeAsync('local w = coroutine.wrap(function() return fetch("w") end) return w()')).values).toEqual(['w']);
    expect((await lua.computeAsync('local t = setmetatable({}, { __index = function(_, k) return fetch(k) end }) return t.key')).values).toEqual(['key']);
    expect((await lua.computeAsync('local function f(n) if n == 0 then return fetch("deep") end return f(n - 1) end return f(20)')).values).toEqual(['deep']);
  });

  it('a rejected promise is a Lua error pcall catches', async () => {
    const lua = await Lua.create();
    lua.global.set('reject', () => Promise.reject(new Error('nope')));
    expect((await lua.computeAsync('return pcall(reject)')).values).toEqual([false, 'nope']);
    const e = await failure(() => lua.computeAsync('reject()'));
    expect(e.message).toBe('[string "reject()"]:1: nope'); // the caller's position, as luaL_error gives
    expect(e.cause).toBeInstanceOf(Error);
  });

  it('a failed computeAsync is rolled back as one transaction', async () => {
    const lua = await Lua.create();
    lua.global.set('fetch', (v: unknown) => sleep(1, v));
    lua.compute('_home.n = 1');
    await failure(() => lua.computeAsync('_home.n = 2 fetch(1) _home.m = 3 error("late")'));
    expect(lua.compute('return _home.n, _home.m').values).toEqual([1, undefined]);
  });

  it('computes on one VM are serialized; the sync compute waits for nothing and is refused meanwhile', async () => {
    const lua = await Lua.create();
    lua.global.set('fetch', (v: unknown) => sleep(3, v));
    lua.compute('_home.log = ""');
    const a = lua.computeAsync('_home.log = _home.log .. "a" fetch(1) _home.log = _home.log .. "A"');
    const b = lua.computeAsync('_home.log = _home.log .. "b" fetch(1) _home.log = _home.log .. "B"');
    await Promise.resolve();
    expect(() => lua.compute('return 1')).toThrow(/a computeAsync is running on this VM/);
    await Promise.all([a, b]);
    expect(lua.compute('return _home.log').values).toEqual(['aAbB']);
  });

  it('the sync compute calling a Promise-returning function says to use computeAsync; C boundaries say so precisely', async () => {
    const lua = await Lua.create();
    lua.global.set('fetch', (v: unknown) => sleep(1, v));
    const e = await failure(() => lua.compute('return fetch(1)'));
    expect(e.message).toBe('[string "return fetch(1)"]:1: a host function returned a Promise: call it under computeAsync (or callAsync)');
    const sorted = await failure(() => lua.computeAsync('table.sort({3, 2, 1}, function(a, b) fetch(1) return a < b end)'));
    expect(sorted.message).toContain('a host function returned a Promise where Lua cannot suspend (inside a C function such as table.sort, string.gsub');
    const gsub = await failure(() => lua.computeAsync('return (("ab"):gsub(".", function(c) return fetch(c) end))'));
    expect(gsub.message).toContain('where Lua cannot suspend');
  });
});

describe('Lua functions from JavaScript', () => {
  it('call and callAsync give the result of a compute; release and close are named errors', async () => {
    const lua = await Lua.create();
    lua.global.set('later', (v: unknown) => new Promise((r) => setTimeout(() => r(v), 1)));
    const [f, g] = lua.compute('return function(a, b) print("in f") return a + b end, function(x) return later(x) end').values as LuaFunctionHandle[];
    const r = f.call(1, 2);
    expect(r.values).toEqual([3]);
    expect(r.output).toBe('in f\n');
    expect((await g.callAsync('async')).values).toEqual(['async']);
    f.release();
    expect(() => f.call(1, 2)).toThrow(LuaHandleReleasedError);
    lua.close();
    expect(() => g.call(1)).toThrow(LuaClosedError);
  });

  it('the same function keeps its handle; a collected handle releases its function', async () => {
    const lua = await Lua.create();
    lua.compute('function f() end');
    expect(lua.global.get('f')).toBe(lua.global.get('f'));
    // Collection, in a process of its own with gc exposed (a busy Jest worker collects late).
    const dist = join(__dirname, '..', '..', 'dist', 'cjs', 'node.js');
    const out = execFileSync(process.execPath, ['--expose-gc', '-e', `const { Lua } = require(${JSON.stringify(dist)}); (async () => {
      const lua = await Lua.create();
      lua.compute('function f() end');
      lua.global.get('f');
      (() => { for (let i = 0; i < 50; i++) lua.compute('return function() return 1 end'); })();
      const before = lua.handleCount;
      for (let i = 0; i < 100 && lua.handleCount > 1; i++) { gc(); await new Promise((r) => setTimeout(r, 10)); }
      console.log(JSON.stringify([before, lua.handleCount]));
    })();`], { encoding: 'utf8', timeout: 60_000 });
    const [before, after] = JSON.parse(out) as number[];
    expect(before).toBeGreaterThan(1);
    expect(after).toBeLessThanOrEqual(1); // global f's handle may still be alive
  });

  it('a handle to a pure function stores into _home as before; one with captured locals is refused', async () => {
    const lua = await Lua.create();
    const [pure, closure] = lua.compute('local x = 1 return function(a) return a * 3 end, function() return x end').values as LuaFunctionHandle[];
    lua.home.set('triple', pure);
    expect(lua.compute('return _home.triple(5)').values).toEqual([15]);
    expect(() => lua.home.set('c', closure)).toThrow(/captures the local 'x'/);
  });
});

describe('errors both ways', () => {
  it('LuaError has the traceback at the error point and the error object', async () => {
    const lua = await Lua.create();
    const e = await failure(() => lua.compute('local function inner() error({ code = 42 }) end\ninner()'));
    expect(e.value).toEqual({ code: 42 });
    expect(e.message).toBe('(error object is a table value)');
    expect(e.traceback).toMatch(/^stack traceback:\n\t\[C\]: in function 'error'\n\t\[string "local function inner\(\) error\(\{ code = 42 \}\) e..."\]:1: in local 'inner'\n/);
    const s = await failure(() => lua.compute('error("plain")'));
    expect(s.value).toBe(s.message);
  });
});

describe('API hygiene', () => {
  it('JSON and inspect show contents, never the VM', async () => {
    const lua = await Lua.create();
    const [t, f] = lua.compute('_home.t = { 1, 2, { x = 1 } } return _home.t, function() end').values;
    const json = JSON.stringify([t, f]);
    expect(json).toMatch(/^\[\[1,2,\{"x":1\}\],\{"luaFunction":\d+\}\]$/);
    expect(inspect(t)).toMatch(/^TableView #\d+ \[ 1, 2, \{ x: 1 \} \]$/);
    expect(inspect(f)).toMatch(/^\[LuaFunction #\d+\]$/);
  });

  it('bad code arguments and unknown options are TypeErrors naming them', async () => {
    const lua = await Lua.create();
    expect(() => lua.compute(123 as never)).toThrow(new TypeError('lua.compute: code must be a string or a Uint8Array, got number'));
    expect(() => lua.compute({} as never)).toThrow(/got Object/);
    expect(() => lua.compute(null as never)).toThrow(/got null/);
    await expect(lua.computeAsync(undefined as never)).rejects.toThrow(TypeError);
    await expect(Lua.create({ instructionlimit: 5 } as never)).rejects.toThrow("Lua.create: unknown option 'instructionlimit' (did you mean 'instructionLimit'?)");
  });

  it('under computeAsync, a host function may call a handle back before the first wait too', async () => {
    const lua = await Lua.create();
    lua.global.set('each', (t: unknown[], f: { call(...a: unknown[]): { value: unknown } }) => t.map((x) => f.call(x).value));
    lua.global.set('later', async (x: number) => x * 10);
    const r = await lua.computeAsync('local a = each({ 1, 2 }, function(x) return x + 1 end) local b = later(a[2]) return a[1], b');
    expect(r.values).toEqual([2, 30]);
  });

  it('arguments encoded while others are being encoded (a getter that computes on another VM) stay intact', async () => {
    const a = await Lua.create();
    const b = await Lua.create();
    const arg = { get x() { return b.compute('return ... * 2', 21).value; }, y: 'why' };
    expect(a.compute('local t, n = ... return t.x, t.y, n', arg, 7).values).toEqual([42, 'why', 7]);
  });
});
