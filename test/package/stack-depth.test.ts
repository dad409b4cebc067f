// Issue 17, item 22: a compute called with little JavaScript stack left used to kill the VM for
// good ("lua.wasm failed: Maximum call stack size exceeded"). Now the compute fails, the instance
// is replaced, and the VM goes on with `_home` as before the failed compute.
import { Lua, LuaError } from '../../js/src/node';

// Lua nesting that takes native stack: 180 pcalls deep (each a C boundary).
const DEEP = 'local function f(n) if n == 0 then return 0 end local ok, v = pcall(f, n - 1) return 1 + v end ' +
  '_home.runs = _home.runs + 1 return f(180)';

/** Runs `fn` with about `depth` JavaScript frames below it. */
function atDepth<T>(depth: number, fn: () => T): T {
  return depth === 0 ? fn() : atDepth(depth - 1, fn);
}

/** Calls the compute deeper and deeper until it fails; the failure and how many succeeded. */
function deepenUntilFailure(lua: Lua): { error: unknown; succeeded: number } {
  let succeeded = 0;
  for (let depth = 1000; depth < 100_000; depth += 7) {
    let error: unknown;
    let outer = false;
    try {
      atDepth(depth, () => {
        try {
          lua.compute(DEEP);
          succeeded++;
        } catch (e) {
          error = e;
        }
      });
    } catch {
      outer = true; // the test's own recursion ran out of stack first: deeper is pointless
    }
    if (error !== undefined) return { error, succeeded };
    if (outer) break;
  }
  throw new Error('the compute never ran out of stack');
}

describe('a compute with little JavaScript stack left', () => {
  it('fails with a host error naming the cause, and the VM goes on with _home as before it', async () => {
    const lua = await Lua.create();
    lua.compute('_home.runs = 0 _home.kept = "yes" g = 1');
    const { error, succeeded } = deepenUntilFailure(lua);
    expect(error).toBeInstanceOf(LuaError);
    expect((error as LuaError).kind).toBe('host');
    expect((error as LuaError).message).toMatch(/^the JavaScript stack was too deep to run this compute; the VM was restarted/);
    expect((error as LuaError).cause).toBeInstanceOf(RangeError);
    // The failed compute's write was rolled back; the ones before it stayed.
    expect(lua.compute('return _home.runs, _home.kept, g').values).toEqual([succeeded, 'yes', undefined]);
    // Fully working: computes, new tables, deep Lua nesting again at a normal depth.
    expect(lua.compute(DEEP).values).toEqual([180]);
    expect(lua.compute('_home.t = { 1, 2, 3 } return #_home.t, _home.runs').values).toEqual([3, succeeded + 1]);
    expect(lua.home.toJS()).toMatchObject({ kept: 'yes', runs: succeeded + 1, t: [1, 2, 3] });
  });

  it('a saved VM saves and reloads the same _home after the restart', async () => {
    const { MemoryStore } = await import('../../js/src/node');
    const store = new MemoryStore();
    const lua = await Lua.create({ store, instructionLimit: 1_000_000 });
    lua.compute('_home.runs = 0');
    const { succeeded } = deepenUntilFailure(lua);
    lua.compute('_home.after = true');
    await lua.save();
    // The instruction limit survives the restart.
    expect(() => lua.compute('while true do end')).toThrow(/instruction limit/);
    const again = await Lua.create({ store });
    expect(again.compute('return _home.runs, _home.after').values).toEqual([succeeded, true]);
  });
});
