// Work-bounded steps (docs/ABI.md, "Steps"): work inside one step is charged in proportion to
// its size, so an instruction limit bounds time. Every case of the adversarial corpus (the
// bench's, bench/work-steps-corpus.json) stops at the limit; charges grow with the work. Speed
// (nanoseconds per step against an arithmetic loop) is measured by `npm run bench`, not here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lua, LuaError, MemoryStore } from '../../js/src/node';

interface Case { name: string; code: string; setup?: string }
const corpus = JSON.parse(readFileSync(join(__dirname, '..', '..', 'bench', 'work-steps-corpus.json'), 'utf8')) as Case[];
const LIMIT = 1_000_000;

async function limited(c: Case): Promise<Lua> {
  const store = new MemoryStore();
  if (c.setup) {
    const s = await Lua.create({ store });
    s.compute(c.setup);
    await s.save();
    s.close();
  }
  return Lua.create({ instructionLimit: LIMIT, store });
}

// The steps one compute of `code` takes, without a limit.
async function stepsOf(code: string, ...args: unknown[]): Promise<number> {
  const lua = await Lua.create();
  lua.compute(code, ...args);
  return lua.stats().steps;
}

describe('work-bounded steps', () => {
  it.each(corpus.map((c) => [c.name, c] as const))('%s: stops at the limit', async (_name, c) => {
    const lua = await limited(c);
    let error: unknown;
    try {
      lua.compute(c.code);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LuaError);
    expect((error as LuaError).kind).toBe('limit');
    expect((error as LuaError).message).toMatch(/instruction limit exceeded \(1000000 instructions\)/);
    expect(lua.stats().steps).toBe(LIMIT + 1);
    expect(lua.compute('return 1 + 1').value).toBe(2); // the VM goes on
  }, 60_000);

  it('charges grow with the work: 10x the input, about 10x the steps (100x where the work is quadratic)', async () => {
    const ratio = async (code: string, small: number) => {
      const base = await stepsOf('return 0');
      return ((await stepsOf(code, small * 10)) - base) / ((await stepsOf(code, small)) - base);
    };
    for (const [code, n] of [
      ["local s = string.rep('', ...)", 1e6],
      ["local s = string.rep('ab', ...)", 1e4],
      ['table.move({}, 1, ..., 2)', 1e5],
      ['local n = ... local t = setmetatable({}, { __len = function() return n end }) table.insert(t, 1, 1)', 1e5],
      ["local h = ('a'):rep(...) h:find(('a'):rep(100) .. 'b', 1, true)", 1e4],
      ["local t = {} for i = 1, ... do t[i] = 'x' end local s = table.concat(t)", 1e3],
      ["_home.v = string.rep('v', ...)", 1e4],
      ["local t = {} for i = 1, ... do t[i] = i end _home.copy = t", 1e3],
    ] as const) {
      const r = await ratio(code, n);
      expect([code, r > 7 && r < 13]).toEqual([code, true]);
    }
    // %b from every start of a string that never balances: each attempt scans to the end.
    const r = await ratio("local s = ('a'):rep(...) s:find('%bab')", 1e3);
    expect(r).toBeGreaterThan(70);
    expect(r).toBeLessThan(130);
  });

  it('a result too large for memory is still a memory error, not a limit', async () => {
    const lua = await Lua.create({ instructionLimit: 1000 });
    expect(() => lua.compute('local s = ("x"):rep(1e8)')).toThrow(expect.objectContaining({ kind: 'memory' }));
  });

  it('charges under pcall raise the limit like any step: pcall cannot absorb them', async () => {
    const lua = await Lua.create({ instructionLimit: 100_000 });
    expect(() => lua.compute('for i = 1, 100 do pcall(table.move, {}, 1, 1e8, 2) end return "absorbed"'))
      .toThrow(expect.objectContaining({ kind: 'limit' }));
  });

  it('without a limit, nothing stops: stats().steps counts what a compute took', async () => {
    const lua = await Lua.create();
    lua.compute("local s = string.rep('x', 5e5)");
    expect(lua.stats().steps).toBeGreaterThan(5e5 / 16);
    lua.compute('return 1');
    expect(lua.stats().steps).toBeLessThan(100);
  });
});
