// The Lua class: every method, every error kind, table views, clock and seed, and the exact
// value mapping between Lua and JavaScript (README, "Values between Lua and JavaScript").
import { Lua, LuaClosedError, LuaError, LuaFloat, LuaFunction, LuaFunctionHandle, TableView } from '../../js/src/node';

function kindOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof LuaError) return e.kind;
    throw e;
  }
  throw new Error('expected a LuaError');
}

describe('compute', () => {
  let lua: Lua;
  beforeEach(async () => {
    lua = await Lua.create();
  });

  it('returns every value in order, the first as value, and the output', () => {
    const r = lua.compute('print("hi", nil, true, 1.5) io.write("w", 2, "\\n") return 1, "two", nil, false');
    expect(r.values).toEqual([1, 'two', undefined, false]);
    expect(r.value).toBe(1);
    expect(r.output).toBe('hi\tnil\ttrue\t1.5\nw2\n');
    expect(r.outputDropped).toBe(0);
    expect(lua.compute('x = 1').values).toEqual([]);
    expect(lua.compute('x = 1').value).toBeUndefined();
    expect(lua.compute('').values).toEqual([]);
  });

  it('accepts code as bytes', () => {
    expect(lua.compute(new TextEncoder().encode('return "bytes"')).value).toBe('bytes');
  });

  it('reports cut output and how much was dropped (past outputLimit, without a stdout)', async () => {
    const small = await Lua.create({ outputLimit: 1000 });
    const r = small.compute('io.write(string.rep("x", 70000)) return 1');
    expect(r.value).toBe(1);
    expect(r.output).toBe('x'.repeat(1000));
    expect(r.outputDropped).toBe(69000);
    expect(lua.compute('io.write(string.rep("x", 70000)) return 1').output).toBe('x'.repeat(70000)); // the default keeps 16 MiB
  });

  it('throws LuaError with Lua\'s message, its kind and the output before the error', () => {
    try {
      lua.compute('print("before") error("boom")');
      throw new Error('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(LuaError);
      const err = e as LuaError;
      expect(err.message).toBe('[string "print("before") error("boom")"]:1: boom');
      expect(err.kind).toBe('runtime');
      expect(err.output).toBe('before\n');
      expect(err.name).toBe('LuaError');
    }
  });

  it('gives each kind: syntax, runtime, memory, limit, input, host', async () => {
    expect(kindOf(() => lua.compute('return +'))).toBe('syntax');
    expect(kindOf(() => lua.compute('local x = nil; return x.y'))).toBe('runtime');
    expect(kindOf(() => lua.compute('local t = {} for i = 1, 1e9 do t[i] = ("x"):rep(100) .. i end'))).toBe('memory');
    const limited = await Lua.create({ instructionLimit: 100_000 });
    expect(kindOf(() => limited.compute('while true do end'))).toBe('limit');
    expect(kindOf(() => lua.compute('return "\uD800"'))).toBe('input'); // a lone surrogate: not Unicode
    // A host failure: the Map host answers -1 and the guest raises a Lua error of kind host.
    const write = lua.host.write.bind(lua.host);
    lua.host.write = () => {
      throw new Error('the disk is full');
    };
    try {
      lua.compute('_home.x = 1');
      throw new Error('no error');
    } catch (e) {
      expect((e as LuaError).kind).toBe('host');
      expect(((e as LuaError).cause as Error).message).toBe('the disk is full');
    } finally {
      lua.host.write = write;
    }
    // Every one of them left the VM usable.
    expect(lua.compute('return 1 + 1').value).toBe(2);
    expect(limited.compute('return 2 + 2').value).toBe(4);
  });

  it('rolls back every external-table change of a failed compute', () => {
    lua.compute('_home.a = 1 _home.t = { 1, 2, { deep = true } }');
    const before = JSON.stringify(lua.home.toJS());
    expect(() => lua.compute('_home.a = 2 _home.t[3].deep = false _home.new = {} _home.t = nil error("no")')).toThrow('no');
    expect(JSON.stringify(lua.home.toJS())).toBe(before);
  });

  it('instruction limit: set at create or later, 0 lifts it', async () => {
    const l = await Lua.create({ instructionLimit: 50_000 });
    expect(() => l.compute('for i = 1, 1e7 do end')).toThrow(/instruction limit exceeded/);
    l.setInstructionLimit(0);
    expect(l.compute('local n = 0 for i = 1, 1e6 do n = n + 1 end return n').value).toBe(1e6);
    expect(() => l.setInstructionLimit(-1)).toThrow(RangeError);
    expect(() => l.setInstructionLimit(1.5)).toThrow(RangeError);
  });

  it('stats and gc report and collect the real heap', () => {
    const base = lua.stats();
    expect(base.bufferSize).toBe(65536);
    expect(base.pages).toBe(32);
    lua.compute('junk = {} for i = 1, 5000 do junk[i] = { i } end');
    const full = lua.stats().heapUsed;
    expect(full).toBeGreaterThan(base.heapUsed + 100_000);
    lua.compute('junk = nil');
    lua.gc();
    expect(lua.stats().heapUsed).toBeLessThan(full - 100_000);
  });

  it('gc drops the external tables nothing can reach any more, and keeps the rest', () => {
    lua.compute('_home.doc = { 1 } _home.doc = { 2 } held = ext.table() held.x = 1 local tmp = ext.table() tmp.y = 2');
    expect(lua.host.tables.size).toBe(5);
    expect(lua.gc()).toBe(2); // the first doc and tmp
    expect(lua.host.tables.size).toBe(3);
    expect(lua.compute('_home.back = held return _home.doc[1], _home.back.x').values).toEqual([2, 1]);
  });

  it('close makes every later call throw LuaClosedError and leaves the tables readable', () => {
    lua.compute('_home.kept = "yes"');
    const home = lua.home;
    lua.close();
    expect(lua.isClosed).toBe(true);
    expect(() => lua.compute('return 1')).toThrow(LuaClosedError);
    expect(() => lua.stats()).toThrow(LuaClosedError);
    expect(() => lua.gc()).toThrow(LuaClosedError);
    expect(() => lua.home).toThrow(LuaClosedError);
    expect(home.get('kept')).toBe('yes');
  });
});

describe('clock and random seed reach the VM', () => {
  it('a fixed clock gives fixed os.time and os.date; os.clock counts from 0', async () => {
    const lua = await Lua.create({ clock: 1_700_000_000 });
    expect(lua.compute('return os.time(), os.date("!%Y-%m-%d %H:%M:%S"), os.clock()').values).toEqual([
      1_700_000_000, '2023-11-14 22:13:20', 0,
    ]);
  });

  it('a clock function is read at every compute', async () => {
    let now = 1000;
    const lua = await Lua.create({ clock: () => now });
    expect(lua.compute('return os.time()').value).toBe(1000);
    now = 2000.5;
    expect(lua.compute('return os.time()').value).toBe(2000);
  });

  it('a clock function is read once per compute, at its first reading, and only then', async () => {
    let reads = 0;
    const lua = await Lua.create({ clock: () => 1000 + ++reads });
    expect(lua.compute('return 1 + 1').value).toBe(2);
    expect(reads).toBe(0); // a compute that never reads the clock never asks for it
    const r = lua.compute('local a = os.time() local b = os.date("!%S") local c = os.time() return a, b, c, os.clock()');
    expect(r.values).toEqual([1001, '41', 1001, 0]); // the clock does not move during a compute
    expect(reads).toBe(1);
    const f = lua.compute('return function() return os.time() end').value as LuaFunctionHandle;
    expect(f.call().value).toBe(1002); // a call is a compute of its own
    expect(f.call().value).toBe(1003);
  });

  it('real time by default', async () => {
    const lua = await Lua.create();
    const t = lua.compute('return os.time()').value as number;
    expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(5);
  });

  it('a seed makes math.random deterministic; without one, runs differ', async () => {
    const draw = 'local t = {} for i = 1, 8 do t[i] = math.random(1, 1000000) end return table.concat(t, ",")';
    const a = (await Lua.create({ randomSeed: 42 })).compute(draw).value;
    const b = (await Lua.create({ randomSeed: 42n })).compute(draw).value;
    const c = (await Lua.create({ randomSeed: 43 })).compute(draw).value;
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    const d = (await Lua.create()).compute(draw).value;
    const e = (await Lua.create()).compute(draw).value;
    expect(d).not.toBe(e);
  });
});

describe('memoryAlias', () => {
  it('Memory is _home by default, and absent when turned off', async () => {
    const on = await Lua.create();
    expect(on.compute('Memory.x = 5 return _home.x, rawequal(Memory, _home)').values).toEqual([5, true]);
    const off = await Lua.create({ memoryAlias: false });
    expect(off.compute('return Memory').value).toBeUndefined();
  });
});

describe('table views: _home from JavaScript without running Lua', () => {
  it('get, set, delete, has, size, keys, entries, iteration and toJS', async () => {
    const lua = await Lua.create();
    const home = lua.home;
    expect(home).toBeInstanceOf(TableView);
    home.set('counter', 1).set(7, 'seven').set(true, 'yes');
    expect(home.get('counter')).toBe(1);
    expect(home.has('counter')).toBe(true);
    expect(home.has('nope')).toBe(false);
    expect(home.size).toBe(3);
    expect(new Set(home.keys())).toEqual(new Set(['counter', 7, true]));
    expect(new Map(home.entries()).get(7)).toBe('seven');
    expect([...home].length).toBe(3);
    expect(lua.compute('return _home.counter, _home[7], _home[true]').values).toEqual([1, 'seven', 'yes']);
    expect(home.delete('counter')).toBe(true);
    expect(home.delete('counter')).toBe(false);
    expect(lua.compute('return _home.counter').value).toBeUndefined();
    home.set(7, undefined);
    expect(home.has(7)).toBe(false);
  });

  it('JS objects, arrays and Maps become external tables; shared references and cycles stay so', async () => {
    const lua = await Lua.create();
    const shared = { n: 1 };
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    lua.home.set('data', { list: [10, 20, 30], map: new Map<unknown, unknown>([[1, 'a'], ['k', 'b']]), a: shared, b: shared, cyclic });
    expect(lua.compute(`local d = _home.data
      return #d.list, d.list[2], d.map[1], d.map.k, rawequal(d.a, d.b), rawequal(d.cyclic.self, d.cyclic), ext.id(d) ~= nil`).values)
      .toEqual([3, 20, 'a', 'b', true, true, true]);
    const back = lua.home.get('data') as TableView;
    expect(back).toBeInstanceOf(TableView);
    const js = back.toJS() as any;
    expect(js.list).toEqual([10, 20, 30]);
    expect(js.map).toEqual(new Map<unknown, unknown>([[1, 'a'], ['k', 'b']]));
    expect(js.a).toBe(js.b);
    expect(js.cyclic.self).toBe(js.cyclic);
  });

  it('next(t) with one argument starts a traversal of an external table', async () => {
    const lua = await Lua.create();
    lua.home.set('one', { only: 1 }).set('none', {});
    expect(lua.compute('return next(_home.one)').values).toEqual(['only', 1]);
    expect(lua.compute('return next(_home.none) == nil, next(_home.one) ~= nil').values).toEqual([true, true]);
  });

  it('newTable and table(id) give views of other external tables', async () => {
    const lua = await Lua.create();
    const t = lua.newTable();
    t.set('x', 1);
    lua.home.set('t', t);
    expect(lua.compute('return _home.t.x, ext.id(_home.t)').values).toEqual([1, t.id]);
    expect(lua.table(t.id)).toBe(t);
    const id = lua.compute('local n = ext.table() n.y = 2 _home.n = n return ext.id(n)').value as number;
    expect(lua.table(id).get('y')).toBe(2);
  });

  it('refuses values that cannot be stored, with clear errors', async () => {
    const lua = await Lua.create();
    expect(() => lua.home.set('f', () => 1)).toThrow(/cannot store a function/);
    expect(() => lua.home.set('s', Symbol('x'))).toThrow(/cannot store a symbol/);
    expect(() => lua.home.set('d', new Date())).toThrow(/cannot store a Date/);
    expect(() => lua.home.set('big', 1n << 64n)).toThrow(/does not fit a Lua integer/);
  });
});

describe('values between Lua and JavaScript', () => {
  let lua: Lua;
  beforeAll(async () => {
    lua = await Lua.create();
  });
  const ret = (code: string) => lua.compute(`return ${code}`).value;

  it('integers: numbers when safe, bigint beyond 2^53', () => {
    expect(ret('42')).toBe(42);
    expect(ret('-(1 << 53) + 1')).toBe(-(2 ** 53) + 1); // Number.MIN_SAFE_INTEGER
    expect(ret('-(1 << 53)')).toBe(-(2n ** 53n));
    expect(ret('math.maxinteger')).toBe(9223372036854775807n);
    expect(ret('math.mininteger')).toBe(-9223372036854775808n);
    expect(ret('(1 << 53) + 1')).toBe(9007199254740993n);
  });

  it('floats stay numbers (including -0, inf, nan)', () => {
    expect(ret('1.5')).toBe(1.5);
    expect(ret('2^63')).toBe(2 ** 63);
    expect(Object.is(ret('-0.0'), -0)).toBe(true);
    expect(ret('math.huge')).toBe(Infinity);
    expect(ret('0/0')).toBeNaN();
    expect(ret('3.0')).toBe(3);
  });

  it('JS numbers: safe integers become Lua integers, others floats; LuaFloat forces a float', () => {
    lua.home.set('i', 3).set('f', 3.5).set('lf', new LuaFloat(3)).set('z', -0).set('big', 2 ** 60).set('b', 5n);
    expect(lua.compute('return math.type(_home.i), math.type(_home.f), math.type(_home.lf), math.type(_home.z), math.type(_home.big), math.type(_home.b)').values)
      .toEqual(['integer', 'float', 'float', 'float', 'float', 'integer']);
    expect(lua.compute('return 1/_home.z').value).toBe(-Infinity);
  });

  it('strings: valid UTF-8 as JS strings, other bytes as Uint8Array (never corrupted)', () => {
    expect(ret('"héllo ✓"')).toBe('héllo ✓');
    expect(ret('"\\xff\\xfe\\0x"')).toEqual(Uint8Array.of(0xff, 0xfe, 0, 0x78));
    lua.home.set('bin', Uint8Array.of(0, 200, 255));
    expect(lua.compute('local s = _home.bin return #s, s:byte(1, -1)').values).toEqual([3, 0, 200, 255]);
    expect(lua.home.get('bin')).toEqual(Uint8Array.of(0, 200, 255));
    lua.home.set('emoji', '😀');
    expect(lua.compute('return #_home.emoji').value).toBe(4);
  });

  it('tables: arrays for keys 1..n, objects for string keys, Maps otherwise', () => {
    expect(ret('{ 1, 2, 3 }')).toEqual([1, 2, 3]);
    expect(ret('{ a = 1, b = { c = "d" } }')).toEqual({ a: 1, b: { c: 'd' } });
    expect(ret('{}')).toEqual({});
    expect(ret('{ [1] = "a", [3] = "c" }')).toEqual(new Map([[1, 'a'], [3, 'c']]));
    expect(ret('{ 1, x = 2 }')).toEqual(new Map<unknown, unknown>([[1, 1], ['x', 2]]));
    expect(ret('{ [true] = 1, [1.5] = 2 }')).toEqual(new Map<unknown, unknown>([[true, 1], [1.5, 2]]));
    expect(() => lua.compute('local t = {} t.t = t return t')).toThrow(/cycle/);
  });

  it('external tables come back as table views; functions as LuaFunction', () => {
    const v = ret('_home');
    expect(v).toBeInstanceOf(TableView);
    expect((v as TableView).id).toBe(lua.home.id);
    lua.compute('_home.fn = function(a, b) return a * b end');
    const fn = lua.home.get('fn');
    expect(fn).toBeInstanceOf(LuaFunction);
    lua.home.set('fn2', fn);
    expect(lua.compute('return _home.fn2(6, 7)').value).toBe(42);
  });
});

describe('the host never hides its own failures', () => {
  it('a failing read is an error of kind host, not a silent nil', async () => {
    const lua = await Lua.create();
    lua.home.set('x', 1);
    const tables = lua.host.tables;
    const get = tables.get.bind(tables);
    tables.get = () => {
      throw new Error('storage unreadable');
    };
    try {
      lua.compute('return _home.x');
      throw new Error('no error');
    } catch (e) {
      expect((e as LuaError).kind).toBe('host');
      expect(((e as LuaError).cause as Error).message).toBe('storage unreadable');
    } finally {
      tables.get = get;
    }
    expect(lua.compute('return _home.x').value).toBe(1);
  });
});
