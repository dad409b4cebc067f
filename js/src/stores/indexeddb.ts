// A browser store in IndexedDB: one record per key, each save one transaction (all or nothing),
// and one opener of a database at a time (in this realm, and across tabs through Web Locks).
import { ChangeBatch, pruneCopy, Store, TablesState } from './types.js';

const ENTRIES = 'entries'; // key: [table id, key bytes as latin1], value: Uint8Array
const META = 'meta'; // key: 'state', value: { homeId, nextId }

/** Another IndexedDBStore (in this page, or in another tab) has the database open. */
export class StoreInUseError extends Error {
  constructor(readonly database: string, where: 'realm' | 'tab') {
    super(where === 'realm'
      ? `the IndexedDB database '${database}' is already open in this page (another IndexedDBStore); close that store first`
      : `the IndexedDB database '${database}' is in use by another tab or worker (Web Lock 'lua-home:${database}' is held)`);
    this.name = 'StoreInUseError';
  }
}

/** What the store needs of `navigator.locks` (the Web Locks API). */
export interface LockManagerLike {
  request(name: string, options: { ifAvailable: boolean }, callback: (lock: unknown) => Promise<void> | void): Promise<unknown>;
}

export interface IndexedDBStoreOptions {
  /** The Web Locks manager (default: `navigator.locks` when there is one; null: none). */
  locks?: LockManagerLike | null;
}

// Databases opened by a store of this realm, per IndexedDB factory (shared by every copy of the package).
const openedKey = Symbol.for('lua-home.indexeddb-store.opened');
const opened: WeakMap<object, Set<string>> = ((globalThis as Record<symbol, unknown>)[openedKey] ??= new WeakMap()) as WeakMap<object, Set<string>>;

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

function defaultLocks(): LockManagerLike | undefined {
  return (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
}

export class IndexedDBStore implements Store {
  private db: Promise<IDBDatabase> | undefined;
  private release: (() => void) | undefined; // lets go of the Web Lock
  private pristine = true; // nothing loaded or saved through this store yet
  private garbage: number[] = []; // tables no VM was ever given: deleted with the next save
  private readonly locks: LockManagerLike | undefined;

  /**
   * `name`: the IndexedDB database; `factory`: indexedDB (default: the global one). Only one
   * store at a time may open a database: a second one in this realm, or (where Web Locks exist)
   * in another tab, gets StoreInUseError from its first load or save.
   */
  constructor(readonly name = 'lua-home', private readonly factory?: IDBFactory, options: IndexedDBStoreOptions = {}) {
    this.locks = options.locks === null ? undefined : (options.locks ?? defaultLocks());
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= this.acquire().then(() => new Promise<IDBDatabase>((resolve, reject) => {
      const r = this.idb().open(this.name, 1);
      r.onupgradeneeded = () => {
        r.result.createObjectStore(ENTRIES);
        r.result.createObjectStore(META);
      };
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    })).catch((e) => {
      this.letGo();
      this.db = undefined;
      throw e;
    });
    return this.db;
  }

  private idb(): IDBFactory {
    const f = this.factory ?? globalThis.indexedDB;
    if (!f) throw new Error('IndexedDB is not available here');
    return f;
  }

  // Takes this realm's claim on the database, then the Web Lock (without waiting for it).
  private async acquire(): Promise<void> {
    const f = this.idb();
    let names = opened.get(f);
    if (!names) opened.set(f, (names = new Set()));
    if (names.has(this.name)) throw new StoreInUseError(this.name, 'realm');
    names.add(this.name);
    this.release = () => names.delete(this.name);
    if (!this.locks) return;
    const locks = this.locks;
    await new Promise<void>((resolve, reject) => {
      locks.request(`lua-home:${this.name}`, { ifAvailable: true }, (lock) => {
        if (!lock) {
          reject(new StoreInUseError(this.name, 'tab'));
          return;
        }
        resolve();
        return new Promise<void>((free) => {
          const realm = this.release;
          this.release = () => {
            realm?.();
            free();
          };
        });
      }).catch(reject);
    });
  }

  private letGo(): void {
    this.release?.();
    this.release = undefined;
  }

  /**
   * A copy of the saved state without the tables unreachable from `_home`. Loading writes
   * nothing: a VM that loaded earlier may still hold such a table.
   */
  async load(): Promise<TablesState | undefined> {
    const db = await this.open();
    const tx = db.transaction([ENTRIES, META], 'readonly');
    const meta = (await request(tx.objectStore(META).get('state'))) as { homeId: number; nextId: number } | undefined;
    if (!meta) {
      this.pristine = false;
      return undefined;
    }
    const state: TablesState = { homeId: meta.homeId, nextId: meta.nextId, tables: new Map() };
    const keys = (await request(tx.objectStore(ENTRIES).getAllKeys())) as [number, string][];
    const values = (await request(tx.objectStore(ENTRIES).getAll())) as Uint8Array[];
    keys.forEach(([id, key], i) => {
      let t = state.tables.get(id);
      if (!t) state.tables.set(id, (t = new Map()));
      t.set(key, new Uint8Array(values[i]));
    });
    const { copy, dropped } = pruneCopy(state);
    if (this.pristine) this.garbage = dropped; // no VM was given them, through this store or before it
    this.pristine = false;
    return copy;
  }

  async save(batch: ChangeBatch): Promise<void> {
    const db = await this.open();
    this.pristine = false;
    const tx = db.transaction([ENTRIES, META], 'readwrite');
    const entries = tx.objectStore(ENTRIES);
    if (batch.replace) entries.clear();
    const written = new Set(batch.changes.map((c) => c.id));
    const garbage = batch.replace ? [] : this.garbage.filter((id) => !written.has(id));
    for (const id of garbage) entries.delete(IDBKeyRange.bound([id, ''], [id, '\uffff']));
    for (const { id, key, value } of batch.changes) {
      if (value === undefined) entries.delete([id, key]);
      else entries.put(value, [id, key]);
    }
    tx.objectStore(META).put({ homeId: batch.homeId, nextId: batch.nextId }, 'state');
    await done(tx);
    this.garbage = [];
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    try {
      if (db) (await db).close();
    } catch {
      // it never opened: nothing to close
    } finally {
      if (db) this.letGo();
    }
  }
}
