// Lua.create checks the types of its options: a wrong one is a TypeError that names it.
import { Lua } from '../../js/src/node';

describe('Lua.create options', () => {
  it.each([
    ['state', 'x'],
    ['state', [1, 2, 3]],
    ['image', 'x'],
    ['image', new ArrayBuffer(8)],
    ['memoryAlias', 'no'],
    ['clock', 'now'],
    ['randomSeed', '42'],
    ['store', {}],
    ['autosave', 1],
    ['instructionLimit', '100'],
  ])("option '%s' of the wrong type (%p) is a TypeError naming it", async (name, value) => {
    const create = Lua.create({ [name]: value } as never);
    await expect(create).rejects.toThrow(TypeError);
    await expect(Lua.create({ [name]: value } as never)).rejects.toThrow(new RegExp(`option '${name}' must be`));
  });

  it('options of the right types are accepted', async () => {
    const lua = await Lua.create({ memoryAlias: false, clock: 5, randomSeed: 1n, autosave: false, instructionLimit: 1000 });
    expect(lua.compute('return os.time()').value).toBe(5);
  });
});
