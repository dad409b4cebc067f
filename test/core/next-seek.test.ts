// next(t, k) on an external table from any key: the host starts a traversal just after k
// without walking the table (docs/ABI.md, "Keys paging protocol"), so it costs one page, not n.
import { Lua } from '../../js/src/node';

describe('next from an arbitrary key', () => {
  it('a thousand calls on 200,000 keys each cost about a page of steps, not a walk', async () => {
    const lua = await Lua.create();
    lua.compute('local t = ext.table() for i = 1, 200000 do t["k" .. i] = i end _home.t = t');
    lua.compute('local t = _home.t for i = 1, 1000 do assert(next(t, "k199999") == "k200000") end');
    const perCall = lua.stats().steps / 1000;
    expect(perCall).toBeLessThan(5000); // a walk to k199999 is charged 800,000 steps
    expect(lua.compute('local t = _home.t return next(t, "k200000")').values).toEqual([]);
  });

  it('gives what a walk gives: every key after k exactly once, array part and hash part, after deletions and insertions', async () => {
    const lua = await Lua.create();
    const r = lua.compute(`
      local t = ext.table()
      for i = 1, 50 do t[i] = i end
      for i = 1, 50 do t["s" .. i] = i end
      t.s10 = nil t[7] = nil t.s20 = nil t.s20 = 20 t.extra = true
      local plain = {}
      for k in pairs(t) do plain[#plain + 1] = k end
      -- from every key, next(t, k) must give the key after it in the same order
      for i = 1, #plain - 1 do
        local k, v = next(t, plain[i])
        if k ~= plain[i + 1] then return false, tostring(plain[i]), tostring(k), tostring(plain[i + 1]) end
        if v ~= t[k] then return false, "value" end
      end
      return next(t, plain[#plain]) == nil, #plain`);
    expect(r.values).toEqual([true, 99]); // 49 integers, 49 strings and "extra"
  });

  it('an absent key is an error, as with plain tables', async () => {
    const lua = await Lua.create();
    lua.compute('_home.a = 1 _home.b = 2');
    expect(() => lua.compute('return next(_home, "zzz")')).toThrow(/invalid key to 'next'/);
    expect(() => lua.compute('return next(_home, 12345)')).toThrow(/invalid key to 'next'/);
  });
});
