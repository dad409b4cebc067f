// One writer per state: a second store on the same directory (even through another path) or on
// the same IndexedDB database is refused with a named error, in this process or realm, and across
// tabs through Web Locks; closing the first lets the next one in.
import { IDBFactory } from 'fake-indexeddb';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IndexedDBStore, LockManagerLike, Lua, NodeFileStore, StateLockedError, StoreInUseError } from '../../js/src/node';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lua-home-opener-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('NodeFileStore', () => {
  it('refuses a second store on the same directory in this process, by its real path', async () => {
    const state = join(dir, 'state');
    const first = new NodeFileStore(state);
    const a = await Lua.create({ store: first });
    a.compute('_home.n = 1');
    await a.save();
    const second = new NodeFileStore(state);
    await expect(second.load()).rejects.toThrow(StateLockedError);
    await expect(second.load()).rejects.toThrow(/already open in this process/);
    symlinkSync(state, join(dir, 'link'));
    await expect(new NodeFileStore(join(dir, 'link')).load()).rejects.toThrow(StateLockedError);
    await expect(Lua.create({ store: new NodeFileStore(state + '/') })).rejects.toThrow(StateLockedError);
    for (let i = 0; i < 20; i++) {
      a.compute('_home.n = _home.n + 1');
      await a.save();
    }
    await first.close();
    const b = await Lua.create({ store: second }); // free again
    expect(b.compute('return _home.n').value).toBe(21);
    await second.close();
  });
});

/** A Web Locks manager shared by "tabs" (what navigator.locks is across a browser's tabs). */
class Locks implements LockManagerLike {
  held = new Set<string>();
  async request(name: string, options: { ifAvailable: boolean }, callback: (lock: unknown) => Promise<void> | void): Promise<unknown> {
    if (this.held.has(name)) {
      expect(options.ifAvailable).toBe(true); // never waits for another tab
      return callback(null);
    }
    this.held.add(name);
    try {
      return await callback({ name });
    } finally {
      this.held.delete(name);
    }
  }
}

describe('IndexedDBStore', () => {
  it('refuses a second store on the same database in this realm until the first is closed', async () => {
    const factory = new IDBFactory();
    const first = new IndexedDBStore('my-app', factory, { locks: null });
    const a = await Lua.create({ store: first });
    a.compute('_home.n = 1');
    await a.save();
    const second = new IndexedDBStore('my-app', factory, { locks: null });
    await expect(second.load()).rejects.toThrow(StoreInUseError);
    await expect(second.save({ homeId: 1, nextId: 2, changes: [] })).rejects.toThrow(/already open in this page/);
    const other = new IndexedDBStore('my-app', new IDBFactory(), { locks: null }); // another origin's IndexedDB
    expect(await other.load()).toBeUndefined();
    await other.close();
    await first.close();
    const b = await Lua.create({ store: second });
    expect(b.compute('return _home.n').value).toBe(1);
    await second.close();
  });

  it('refuses a second tab through a Web Lock (ifAvailable: it never waits), and lets the next in after close', async () => {
    const locks = new Locks();
    const tab1 = new IndexedDBStore('my-app', new IDBFactory(), { locks });
    await tab1.load();
    expect(locks.held.has('lua-home:my-app')).toBe(true);
    // Another tab: its own realm and its own indexedDB object, the same lock manager.
    const tab2 = new IndexedDBStore('my-app', new IDBFactory(), { locks });
    await expect(tab2.load()).rejects.toThrow(StoreInUseError);
    await expect(tab2.load()).rejects.toThrow(/in use by another tab/);
    await tab1.close();
    expect(locks.held.has('lua-home:my-app')).toBe(false);
    expect(await tab2.load()).toBeUndefined();
    await tab2.close();
  });

  it('uses navigator.locks when there is one', async () => {
    const locks = new Locks();
    const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: { locks }, configurable: true });
    try {
      const store = new IndexedDBStore('with-navigator', new IDBFactory());
      await store.load();
      expect(locks.held.has('lua-home:with-navigator')).toBe(true);
      await store.close();
      expect(locks.held.size).toBe(0);
    } finally {
      if (had) Object.defineProperty(globalThis, 'navigator', had);
      else delete (globalThis as { navigator?: unknown }).navigator;
    }
  });
});
