// Saving is incremental: the host remembers the keys that differ from the last save, and only
// those. A key written and then put back as it was saved (or deleted again when it had no value
// then) is no change, and remembering it would grow the host without bound.
import { Lua, MemoryStore } from '../../js/src/node';

describe('changes since the last save', () => {
  it('keys written and deleted again by 20 computes leave no entries (20,000 keys each)', async () => {
    const lua = await Lua.create();
    await lua.save();
    for (let r = 0; r < 20; r++) {
      lua.compute(`for i = 1, 20000 do _home["k${r}_" .. i] = i end for i = 1, 20000 do _home["k${r}_" .. i] = nil end`);
    }
    expect(lua.home.size).toBe(0);
    expect(lua.host.changedKeys).toBe(0);
    expect(lua.host.hasChanges).toBe(false);
  });

  it('a key put back to its saved value is no change; one that still differs is one entry', async () => {
    const store = new MemoryStore();
    const lua = await Lua.create({ store });
    lua.compute('_home.a = 1 _home.s = "text" _home.gone = true');
    await lua.save();
    lua.compute('_home.a = 2 _home.a = 1 _home.s = "other" _home.s = "text" _home.gone = nil _home.gone = true');
    expect(lua.host.changedKeys).toBe(0);
    lua.home.set('a', 3).set('a', 1).set('new', 1).delete('new');
    expect(lua.host.changedKeys).toBe(0);
    lua.compute('for i = 1, 10 do _home.a = i end _home.b = 1');
    expect(lua.host.changedKeys).toBe(2); // a (10, saved 1) and b
    await lua.save();
    const again = await Lua.create({ store });
    expect(again.compute('return _home.a, _home.b, _home.s, _home.gone').values).toEqual([10, 1, 'text', true]);
  });

  it('a rolled-back compute leaves the entries as they were before it', async () => {
    const store = new MemoryStore();
    const lua = await Lua.create({ store });
    lua.compute('_home.a = 1');
    await lua.save();
    lua.compute('_home.a = 2'); // differs: one entry
    expect(() => lua.compute('_home.a = 1 _home.c = 1 _home.c = nil _home.d = 1 error("no")')).toThrow('no');
    expect(lua.host.changedKeys).toBe(1);
    await lua.save();
    const again = await Lua.create({ store });
    expect(again.compute('return _home.a, _home.d').values).toEqual([2, undefined]);
  });
});
