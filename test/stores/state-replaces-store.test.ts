// `Lua.create({ state, store })` and `Lua.create({ image, store })`: the state replaces what the
// store held, at the next save, all at once; nothing of the store's earlier contents comes back
// and no table of it merges with one of the state.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeState, IndexedDBStore, Lua, MemoryStore, NodeFileStore, Store } from '../../js/src/node';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lua-home-replace-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

type Reopen = (s: Store) => Promise<Store>;
const stores: [string, () => Store, Reopen][] = [
  ['MemoryStore', () => new MemoryStore(), async (s) => s],
  ['NodeFileStore', () => new NodeFileStore(join(dir, 'state')), async (s) => (await s.close(), new NodeFileStore(join(dir, 'state')))],
  ['IndexedDBStore', () => new IndexedDBStore('replace', new IDBFactory()), async (s) => s],
];

describe.each(stores)('%s', (_name, make, reopen) => {
  async function fill(store: Store): Promise<void> {
    const old = await Lua.create({ store });
    // Table ids 1 (_home), 2, 3: the same ids the exported state below uses for other tables.
    old.compute('_home.old = true _home.a = { x = 1, only_in_store = "yes" } _home.b = { 1, 2, 3 }');
    await old.save();
  }

  it('a state given with a non-empty store replaces the store at the next save', async () => {
    let store = make();
    await fill(store);
    const source = await Lua.create();
    source.compute('_home.new = true _home.a = { y = 2 } _home.c = { z = 3 }');
    const state = source.exportState();
    const lua = await Lua.create({ state, store });
    expect(lua.home.toJS()).toEqual({ new: true, a: { y: 2 }, c: { z: 3 } });
    await lua.save();
    store = await reopen(store);
    const back = await Lua.create({ store });
    expect(back.home.toJS()).toEqual({ new: true, a: { y: 2 }, c: { z: 3 } });
    // Exactly the state: every table as in the VM, none merged with one of the store's.
    expect(decodeState(back.exportState()).state).toEqual(decodeState(lua.exportState()).state);
    const loaded = await store.load();
    expect([...loaded!.tables.keys()].sort()).toEqual([...lua.host.tables.keys()].sort());
    await store.close();
  });

  it('an image given with a non-empty store replaces the store at the next save', async () => {
    let store = make();
    await fill(store);
    const source = await Lua.create();
    source.compute('_home.imaged = { 10, 20 } counter = 5');
    const image = await source.saveImage();
    const lua = await Lua.create({ image, store });
    lua.compute('counter = counter + 1 _home.counter = counter');
    await lua.save();
    store = await reopen(store);
    const back = await Lua.create({ store });
    expect(back.home.toJS()).toEqual({ imaged: [10, 20], counter: 6 });
    await store.close();
  });
});

it('a replacing save that fails leaves the store untouched, and the saves after it still replace', async () => {
  const inner = new MemoryStore();
  const old = await Lua.create({ store: inner });
  old.compute('_home.stale = 1');
  await old.save();
  let failNext = true;
  const store: Store = {
    load: () => inner.load(),
    close: () => inner.close(),
    save: async (batch) => {
      if (failNext) {
        failNext = false;
        throw new Error('disk full');
      }
      return inner.save(batch);
    },
  };
  const source = await Lua.create();
  source.compute('_home.fresh = 1');
  const lua = await Lua.create({ state: source.exportState(), store });
  await expect(lua.save()).rejects.toThrow('disk full');
  expect((await Lua.create({ store: inner })).home.toJS()).toEqual({ stale: 1 }); // untouched
  lua.compute('_home.more = 2');
  await lua.save();
  expect((await Lua.create({ store: inner })).home.toJS()).toEqual({ fresh: 1, more: 2 });
  lua.compute('_home.more = 3');
  await lua.save(); // an ordinary, incremental save now
  expect((await Lua.create({ store: inner })).home.toJS()).toEqual({ fresh: 1, more: 3 });
});
