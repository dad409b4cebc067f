// Output is never silently dropped: a stdout or stderr sink that throws fails the compute (kind
// 'host', the sink's exception as cause), and the compute is rolled back.
import { Lua, LuaError } from '../../js/src/node';

describe('a sink that fails', () => {
  it('fails the compute and rolls it back; the next compute runs', async () => {
    let fail = true;
    const got: string[] = [];
    const lua = await Lua.create({
      stdout: (b: Uint8Array) => {
        if (fail) throw new Error('disk full');
        got.push(Buffer.from(b).toString());
      },
    });
    let error: unknown;
    try {
      lua.compute('_home.x = 1 print("hello") return 5');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LuaError);
    expect((error as LuaError).kind).toBe('host');
    expect((error as LuaError).message).toBe('the host failed to take the output (stdout): disk full');
    expect(((error as LuaError).cause as Error).message).toBe('disk full');
    expect(lua.home.get('x')).toBeUndefined();
    fail = false;
    expect(lua.compute('_home.x = 2 print("again") return 6').value).toBe(6);
    expect(got.join('')).toBe('again\n');
    expect(lua.home.get('x')).toBe(2);
  });

  it('under computeAsync too, for stderr', async () => {
    const lua = await Lua.create({ stdout: () => undefined, stderr: () => { throw new Error('closed'); } });
    lua.global.set('later', async () => 1);
    await expect(lua.computeAsync('_home.y = later() io.stderr:write("oops")')).rejects.toThrow('the host failed to take the output (stderr): closed');
    expect(lua.home.get('y')).toBeUndefined();
  });
});
