// timeoutMs on a VM in this thread: best effort, enforced where a compute reaches the host.
import { Lua, LuaError } from '../../js/src/index';

async function kindOf(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    if (e instanceof LuaError) return e.kind;
    throw e;
  }
  return 'none';
}

describe('timeoutMs on an in-thread Lua', () => {
  it('stops a loop that writes to _home at a table operation, rolls it back, and the next compute runs', async () => {
    const lua = await Lua.create({ timeoutMs: 100 });
    lua.compute('_home.n = 1');
    const t = performance.now();
    let error: unknown;
    try {
      lua.compute('local i = 0 while true do i = i + 1 _home.n = i _home.s = string.rep("x", 100) end');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LuaError);
    expect((error as LuaError).kind).toBe('timeout');
    expect((error as LuaError).message).toMatch(/timed out.*timeoutMs \(100 ms\).*external-table operation/);
    expect(performance.now() - t).toBeLessThan(5000);
    expect(lua.home.get('n')).toBe(1);
    expect(lua.home.has('s')).toBe(false);
    expect(lua.compute('_home.n = _home.n + 1 return _home.n').value).toBe(2);
  });

  it('fails a compute that swallows the refused table operations with pcall', async () => {
    const lua = await Lua.create({ timeoutMs: 50 });
    const code = 'local t = os.clock() local n = 0 ' +
      'for i = 1, 3e7 do if not pcall(function() _home.x = i end) then n = n + 1 end if n > 1000 then break end end return n';
    expect(await kindOf(() => lua.compute(code))).toBe('timeout');
    expect(lua.home.has('x')).toBe(false);
    expect(lua.compute('return 1').value).toBe(1);
  });

  it('fails a compute that ends after its deadline without reaching the host', async () => {
    const lua = await Lua.create({ timeoutMs: 20 });
    const e = await kindOf(() => lua.compute('local x = 0 for i = 1, 3e7 do x = x + i end return x'));
    expect(e).toBe('timeout');
    expect(lua.compute('return 2').value).toBe(2);
  });

  it('keeps the kinds of other errors, and fast computes succeed', async () => {
    const lua = await Lua.create({ timeoutMs: 5000 });
    expect(await kindOf(() => lua.compute('error("x")'))).toBe('runtime');
    expect(await kindOf(() => lua.compute('return +'))).toBe('syntax');
    for (let i = 0; i < 100; i++) lua.compute('_home.k = (_home.k or 0) + 1');
    expect(lua.home.get('k')).toBe(100);
  });

  it('refuses a timeoutMs of the wrong type or range', async () => {
    await expect(Lua.create({ timeoutMs: '5' as unknown as number })).rejects.toThrow(TypeError);
    await expect(Lua.create({ timeoutMs: '5' as unknown as number })).rejects.toThrow(/'timeoutMs'/);
    await expect(Lua.create({ timeoutMs: -1 })).rejects.toThrow(RangeError);
    await expect(Lua.create({ timeoutMs: NaN })).rejects.toThrow(RangeError);
    expect((await Lua.create({ timeoutMs: 0 })).compute('return 1').value).toBe(1);
  });
});
