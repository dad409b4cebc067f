// A table holds at most MAX_TABLE_ENTRIES (2^24 - 1, under the 2^24 a JavaScript Map holds):
// the write that would cross it is refused, as a clear error, and no store writes what it could
// not read back. The limit is lowered for these tests through an internal knob.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_LIMITS, Lua, LuaError, MAX_FILE_BYTES, MAX_TABLE_ENTRIES, MAX_TABLES, NodeFileStore, StateTooLargeError, TableFullError,
} from '../../js/src/node';
import type { FileStoreInternals } from '../../js/src/stores/file';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lua-home-limits-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const files = (d: string) => Object.fromEntries(readdirSync(d).filter((f) => f !== 'lock').map((f) => [f, readFileSync(join(d, f))]));

it('the real limits are below what a JavaScript Map or Set holds (2^24)', async () => {
  expect(MAX_TABLE_ENTRIES).toBeLessThan(2 ** 24);
  expect(MAX_TABLES).toBeLessThan(2 ** 24);
  expect(MAX_FILE_BYTES).toBeLessThanOrEqual(2 ** 31 - 1); // what readFileSync reads back
  const lua = await Lua.create();
  expect(lua.host.limits).toEqual({ entries: MAX_TABLE_ENTRIES, ...DEFAULT_LIMITS });
  expect(DEFAULT_LIMITS.tables).toBeLessThanOrEqual(MAX_TABLES);
});

it('a Lua write past the entry limit fails at the write with TableFullError; the table saves and loads', async () => {
  const store = new NodeFileStore(join(dir, 'state'));
  const lua = await Lua.create({ store });
  lua.host.limits.entries = 100;
  lua.compute('for i = 1, 100 do _home[i] = i end');
  let error: unknown;
  try {
    lua.compute('_home[101] = 101');
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(LuaError);
  expect((error as LuaError).message).toMatch(/the host failed to store a value in external table 1/);
  expect((error as LuaError).cause).toBeInstanceOf(TableFullError);
  expect(String((error as LuaError).cause)).toMatch(/external table 1 is full: it holds 100 entries/);
  lua.compute('_home[100] = "overwritten" _home[1] = nil _home.k = "fits again"'); // not new keys, or room made
  expect(() => lua.home.set('another', 1)).toThrow(TableFullError);
  expect(() => lua.compute('local t = {} for i = 1, 101 do t[i] = i end _home.copy = nil _home[2] = nil _home.copy = t')).toThrow(LuaError);
  expect(lua.home.size).toBe(100);
  await lua.save();
  await store.close();
  const back = await Lua.create({ store: new NodeFileStore(join(dir, 'state')) });
  expect(back.compute('return _home[100], _home.k, _home[1]').values).toEqual(['overwritten', 'fits again', undefined]);
  await back.store.close();
});

it('a host past the table limit refuses to create another table', async () => {
  const lua = await Lua.create();
  lua.host.limits.tables = 3;
  lua.compute('_home.a = { 1 } _home.b = { 2 }');
  expect(() => lua.compute('_home.c = { 3 }')).toThrow(LuaError);
  expect(lua.host.tables.size).toBe(3);
});

it('a store refuses a batch that would overfill a table before writing anything', async () => {
  const state = join(dir, 'state');
  const store = new NodeFileStore(state, { maxTableEntries: 10 } as FileStoreInternals);
  const lua = await Lua.create({ store });
  lua.compute('for i = 1, 10 do _home[i] = i end');
  await lua.save();
  const before = files(state);
  lua.compute('_home[11] = 11');
  await expect(lua.save()).rejects.toThrow(TableFullError);
  expect(files(state)).toEqual(before);
  await store.close();
  expect((await Lua.create({ store: new NodeFileStore(state) })).home.size).toBe(10);
});

it('a file store refuses a record or snapshot it could not read back; the directory stays loadable', async () => {
  const state = join(dir, 'state');
  const store = new NodeFileStore(state, { maxFileBytes: 8192, compactAfter: 1 << 20 } as FileStoreInternals);
  const lua = await Lua.create({ store });
  lua.compute('_home.a = ("a"):rep(3000)');
  await lua.save();
  lua.compute('_home.b = ("b"):rep(3000)');
  await lua.save();
  lua.compute('_home.c = ("c"):rep(3000)'); // the journal would pass 8 KiB: compacted first
  await lua.save();
  expect(readdirSync(state).sort()).toEqual(['journal-1', 'lock', 'snapshot']);
  const before = files(state);
  lua.compute('_home.huge = ("h"):rep(9000)');
  await expect(lua.save()).rejects.toThrow(StateTooLargeError);
  expect(files(state)).toEqual(before);
  await store.close();
  const back = await Lua.create({ store: new NodeFileStore(state) });
  expect(back.compute('return #_home.a, #_home.b, #_home.c, _home.huge').values).toEqual([3000, 3000, 3000, undefined]);
  await back.store.close();
});
