// Fault injection: the n-th allocation of a workload fails, for every n across the whole run
// (the additive export set_alloc_fail_at); a host import that throws in the middle of a compute.
// Each gives an error result, the VM stays usable, _home is rolled back, and nothing leaks.
import { RawHost } from '../support/raw-host';
import { Lua, LuaError } from '../../js/src/node';

const WORKLOAD = `
  local parts = {}
  for i = 1, 30 do parts[#parts + 1] = ("%d:%s"):format(i, ("x"):rep(i)) end
  _home.joined = table.concat(parts, ",")
  _home.nested = { list = { 1, 2, 3 }, map = { a = { b = { c = "deep" } } } }
  _home.fn = function(a) return a * 2 end
  local co = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
  local sum = co() + co() + co()
  local n = 0
  for k, v in pairs(_home) do n = n + 1 end
  _home.count = (_home.count or 0) + 1
  return sum, n, #_home.joined, _home.fn(21)`;

function snapshot(lua: Lua): string {
  const tables = [...lua.host.tables].map(([id, t]) => [id, [...t].map(([k, v]) => [k, [...v].join(',')]).sort()]);
  return JSON.stringify(tables.sort());
}

describe('allocation failures at every point of a workload', () => {
  it('each is an error result (or the workload succeeds), _home is rolled back, the VM stays usable, no leak', async () => {
    const lua = await Lua.create({ randomSeed: 1, clock: 0 });
    lua.compute('_home.count = 0 _home.keep = "me"');
    lua.gc();
    const baseline = lua.stats().heapUsed;
    let failures = 0;
    let n = 1;
    for (; n < 20_000; n++) {
      const before = snapshot(lua);
      lua.exports.set_alloc_fail_at(n);
      let failed = false;
      try {
        lua.compute(WORKLOAD);
      } catch (e) {
        failed = true;
        expect(e).toBeInstanceOf(LuaError);
        expect(['memory', 'runtime']).toContain((e as LuaError).kind);
        expect((e as LuaError).message).toMatch(/not enough memory|error in error handling|C stack overflow/);
        expect(snapshot(lua)).toBe(before); // rolled back
      }
      lua.exports.set_alloc_fail_at(0);
      expect(lua.compute('return 1 + 1').value).toBe(2);
      if (!failed) break; // n passed the workload's last allocation: the whole run was swept
      failures++;
      lua.compute('_home.joined = nil _home.nested = nil _home.fn = nil _home.count = 0');
    }
    expect(failures).toBeGreaterThan(100);
    expect(n).toBeLessThan(20_000);
    expect(lua.compute('return _home.count, _home.keep, _home.fn(4)').values).toEqual([1, 'me', 8]);
    lua.compute('_home.joined = nil _home.nested = nil _home.fn = nil');
    lua.gc();
    // The chunk cache keeps the compiled workload and the checks: allow for them, nothing more.
    expect(lua.stats().heapUsed - baseline).toBeLessThan(64 * 1024);
    expect((lua.host as unknown as { cursors: Map<number, unknown> }).cursors.size).toBeLessThan(5);
    console.log(`allocation failures injected: ${failures} (the workload makes ${n - 1} allocations that can fail)`);
  }, 120_000);
});

describe('a host import that throws', () => {
  it('with the package: the compute fails with kind host, _home is rolled back, the VM goes on', async () => {
    const lua = await Lua.create();
    lua.compute('_home.a = 1 _home.t = { 1, 2 }');
    const before = snapshot(lua);
    for (const at of [1, 2, 3, 5, 8]) {
      const write = lua.host.write.bind(lua.host);
      let calls = 0;
      lua.host.write = (id, key, value) => {
        if (++calls === at) throw new Error(`failure number ${at}`);
        write(id, key, value);
      };
      try {
        lua.compute('_home.a = 2 _home.b = { x = { y = 1 } } _home.t[3] = 3 for i = 1, 5 do _home[i] = i end');
        throw new Error('no error');
      } catch (e) {
        expect((e as LuaError).kind).toBe('host');
        expect(((e as LuaError).cause as Error).message).toBe(`failure number ${at}`);
      } finally {
        lua.host.write = write;
      }
      expect(snapshot(lua)).toBe(before);
      expect(lua.compute('return _home.a, #_home.t').values).toEqual([1, 2]);
    }
  });

  it('on the bare module: the exception passes through, and later computes say so instead of running', () => {
    let boom = true;
    const h = RawHost.create({
      overrides: {
        js_ext_table_get: (...args) => {
          if (boom) throw new Error('the host broke');
          return h.js_ext_table_get(...args);
        },
      },
    });
    expect(() => h.compute('return _home.x')).toThrow('the host broke');
    boom = false;
    const r = h.fail('return 1');
    expect(r.kind).toBe(5);
    expect(r.message).toMatch(/compute called while another compute is running or after one was interrupted/);
  });
});
