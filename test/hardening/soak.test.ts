// Soak: many computes in a row mixing successes, runtime errors, memory exhaustion and
// instruction-limit stops (20,000 in `npm test`; a million with `npm run soak`). The heap returns
// to its baseline and the host holds nothing but the data.
import { Lua, LuaError } from '../../js/src/node';
import { Rng, SEED, SOAK_COMPUTES } from './util';

const MIX: [weight: number, kind: string, code: string][] = [
  [60, 'ok', 'return 1 + 1'],
  [15, 'ok', '_home.n = (_home.n or 0) + 1 _home.last = { n = _home.n, s = ("s"):rep(_home.n % 50) } return _home.n'],
  [8, 'ok', 'local s = 0 for k, v in pairs(_home) do s = s + 1 end return s'],
  [8, 'runtime', '_home.lost = true local t = nil return t.x'],
  [5, 'limit', '_home.lost = true while true do end'],
  [3, 'syntax', 'return return'],
  [1, 'memory', '_home.lost = true local t = {} while true do t[#t + 1] = ("0123456789abcdef"):rep(2000) .. #t end'],
];
const TOTAL = MIX.reduce((a, [w]) => a + w, 0);

describe('soak', () => {
  it(`${SOAK_COMPUTES.toLocaleString('en')} mixed computes: the heap returns to its baseline, the host holds only the data`, async () => {
    const lua = await Lua.create({ instructionLimit: 400_000, clock: 0, randomSeed: 1 }); // filling the heap is charged ~200,000 steps ("Steps")
    const rng = new Rng(SEED);
    // Warm up every path once (the chunk cache then holds them), then measure the baseline.
    for (const [, , code] of MIX) {
      try {
        lua.compute(code);
      } catch {
        /* expected for the failing ones */
      }
    }
    lua.compute('_home.n = 0 _home.lost = nil');
    lua.gc();
    const baseline = lua.stats().heapUsed;
    const counts: Record<string, number> = {};
    let n = 0;
    for (let i = 0; i < SOAK_COMPUTES; i++) {
      let pick = rng.int(TOTAL);
      const [, kind, code] = MIX.find(([w]) => (pick -= w) < 0)!;
      let got = 'ok';
      try {
        const r = lua.compute(code);
        if (code.startsWith('_home.n')) expect(r.value).toBe(++n);
      } catch (e) {
        if (!(e instanceof LuaError)) throw e;
        got = e.kind;
      }
      if (got !== kind) throw new Error(`compute ${i}: expected ${kind}, got ${got}`);
      counts[kind] = (counts[kind] ?? 0) + 1;
    }
    const dropped = lua.gc(); // the VM's collection, then the host's
    const heap = lua.stats().heapUsed;
    const host = lua.host as unknown as { cursors: Map<number, unknown>; undo: unknown; dirtyLog: unknown[] };
    // The heap is where it started (a collection leaves a few KB of noise: strings interned by the
    // last computes, the table sizes Lua keeps).
    expect(Math.abs(heap - baseline)).toBeLessThan(16 * 1024);
    expect(host.undo).toBeUndefined();
    expect(host.dirtyLog.length).toBe(0);
    expect(host.cursors.size).toBeLessThanOrEqual(1);
    // Only the data: no failed compute left a key or a table behind. Each successful `_home.last =
    // { ... }` made one new table; lua.gc() drops the ones it replaced (nothing can reach them).
    expect(lua.compute('return _home.lost, _home.n').values).toEqual([undefined, n]);
    expect(dropped).toBe(n); // the warm-up's table and every one replaced since
    expect(lua.host.tables.size).toBe(2); // _home and _home.last
    expect(lua.home.size).toBe(2);
    expect(lua.compute('return _home.last.n').value).toBe(n);
    console.log(`soak: ${SOAK_COMPUTES} computes ${JSON.stringify(counts)}; heap ${baseline} -> ${heap} bytes`);
  }, Math.max(120_000, SOAK_COMPUTES / 2));
});
