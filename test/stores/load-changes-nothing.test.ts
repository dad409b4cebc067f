// Loading never changes what a store holds: a table that one VM keeps in a global, unreachable
// from _home, survives another VM loading the same store, and comes back when stored again.
import { IDBFactory } from 'fake-indexeddb';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IndexedDBStore, Lua, MemoryStore, NodeFileStore, Store } from '../../js/src/node';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lua-home-load-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const stores: [string, () => Store][] = [
  ['MemoryStore', () => new MemoryStore()],
  ['NodeFileStore', () => new NodeFileStore(join(dir, 'state'), { compactAfter: 1024 })],
  ['IndexedDBStore', () => new IndexedDBStore('load', new IDBFactory())],
];

describe.each(stores)('%s', (_name, make) => {
  it('a table parked in a global of VM a survives VM b loading the store', async () => {
    const store = make();
    const a = await Lua.create({ store });
    a.compute('_home.doc = { title = "kept", body = { 1, 2, 3 } }');
    await a.save();
    a.compute('keep = _home.doc _home.doc = nil');
    await a.save();
    const b = await Lua.create({ store }); // loads while doc is unreachable from _home
    expect(b.home.toJS()).toEqual({});
    b.close();
    a.compute('_home.filler = ("f"):rep(4000)'); // a file store compacts here
    await a.save();
    a.compute('_home.doc = keep'); // only the reference is saved
    await a.save();
    const c = await Lua.create({ store });
    expect(c.compute('return _home.doc.title, #_home.doc.body').values).toEqual(['kept', 3]);
    await store.close();
  });

  it('load returns a copy: changing it changes nothing in the store', async () => {
    const store = make();
    const a = await Lua.create({ store });
    a.compute('_home.x = 1 _home.t = { 1 }');
    await a.save();
    const first = await store.load();
    first!.tables.clear();
    first!.homeId = 99;
    const again = await store.load();
    expect(again!.homeId).not.toBe(99);
    expect(again!.tables.size).toBe(2);
    await store.close();
  });
});
