// Table ids are never reused: exhaustion (the counter at 0) is saved, restored and stays
// exhaustion, an error, never a wrap to ids in use.
import { Lua, LuaError, MemoryStore, TableIdsExhaustedError } from '../../js/src/node';

/** A VM whose _home.data has a small id, and whose ids are then all used. */
async function exhausted(): Promise<{ lua: Lua; dataId: number }> {
  const lua = await Lua.create();
  const dataId = lua.compute('_home.data = { "precious" } return ext.id(_home.data)').value as number;
  lua.exports.sync_external_table_counter(0xffffffff);
  lua.compute('last = ext.table()'); // the last id: the counter is now 0
  expect(lua.exports.get_external_table_counter()).toBe(0);
  return { lua, dataId };
}

it('a restored state whose ids are exhausted never hands out an id in use', async () => {
  const { lua, dataId } = await exhausted();
  for (const restore of [
    () => Lua.create({ state: lua.exportState() }),
    async () => {
      const store = new MemoryStore();
      await Lua.create({ state: lua.exportState(), store }).then((l) => l.save());
      return Lua.create({ store });
    },
  ]) {
    let back: Lua;
    try {
      back = await restore();
    } catch (e) {
      // A lua.wasm that cannot set its counter to 0 refuses the state instead.
      expect(e).toBeInstanceOf(TableIdsExhaustedError);
      continue;
    }
    expect(() => back.compute('return ext.id(ext.table())')).toThrow(/exhausted/);
    expect(() => back.newTable()).toThrow(TableIdsExhaustedError);
    expect(back.compute('return ext.id(_home.data), _home.data[1]').values).toEqual([dataId, 'precious']);
  }
});

// Needs a lua.wasm built with sync_external_table_counter(0) meaning "exhausted".
it('a VM restored from an exhausted state runs, and only making a new table fails', async () => {
  const { lua } = await exhausted();
  const back = await Lua.create({ state: lua.exportState() });
  expect(back.compute('_home.data[2] = "more" return #_home.data').value).toBe(2);
  expect(() => back.compute('_home.t = {}')).toThrow(LuaError);
  expect(() => back.newTable()).toThrow(TableIdsExhaustedError);
  expect(back.exportState().length).toBeGreaterThan(0);
});

it('newTable() hands out each id once, then throws when the ids are exhausted', async () => {
  const lua = await Lua.create();
  lua.exports.sync_external_table_counter(0xfffffffe);
  const ids: number[] = [];
  let error: unknown;
  for (let i = 0; i < 4 && error === undefined; i++) {
    try {
      ids.push(lua.newTable().id);
    } catch (e) {
      error = e;
    }
  }
  expect(error).toBeInstanceOf(TableIdsExhaustedError);
  expect(new Set(ids).size).toBe(ids.length);
  expect(ids[0]).toBe(0xfffffffe);
  // Lua never gets one of those ids either: it gets the last one, or the same error.
  let fromLua: number | undefined;
  try {
    fromLua = lua.compute('return ext.id(ext.table())').value as number;
  } catch (e) {
    expect(String(e)).toMatch(/exhausted/);
  }
  if (fromLua !== undefined) expect(ids).not.toContain(fromLua);
  expect(() => lua.compute('return ext.table()')).toThrow(/exhausted/);
});

it('a state whose next id is not past its tables (damaged or forged) still never reuses an id', async () => {
  const lua = await Lua.create();
  lua.compute('_home.a = { 1 } _home.b = { 2 } _home.c = { 3 }');
  const state = lua.exportState();
  const { decodeState, encodeState } = await import('../../js/src/node');
  const decoded = decodeState(state).state;
  decoded.nextId = 2;
  const back = await Lua.create({ state: encodeState(decoded) });
  const fresh = back.compute('return ext.id(ext.table())').value as number;
  expect([...decoded.tables.keys()]).not.toContain(fresh);
  expect(back.newTable().id).toBeGreaterThan(Math.max(...decoded.tables.keys()));
});
