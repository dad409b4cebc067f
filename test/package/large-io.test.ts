// Arguments and async answers of any size (docs/ABI.md, "The host channel": what does not fit
// the 64 KiB buffer is kept by the host and taken whole by the module).
import { Lua, LuaError } from '../../js/src/node';

const big = 'x'.repeat(300_000);
const array = Array.from({ length: 20_000 }, (_, i) => i);
// (Each must fit the VM's 1.7 MB heap beside its encoded form while it crosses: a 30,000-element
// array does as a result, 20,000 as an argument.)

describe('arguments and answers larger than the I/O buffer', () => {
  it('compute(code, ...args) takes a 300 KB string, or a 20,000-element array', async () => {
    const lua = await Lua.create();
    expect(lua.compute('local s, last = ... return #s, select("#", ...), last', big, undefined).values).toEqual([300_000, 2, undefined]);
    expect(lua.compute('local t = ... return #t, t[20000]', array).values).toEqual([20_000, 19_999]);
  });

  it('large arguments beside large code (both served)', async () => {
    const lua = await Lua.create();
    const code = `local s = ... return #s ${'-- padding\n'.repeat(10_000)}`;
    expect(lua.compute(code, big).value).toBe(300_000);
  });

  it('a Lua function handle called with large arguments, at the top and from inside a host function', async () => {
    const lua = await Lua.create();
    const f = lua.compute('return function(s) return #s end').value as { call(...a: unknown[]): { value: unknown } };
    expect(f.call(big).value).toBe(300_000);
    expect(f.call(array).value).toBe(20_000);
    lua.global.set('each', (g: { call(...a: unknown[]): { value: unknown } }) => g.call(big).value);
    expect(lua.compute('return each(function(s) return #s * 2 end)').value).toBe(600_000);
  });

  it('an async host function may answer 300 KB under computeAsync', async () => {
    const lua = await Lua.create();
    lua.global.set('fetchBig', async () => big);
    lua.global.set('fetchArray', async () => array);
    expect((await lua.computeAsync('local s = fetchBig() return #s')).value).toBe(300_000);
    expect((await lua.computeAsync('local t = fetchArray() return #t, t[1], t[20000]')).values).toEqual([20_000, 0, 19_999]);
  });

  it('arguments the VM cannot hold are a memory error, and the VM goes on', async () => {
    const lua = await Lua.create();
    let error: unknown;
    try {
      lua.compute('return #...', 'y'.repeat(3_000_000));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LuaError);
    expect((error as LuaError).kind).toBe('memory');
    expect(lua.compute('return 1 + 1').value).toBe(2);
  });
});
