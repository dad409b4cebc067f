// Host quotas (docs/ABI.md, "Limits"): what one VM's scripts can make the host hold is bounded,
// by default and by `Lua.create({ limits })`; crossing a quota is a catchable Lua error at the
// write, and an uncaught one rolls the compute back with a LuaError of kind 'quota'.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { DEFAULT_LIMITS, Lua, LuaError, MemoryStore, QuotaError } from '../../js/src/node';

const root = join(__dirname, '..', '..');

// Runs a script in a fresh Node process (so its peak RSS is its own) over the built package.
// The VM has `_home.kept` before the script, and computes again after it.
function inFreshProcess(lua: string, value: number): { kind: string; cause: string; ms: number; rssMB: number; size: number; kept: string; after: number } {
  const script = `
    const { Lua } = require(${JSON.stringify(join(root, 'dist', 'cjs', 'node.js'))});
    (async () => {
      const lua = await Lua.create({ instructionLimit: 1e9 });
      lua.compute('_home.kept = "before"');
      const t0 = performance.now();
      let kind = 'none', cause = '';
      try { lua.compute(${JSON.stringify(lua)}, ${value}); } catch (e) { kind = e.kind; cause = String(e.cause); }
      const ms = performance.now() - t0;
      const after = lua.compute('_home.n = (_home.n or 0) + 1 return _home.n').value;
      console.log(JSON.stringify({ kind, cause, ms, rssMB: require('node:process').resourceUsage().maxRSS / 1024,
        size: lua.home.size, kept: lua.home.get('kept'), after }));
    })();`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 }));
}

const FILL = 'local s = string.rep("x", ...) local i = 0 while true do i = i + 1 _home[i] = s end';

describe('host quotas', () => {
  it('30 KB values written for ever: a quota error, rolled back, the host process stays small', () => {
    const r = inFreshProcess(FILL, 30000);
    expect(r.kind).toBe('quota');
    expect(r.cause).toMatch(/QuotaError: host quota exceeded: .* more than limits.hostBytes = 67,108,864/);
    expect([r.kept, r.after, r.size]).toEqual(['before', 1, 2]); // rolled back; the VM goes on
    expect(r.rssMB).toBeLessThan(512); // was 7.7 GB before the quota
  }, 120_000);

  it('300 KB values written for ever: the same, where the kernel used to kill the process', () => {
    const r = inFreshProcess(FILL, 300000);
    expect(r.kind).toBe('quota');
    expect([r.kept, r.after, r.size]).toEqual(['before', 1, 2]);
    expect(r.rssMB).toBeLessThan(512);
  }, 120_000);

  it('pcall catches a quota error at the write; the compute goes on and commits what fitted', async () => {
    const lua = await Lua.create({ limits: { hostBytes: 100_000 } });
    const r = lua.compute(`
      local s = string.rep("y", 10000)
      local ok, err = pcall(function() for i = 1, 100 do _home[i] = s end end)
      _home.after = "kept"
      return ok, err`);
    expect(r.values[0]).toBe(false);
    expect(r.values[1]).toMatch(/^\[string .*\]:\d+: host quota exceeded: cannot store a value in external table 1: .*limits.hostBytes/);
    expect(lua.home.get('after')).toBe('kept');
    expect(lua.stats().hostBytes).toBeLessThanOrEqual(100_000);
    expect(lua.home.size).toBe(10); // nine values of 10 KB fitted beside "after"
  });

  it('an uncaught quota error fails the compute as kind quota, with the QuotaError as cause, and rolls it back', async () => {
    const lua = await Lua.create({ limits: { hostBytes: 50_000 } });
    lua.compute('_home.before = 1');
    let error: unknown;
    try {
      lua.compute('_home.before = 2 for i = 1, 100 do _home[i] = string.rep("z", 1000) end');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LuaError);
    expect((error as LuaError).kind).toBe('quota');
    expect((error as LuaError).cause).toBeInstanceOf(QuotaError);
    expect(((error as LuaError).cause as QuotaError).limit).toBe('hostBytes');
    expect(lua.home.get('before')).toBe(1);
    expect(lua.home.size).toBe(1);
    const used = lua.stats().hostBytes;
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThan(1000);
  });

  it('a quota error re-raised from pcall keeps its kind; another error raised after it does not', async () => {
    const lua = await Lua.create({ limits: { hostBytes: 10_000 } });
    const raise = () => { try { lua.compute('local ok, e = pcall(function() _home.x = string.rep("a", 20000) end) error(e, 0)'); } catch (e) { return e as LuaError; } };
    expect(raise()?.kind).toBe('quota');
    try {
      lua.compute('local ok, e = pcall(function() _home.x = string.rep("a", 20000) end) error("something else")');
    } catch (e) {
      expect((e as LuaError).kind).toBe('runtime');
    }
  });

  it('limits.tables bounds the number of external tables', async () => {
    const lua = await Lua.create({ limits: { tables: 5 } });
    let error: unknown;
    try {
      lua.compute('for i = 1, 10 do _home[i] = { i } end');
    } catch (e) {
      error = e;
    }
    expect((error as LuaError).kind).toBe('quota');
    expect(((error as LuaError).cause as QuotaError).limit).toBe('tables');
    expect(lua.stats().tables).toBe(0); // _home itself was created by the rolled-back compute
    lua.compute('for i = 1, 4 do _home[i] = { i } end');
    expect(lua.stats().tables).toBe(5);
  });

  it('limits.computeBytes bounds the undo log; rewriting one key a million times holds almost nothing', async () => {
    const lua = await Lua.create({ limits: { computeBytes: 120_000 } });
    lua.compute('for i = 1, 1000 do _home[i] = string.rep("v", 100) end');
    lua.compute('for n = 1, 1000000 do _home.k = n end');
    expect(lua.stats().computeBytes).toBeLessThan(1000);
    lua.compute('for n = 1, 200000 do _home[n % 500 + 2001] = n end'); // 500 new keys, rewritten 400 times each
    expect(lua.stats().computeBytes).toBeLessThan(100_000);
    let error: unknown;
    try {
      lua.compute('for i = 1, 1000 do _home[i] = i end'); // 1000 old strings of ~145 bytes each to keep
    } catch (e) {
      error = e;
    }
    expect((error as LuaError).kind).toBe('quota');
    expect(((error as LuaError).cause as QuotaError).limit).toBe('computeBytes');
    expect(lua.compute('return _home[1], _home[1000]').values).toEqual(['v'.repeat(100), 'v'.repeat(100)]); // rolled back
  });

  it('a rollback after a compacted undo log restores every key exactly', async () => {
    const lua = await Lua.create();
    lua.compute('for i = 1, 1000 do _home[i] = "old" .. i end');
    expect(() => lua.compute('for n = 1, 300000 do _home[n % 2000 + 1] = n end error("undo all")')).toThrow(/undo all/);
    const r = lua.compute('local n = 0 for k, v in pairs(_home) do n = n + 1 assert(v == "old" .. k) end return n');
    expect(r.value).toBe(1000);
  });

  it('stats() reports usage against each limit; limits are checked at create', async () => {
    const lua = await Lua.create({ limits: { hostBytes: 1 << 20 }, instructionLimit: 1000 });
    lua.compute('_home.a = "xyz"');
    const s = lua.stats();
    expect(s.limits).toEqual({ ...DEFAULT_LIMITS, hostBytes: 1 << 20, instructionLimit: 1000 });
    expect(s.tables).toBe(1);
    expect(s.hostBytes).toBe(200 + 2 + 8 + 40); // a table, key "a" (tag, byte), value (tag, u32 length, 3 bytes), overhead
    expect(s.steps).toBeGreaterThan(0);
    await expect(Lua.create({ limits: { hostbytes: 1 } as never })).rejects.toThrow(/unknown limit 'hostbytes'/);
    await expect(Lua.create({ limits: { tables: -1 } })).rejects.toThrow(/limits.tables must be an integer/);
  });

  it('a state larger than the quota still loads; only writes that grow it are refused', async () => {
    const store = new MemoryStore();
    const big = await Lua.create({ store });
    big.compute('for i = 1, 100 do _home[i] = string.rep("b", 1000) end');
    await big.save();
    const small = await Lua.create({ store: store, limits: { hostBytes: 10_000 } });
    expect(small.stats().hostBytes).toBeGreaterThan(100_000);
    small.compute('_home[1] = nil _home[2] = "short"'); // shrinking writes pass
    expect(() => small.compute('_home.new = string.rep("n", 10)')).toThrow(LuaError);
  });

  it('each quota at its edge: a write that reaches it passes, one byte or table more is refused', async () => {
    // hostBytes: _home (200) + one entry of key "k" (2 bytes) and a string value (5 + n bytes) + 40.
    const edge = 200 + 2 + 5 + 1000 + 40;
    const exact = await Lua.create({ limits: { hostBytes: edge } });
    exact.compute('_home.k = string.rep("e", 1000)');
    expect(exact.stats().hostBytes).toBe(edge);
    const over = await Lua.create({ limits: { hostBytes: edge - 1 } });
    expect(() => over.compute('_home.k = string.rep("e", 1000)')).toThrow(expect.objectContaining({ kind: 'quota' }));
    expect(over.stats().hostBytes).toBe(0);
    // tables: _home and two more reach 3; a fourth is refused.
    const tables = await Lua.create({ limits: { tables: 3 } });
    tables.compute('_home.a = { 1 } _home.b = { 2 }');
    expect(tables.stats().tables).toBe(3);
    expect(() => tables.compute('_home.c = { 3 }')).toThrow(expect.objectContaining({ kind: 'quota' }));
    expect(tables.stats().tables).toBe(3);
    // computeBytes: each first write of a key logs 24 bytes, plus the old value when it is a string.
    const log = await Lua.create();
    log.compute('for i = 1, 10 do _home[i] = i end');
    const perKey = 24; // a log entry of three slots; the old integer lives in its slot
    const fits = await Lua.create({ limits: { computeBytes: 10 * perKey }, store: await saved(log) });
    fits.compute('for i = 1, 10 do _home[i] = -i end');
    expect(fits.stats().computeBytes).toBe(10 * perKey);
    const short = await Lua.create({ limits: { computeBytes: 10 * perKey - 1 }, store: await saved(log) });
    expect(() => short.compute('for i = 1, 10 do _home[i] = -i end')).toThrow(expect.objectContaining({ kind: 'quota' }));
    expect(short.compute('return _home[10]').value).toBe(10);
  });

  it('a delete refused by computeBytes is a quota error too, at the delete, and leaves no host failure behind', async () => {
    const store = new MemoryStore();
    const seed = await Lua.create({ store });
    seed.compute('for i = 1, 2 do _home[i] = string.rep("p", 500) end');
    await seed.save();
    const lua = await Lua.create({ store, limits: { computeBytes: 1024 } });
    let error: unknown;
    try {
      lua.compute('_home[1] = nil _home[2] = nil');
    } catch (e) {
      error = e;
    }
    expect((error as LuaError).kind).toBe('quota');
    expect((error as LuaError).message).toMatch(/host quota exceeded: cannot delete a key of external table 1: .*limits.computeBytes/);
    expect(() => lua.compute('pcall(function() _home[1] = nil _home[2] = nil end) error("mine")')).toThrow(expect.objectContaining({ kind: 'runtime', message: expect.stringContaining('mine') }));
    expect(lua.home.size).toBe(2);
  });
});

// A store holding what `lua` holds now.
async function saved(lua: Lua): Promise<MemoryStore> {
  const store = new MemoryStore();
  const copy = await Lua.create({ store, state: lua.exportState() });
  await copy.save();
  copy.close();
  return store;
}
