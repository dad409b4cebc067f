// Traversal cursors (docs/ABI.md, "Keys paging protocol") are bounded in number, and none keeps
// an old Map of a table alive: abandoned traversals cost the host a bounded amount of memory.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Lua } from '../../js/src/node';
import { MAX_CURSORS } from '../../js/src/host/tables';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('traversal cursors', () => {
  it('are bounded: thousands of abandoned traversals keep at most MAX_CURSORS open', async () => {
    // Each abandoned traversal fetched a page of keys, which the steps charge (docs/ABI.md, "Steps").
    const lua = await Lua.create({ instructionLimit: 100_000_000 });
    lua.compute('local t = ext.table() for i = 1, 5000 do t["k" .. i] = i end _home.t = t');
    lua.compute('local t = _home.t for i = 1, 3000 do for k in pairs(t) do break end t.x = i t.x = nil end');
    expect(MAX_CURSORS).toBeLessThanOrEqual(256);
    expect(lua.host.openCursors).toBeLessThanOrEqual(MAX_CURSORS);
    expect(lua.host.openCursors).toBeGreaterThan(0);
  });

  it('do not keep the Maps a table replaced alive: the heap stays bounded over 30 reorganisations of 100,000 keys', async () => {
    const lua = await Lua.create();
    lua.compute(`local t = ext.table() _home.t = t
      for i = 1, 100000 do t["k" .. i] = i end
      for i = 1, 100 do t[i] = i end`);
    // Each round: a traversal abandoned in the Map part, then the array part filled, mostly
    // emptied and a new key inserted: the table moves every key to a new Map.
    const round = (r: number) => lua.compute(`local t = _home.t
      for k in pairs(t) do if type(k) == "string" then break end end
      for i = 1, 100 do t[i] = i end
      for i = 1, 60 do t[i] = nil end
      t["new${r}"] = true`);
    round(0);
    await new Promise((r) => setTimeout(r, 0));
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let r = 1; r <= 30; r++) round(r);
    await new Promise((r) => setTimeout(r, 0));
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(grown).toBeLessThan(30e6); // an old Map of 100,000 keys is about 4 MB
    expect(lua.compute('local n = 0 for _ in pairs(_home.t) do n = n + 1 end return n').value).toBe(100000 + 40 + 31);
  });

  it('do not keep the old storage of a Map rehashed by writes alive: the heap stays bounded', async () => {
    const lua = await Lua.create();
    lua.compute(`local t = ext.table() _home.t = t
      for i = 1, 100000 do t["k" .. i] = i end
      for i = 1, 200 do for k in pairs(t) do break end end -- 200 traversals abandoned`);
    // Each compute writes and deletes 60,000 keys: the Map's storage is rebuilt along the way.
    const churn = (r: number) => lua.compute(`local t = _home.t
      for i = 1, 60000 do t["x${r}_" .. i] = i t["x${r}_" .. i] = nil end`);
    churn(0);
    await new Promise((r) => setTimeout(r, 0));
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let r = 1; r <= 20; r++) churn(r);
    await new Promise((r) => setTimeout(r, 0));
    gc();
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(30e6);
    expect(lua.host.tables.get(lua.compute('return ext.id(_home.t)').value as number)!.size).toBe(100000);
  });

  it('a traversal paused across computes and lua.gc() goes on: cleared keys skipped, the others once', async () => {
    const lua = await Lua.create();
    lua.compute(`local t = ext.table() _home.t = t
      for i = 1, 3000 do t["k" .. i] = i end
      seen = {}
      walk = coroutine.wrap(function() for k in pairs(t) do seen[k] = (seen[k] or 0) + 1 coroutine.yield(k) end return nil end)
      for i = 1, 1000 do walk() end`);
    lua.gc(); // cursors move onto their Map's current storage (a key read ahead)
    const r = lua.compute(`local t, kept = _home.t, nil
      for k in pairs(t) do if not seen[k] then if kept then t[k] = nil else kept = k end end end
      local after = {}
      while true do local k = walk() if k == nil then break end after[#after + 1] = k end
      local twice = 0 for _, n in pairs(seen) do if n > 1 then twice = twice + 1 end end
      return #after, after[1] == kept, twice`);
    expect(r.values).toEqual([1, true, 0]);
  });
});
