// A VM with nothing in _home: its state (32 bytes: magic, five u32, the CRC) exports and imports,
// and its image resumes it (globals only). Both were refused as "truncated" before.
import { decodeState, encodeState, Lua } from '../../js/src/node';

describe('an empty state', () => {
  it('is 32 bytes, and decodes', () => {
    const bytes = encodeState({ homeId: 1, nextId: 2, tables: new Map() });
    expect(bytes.length).toBe(32);
    expect(decodeState(bytes).state).toEqual({ homeId: 1, nextId: 2, tables: new Map() });
    expect(() => decodeState(bytes.subarray(0, 31))).toThrow(/truncated/);
  });

  it('exports and imports, and a VM with only globals resumes from its image', async () => {
    const lua = await Lua.create();
    lua.compute('only = "globals"');
    const back = await Lua.create({ state: lua.exportState() });
    expect(back.home.size).toBe(0);
    const resumed = await Lua.create({ image: await lua.saveImage() });
    expect(resumed.compute('return only').value).toBe('globals');
  });
});
