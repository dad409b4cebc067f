// LuaPool over real stores (FileVmStore on a directory): LRU eviction with the VM image, an
// evicted VM resuming exactly (globals, closures, coroutines and _home), work on one id in order,
// ids independent, stats, and failed saves that lose nothing.
import { existsSync, mkdirSync, mkdtempSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileVmStore, LuaPool, NodeFileStore, PoolClosedError, PoolTimeoutError, StoreWriteError } from '../../js/src/node';
import type { LuaPoolOptions } from '../../js/src/node';

// tmpfs where there is one: these tests are about the pool, not the disk's fsync.
const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
let dir: string;
const pools: LuaPool[] = [];

function pool(options: Partial<LuaPoolOptions> = {}, where = dir): LuaPool {
  const p = LuaPool.create({ store: (id) => new FileVmStore(join(where, id)), maxLive: 2, ...options });
  pools.push(p);
  return p;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeEach(() => {
  dir = mkdtempSync(join(base, 'lua-home-pool-'));
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close().catch(() => undefined)));
  rmSync(dir, { recursive: true, force: true });
});

// Globals of every kind an image must carry: a counter, a closure with an upvalue, a suspended coroutine.
const SETUP = `
  count = 0
  local hidden = 100
  function bump() hidden = hidden + 1 count = count + 1 return hidden end
  gen = coroutine.wrap(function() for i = 1, 1e9 do coroutine.yield(i * i) end end)
  _home.name = "vm-" .. ID
  _home.list = { 1, 2, 3 }
`;
const STEP = 'local h = bump() _home.n = (_home.n or 0) + 1 return count, h, gen(), _home.n, _home.name, #_home.list';

describe('eviction', () => {
  it('keeps at most maxLive live, evicts the least recently used, and an evicted VM resumes exactly', async () => {
    const p = pool({ maxLive: 2 });
    for (const id of ['a', 'b', 'c']) await p.compute(id, `ID = "${id}"` + SETUP);
    expect(p.stats()).toMatchObject({ live: 2, loads: 3, evicted: 1 });
    expect([p.isLive('a'), p.isLive('b'), p.isLive('c')]).toEqual([false, true, true]);
    expect(existsSync(join(dir, 'a', 'image'))).toBe(true);

    // a comes back from its image: its closure's upvalue, its coroutine and _home go on.
    expect((await p.compute('a', STEP)).values).toEqual([1, 101, 1, 1, 'vm-a', 3]);
    expect((await p.compute('a', STEP)).values).toEqual([2, 102, 4, 2, 'vm-a', 3]);
    expect(p.stats()).toMatchObject({ live: 2, loads: 4, evicted: 2 });
    expect(p.isLive('b')).toBe(false); // b was the least recently used then

    // Round after round through 5 ids on 2 live VMs: every one keeps its own state.
    for (const id of ['b', 'c', 'd', 'e']) if (id > 'c') await p.compute(id, `ID = "${id}"` + SETUP);
    for (let round = 1; round <= 3; round++) {
      for (const id of ['b', 'c', 'd', 'e']) {
        expect((await p.compute(id, STEP)).values).toEqual([round, 100 + round, round * round, round, `vm-${id}`, 3]);
        expect(p.stats().live).toBeLessThanOrEqual(2);
      }
    }
  });

  it('uses the least recently used order: a VM used again is kept', async () => {
    const p = pool({ maxLive: 2 });
    await p.compute('a', 'x = 1');
    await p.compute('b', 'x = 2');
    await p.compute('a', 'return x');
    await p.compute('c', 'x = 3');
    expect([p.isLive('a'), p.isLive('b'), p.isLive('c')]).toEqual([true, false, true]);
  });

  it('close() saves every live VM with its image, and a new pool resumes them', async () => {
    const p = pool({ maxLive: 3 });
    for (const id of ['a', 'b']) await p.compute(id, `ID = "${id}"` + SETUP);
    await p.compute('a', STEP);
    await p.close();
    await expect(p.compute('a', 'return 1')).rejects.toThrow(PoolClosedError);
    const again = pool({ maxLive: 1 });
    expect((await again.compute('a', STEP)).values).toEqual([2, 102, 4, 2, 'vm-a', 3]);
    expect((await again.compute('b', STEP)).values).toEqual([1, 101, 1, 1, 'vm-b', 3]);
  });

  it('serves many ids on few live VMs with bounded memory', async () => {
    const p = pool({ maxLive: 4 });
    const ids = Array.from({ length: 60 }, (_, i) => `id${i}`);
    const rss = process.memoryUsage().rss;
    for (const id of ids) {
      await p.compute(id, `g = "${id}" _home.n = 1`);
      expect(p.stats().live).toBeLessThanOrEqual(4);
    }
    // 60 VMs of 2 MiB of wasm memory each, and their tables, would be 120 MiB more: only 4 stay live.
    const grown = process.memoryUsage().rss - rss;
    expect(grown).toBeLessThan(100 * 2 ** 20);
    for (const id of ids.filter((_, i) => i % 4 === 0)) expect((await p.compute(id, '_home.n = _home.n + 1 return g, _home.n')).values).toEqual([id, 2]);
    expect(p.stats()).toMatchObject({ live: 4, loads: 75, evicted: 71 });
  });

  it('resumes a VM whose _home is empty (only globals) from its image', async () => {
    const p = pool({ maxLive: 1 });
    await p.compute('a', 'only = "globals"');
    await p.compute('b', 'return 1');
    expect(p.isLive('a')).toBe(false);
    expect((await p.compute('a', 'return only')).value).toBe('globals');
  });
});

describe('order', () => {
  it('runs the work on one id one at a time, in the order it was asked for, with one load', async () => {
    const p = pool({ maxLive: 1 });
    const results = await Promise.all(Array.from({ length: 40 }, () => p.compute('a', '_home.n = (_home.n or 0) + 1 return _home.n')));
    expect(results.map((r) => r.value)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(p.stats().loads).toBe(1);
  });

  it('never interleaves two tasks on one VM, even across awaits', async () => {
    const p = pool();
    const seen: unknown[] = [];
    const first = p.use('a', async (lua) => {
      lua.compute('x = "first"');
      await sleep(100);
      seen.push(lua.compute('return x').value);
    });
    const second = p.use('a', (lua) => {
      lua.compute('x = "second"');
      seen.push('second ran');
    });
    await Promise.all([first, second]);
    expect(seen).toEqual(['first', 'second ran']);
  });

  it('runs different ids independently: a slow task on one id does not hold up another', async () => {
    const p = pool({ maxLive: 4 });
    const order: string[] = [];
    const slow = p.use('slow', async () => {
      await sleep(300);
      order.push('slow');
    });
    await p.compute('fast', 'return 1').then(() => order.push('fast'));
    await slow;
    expect(order).toEqual(['fast', 'slow']);
  });

  it('alternating ids on one live VM: each keeps its own state', async () => {
    const p = pool({ maxLive: 1 });
    const calls = Array.from({ length: 24 }, (_, i) => p.compute(i % 2 ? 'odd' : 'even', 'n = (n or 0) + 1 return n'));
    const values = (await Promise.all(calls)).map((r) => r.value);
    expect(values).toEqual(Array.from({ length: 24 }, (_, i) => Math.floor(i / 2) + 1));
  });

  it('a task that cannot start before its deadline fails with PoolTimeoutError and never runs', async () => {
    const p = pool();
    const slow = p.use('a', () => sleep(200));
    const late = p.use('a', (lua) => lua.compute('_home.late = true'), { deadline: Date.now() + 50 });
    await expect(late).rejects.toThrow(PoolTimeoutError);
    await slow;
    expect((await p.compute('a', 'return _home.late')).value).toBeUndefined();
  });
});

describe('errors', () => {
  it('a failed compute rejects that compute only; the VM and the other computes go on', async () => {
    const p = pool();
    await p.compute('a', '_home.n = 1 g = 1');
    const results = await Promise.allSettled([
      p.compute('a', '_home.n = 2 error("boom")'),
      p.compute('a', 'return _home.n, g'),
      p.compute('a', 'x = = 1'),
    ]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { kind: 'runtime', message: expect.stringContaining('boom') } });
    expect(results[1]).toMatchObject({ status: 'fulfilled', value: { values: [1, 1] } });
    expect(results[2]).toMatchObject({ status: 'rejected', reason: { kind: 'syntax' } });
  });

  it('a failed save on eviction keeps the VM live and loses nothing; a later eviction saves it', async () => {
    const failures: string[] = [];
    const p = pool({ maxLive: 1, onEvictError: (id, e) => failures.push(`${id}: ${(e as Error).name}`) });
    await p.compute('a', `ID = "a"` + SETUP);
    await p.compute('a', STEP);
    mkdirSync(join(dir, 'a', 'image.tmp')); // the image cannot be written: a directory is in the way
    await p.compute('b', 'return 1'); // needs room: a's eviction fails, so a stays live
    expect(failures).toEqual(['a: StoreWriteError']);
    expect(p.isLive('a')).toBe(true);
    expect(p.stats()).toMatchObject({ evictErrors: 1, saveErrors: 1, live: 2 });
    expect((await p.compute('a', STEP)).values).toEqual([2, 102, 4, 2, 'vm-a', 3]); // nothing lost
    rmdirSync(join(dir, 'a', 'image.tmp'));
    expect(await p.evict('a')).toBe(true);
    expect(p.isLive('a')).toBe(false);
    expect((await p.compute('a', STEP)).values).toEqual([3, 103, 9, 3, 'vm-a', 3]);
  });

  it('a compute whose save fails is rejected, and its VM goes back to what the store holds', async () => {
    const p = pool();
    await p.compute('a', 'g = 1 return 1'); // loaded; nothing saved yet (no journal)
    mkdirSync(join(dir, 'a', 'journal-0')); // the store cannot create its journal: a directory is in the way
    await expect(p.compute('a', 'g = 2 _home.n = 2')).rejects.toThrow(StoreWriteError);
    expect(p.isLive('a')).toBe(false); // dropped unsaved: nothing of the refused compute stays
    expect(p.stats().saveErrors).toBe(1);
    rmdirSync(join(dir, 'a', 'journal-0'));
    expect((await p.compute('a', 'return _home.n, g')).values).toEqual([undefined, undefined]);
    await p.compute('a', '_home.n = 3');
    expect((await p.compute('a', 'return _home.n')).value).toBe(3);
  });

  it('refuses bad options and stores that keep no images, with clear errors', async () => {
    expect(() => LuaPool.create({ store: (id) => new FileVmStore(id), maxLive: 0 })).toThrow(/'maxLive' must be an integer ≥ 1, got 0/);
    expect(() => LuaPool.create({ store: 'dir' as never, maxLive: 1 })).toThrow(/'store' must be a function/);
    expect(() => LuaPool.create({ store: (id) => new FileVmStore(id), maxLive: 1, saveAfter: 'never' as never })).toThrow(/'saveAfter'/);
    const p = LuaPool.create({ store: (id) => new NodeFileStore(join(dir, id)) as never, maxLive: 1 });
    pools.push(p);
    await expect(p.compute('a', 'return 1')).rejects.toThrow(/keeps no images .*PostgresStore or FileVmStore/);
    await expect(pool().compute('', 'return 1')).rejects.toThrow(/non-empty string/);
  });

  it('applies the VM options (an instruction limit) to every VM, after a reload too', async () => {
    const p = pool({ maxLive: 1, instructionLimit: 100_000 });
    await expect(p.compute('a', 'while true do end')).rejects.toMatchObject({ kind: 'limit' });
    await p.compute('b', 'return 1'); // a is evicted
    await expect(p.compute('a', 'while true do end')).rejects.toMatchObject({ kind: 'limit' });
  });
});

describe('arguments and host functions', () => {
  it('passes arguments to the chunk, and host functions (sync and async) work on every VM, after eviction too', async () => {
    const calls: string[] = [];
    const p = pool({
      maxLive: 1,
      functions: {
        tag: (id: string) => { calls.push(id); return `<${id}>`; },
        later: (v: number) => new Promise((r) => setTimeout(() => r(v * 2), 1)),
      },
    });
    expect((await p.compute('a', 'local x, y = ... _home.x = x return tag(y), select("#", ...)', 5, 'a', undefined)).values).toEqual(['<a>', 3]);
    await p.compute('a', 'keep = tag'); // a global holding a host function: in a's image
    expect((await p.computeAsync('b', 'return later(...)', 21)).values).toEqual([42]); // a is evicted
    expect((await p.compute('a', 'return keep("again"), _home.x')).values).toEqual(['<again>', 5]); // reloaded from its image
    expect(calls).toEqual(['a', 'again']);
    expect(p.stats().evicted).toBeGreaterThanOrEqual(2);
  });
});

describe('stats', () => {
  it('counts loads, saves and evictions, with total and mean times', async () => {
    const p = pool({ maxLive: 1 });
    expect(p.stats()).toEqual({
      live: 0, maxLive: 1, evicted: 0, evictErrors: 0, loads: 0, saves: 0, saveErrors: 0,
      loadMsTotal: 0, loadMsMean: 0, saveMsTotal: 0, saveMsMean: 0,
    });
    await p.compute('a', '_home.x = 1'); // load, save
    await p.compute('a', 'return _home.x'); // nothing changed: no save
    await p.compute('b', 'y = 1'); // load; a evicted (a save with its image); b changed no _home: no save
    const s = p.stats();
    expect(s).toMatchObject({ live: 1, loads: 2, saves: 2, evicted: 1 });
    expect(s.loadMsTotal).toBeGreaterThan(0);
    expect(s.saveMsTotal).toBeGreaterThan(0);
    expect(s.loadMsMean).toBeCloseTo(s.loadMsTotal / 2);
    expect(s.saveMsMean).toBeCloseTo(s.saveMsTotal / 2);
  });

  it('with saveAfter: "evict", saves only at eviction', async () => {
    const p = pool({ maxLive: 1, saveAfter: 'evict' });
    await p.compute('a', '_home.x = 1');
    await p.compute('a', '_home.x = 2');
    expect(p.stats().saves).toBe(0);
    await p.compute('b', 'return 1');
    expect(p.stats()).toMatchObject({ saves: 1, evicted: 1 });
    expect((await p.compute('a', 'return _home.x')).value).toBe(2);
  });
});

describe('on PostgreSQL', () => {
  // Imported here so that the suites above do not need pg.
  const { PostgresStore, LeaseLostError } = require('../../js/src/postgres') as typeof import('../../js/src/postgres');
  const { startPostgres } = require('../support/postgres') as typeof import('../support/postgres');
  let server: Awaited<ReturnType<typeof startPostgres>>;
  let db: import('pg').Pool;

  beforeAll(async () => {
    server = await startPostgres();
    db = server.pool(await server.createDatabase());
  }, 60_000);
  afterAll(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close().catch(() => undefined)));
    await server?.stop();
  });

  it('evicts to PostgreSQL with the image in the same transaction, and resumes exactly', async () => {
    const p = LuaPool.create({ store: (id) => new PostgresStore({ pool: db, vm: `pg-${id}` }), maxLive: 1 });
    pools.push(p);
    await p.compute('a', `ID = "a"` + SETUP);
    await p.compute('b', `ID = "b"` + SETUP); // a is evicted
    expect((await db.query(`SELECT image IS NOT NULL AS has, owner FROM lua_home_vms WHERE vm = 'pg-a'`)).rows).toEqual([{ has: true, owner: null }]);
    expect((await p.compute('a', STEP)).values).toEqual([1, 101, 1, 1, 'vm-a', 3]);
    // A save without an image (after the compute) discarded it: an image never lags the tables.
    expect((await db.query(`SELECT image IS NULL AS gone FROM lua_home_vms WHERE vm = 'pg-a'`)).rows).toEqual([{ gone: true }]);
  });

  it('a failed save on eviction (refused by the database) keeps the VM live; once the database accepts, it is evicted and resumes', async () => {
    const failures: unknown[] = [];
    const p = LuaPool.create({ store: (id) => new PostgresStore({ pool: db, vm: `fail-${id}` }), maxLive: 1, onEvictError: (_id, e) => failures.push(e) });
    pools.push(p);
    await p.compute('a', `ID = "a"` + SETUP);
    await p.compute('a', STEP);
    await db.query(`CREATE FUNCTION refuse_images() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.image IS NOT NULL THEN RAISE EXCEPTION 'images refused (test)'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER refuse_images BEFORE UPDATE ON lua_home_vms FOR EACH ROW EXECUTE FUNCTION refuse_images()`);
    try {
      await p.compute('b', 'return 1');
      expect(failures.map((e) => (e as Error).message)).toEqual([expect.stringContaining('images refused (test)')]);
      expect(p.isLive('a')).toBe(true);
      expect((await p.compute('a', STEP)).values).toEqual([2, 102, 4, 2, 'vm-a', 3]);
    } finally {
      await db.query('DROP TRIGGER refuse_images ON lua_home_vms; DROP FUNCTION refuse_images()');
    }
    await p.evict('a'); // (the pool may have evicted it already, trimming back to maxLive)
    expect(p.isLive('a')).toBe(false);
    expect((await p.compute('a', STEP)).values).toEqual([3, 103, 9, 3, 'vm-a', 3]);
    expect(p.stats().evictErrors).toBeGreaterThanOrEqual(1);
  });

  it('a compute whose VM lost its lease is rejected with LeaseLostError and never merged; the VM is dropped', async () => {
    const p = LuaPool.create({
      store: (id) => new PostgresStore({ pool: db, vm: `lost-${id}`, leaseMs: 300, noRenew: true } as ConstructorParameters<typeof PostgresStore>[0]),
      maxLive: 4,
    });
    pools.push(p);
    await p.compute('a', '_home.n = 1');
    await sleep(450); // the lease expires (this process stopped renewing it) and another process takes the VM
    const other = new PostgresStore({ pool: db, vm: 'lost-a', owner: 'the other process' });
    const lua = await (await import('../../js/src/node')).Lua.create({ store: other });
    lua.compute('_home.n = 100');
    await lua.save();
    await other.close();
    await expect(p.compute('a', '_home.n = _home.n + 1')).rejects.toThrow(LeaseLostError);
    expect(p.isLive('a')).toBe(false);
    expect((await p.compute('a', 'return _home.n')).value).toBe(100);
  });
});
