// Computes on one VM do not nest: a callback (the clock, say) that calls compute gets a LuaError
// of kind 'input', and the compute that called the callback runs its own code, unaffected.
import { Lua, LuaError } from '../../js/src/node';

describe('re-entrant compute', () => {
  it('from the clock callback is refused (kind input); the outer compute runs its own code', async () => {
    let inner: unknown;
    let lua: Lua | undefined;
    lua = await Lua.create({
      clock: () => {
        if (lua) {
          try {
            inner = lua.compute('_home.injected = true return "INJECTED"');
          } catch (e) {
            inner = e;
          }
        }
        return 1000;
      },
    });
    const r = lua.compute('_home.outer = os.time() return "outer"');
    expect(r.value).toBe('outer');
    expect(inner).toBeInstanceOf(LuaError);
    expect((inner as LuaError).kind).toBe('input');
    expect((inner as LuaError).message).toMatch(/compute called while this VM is running a compute/);
    expect(lua.home.get('outer')).toBe(1000);
    expect(lua.home.has('injected')).toBe(false);
    expect(lua.compute('return 2').value).toBe(2); // and the VM works on
  });

  it('a callback that throws fails the compute, which then works again', async () => {
    let fail = false;
    const lua = await Lua.create({
      clock: () => {
        if (fail) throw new Error('clock broke');
        return 5;
      },
    });
    fail = true;
    expect(lua.compute('return 1').value).toBe(1); // the clock is read only when Lua reads it
    let error: unknown;
    try {
      lua.compute('_home.x = 1 return os.time()');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LuaError);
    expect((error as LuaError).kind).toBe('host');
    expect((error as LuaError).message).toMatch(/the host failed to give the clock: clock broke$/);
    expect(((error as LuaError).cause as Error).message).toBe('clock broke');
    expect(lua.home.has('x')).toBe(false); // rolled back
    fail = false;
    expect(lua.compute('return os.time()').value).toBe(5);
  });
});
