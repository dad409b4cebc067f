// A browser store in IndexedDB: one record per key, each save one transaction (all or nothing).
import { ChangeBatch, dropUnreachable, Store, TablesState } from './types.js';

const ENTRIES = 'entries'; // key: [table id, key bytes as latin1], value: Uint8Array
const META = 'meta'; // key: 'state', value: { homeId, nextId }

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

export class IndexedDBStore implements Store {
  private db: Promise<IDBDatabase> | undefined;

  /** `name`: the IndexedDB database; `factory`: indexedDB (default: the global one). */
  constructor(readonly name = 'lua-home', private readonly factory?: IDBFactory) {}

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const f = this.factory ?? globalThis.indexedDB;
      if (!f) throw new Error('IndexedDB is not available here');
      const r = f.open(this.name, 1);
      r.onupgradeneeded = () => {
        r.result.createObjectStore(ENTRIES);
        r.result.createObjectStore(META);
      };
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    return this.db;
  }

  async load(): Promise<TablesState | undefined> {
    const db = await this.open();
    const tx = db.transaction([ENTRIES, META], 'readonly');
    const meta = (await request(tx.objectStore(META).get('state'))) as { homeId: number; nextId: number } | undefined;
    if (!meta) return undefined;
    const state: TablesState = { homeId: meta.homeId, nextId: meta.nextId, tables: new Map() };
    const keys = (await request(tx.objectStore(ENTRIES).getAllKeys())) as [number, string][];
    const values = (await request(tx.objectStore(ENTRIES).getAll())) as Uint8Array[];
    keys.forEach(([id, key], i) => {
      let t = state.tables.get(id);
      if (!t) state.tables.set(id, (t = new Map()));
      t.set(key, new Uint8Array(values[i]));
    });
    const dropped = dropUnreachable(state);
    if (dropped.length) {
      const clean = db.transaction([ENTRIES], 'readwrite');
      for (const id of dropped) clean.objectStore(ENTRIES).delete(IDBKeyRange.bound([id, ''], [id, '\uffff']));
      await done(clean);
    }
    return state;
  }

  async save(batch: ChangeBatch): Promise<void> {
    const db = await this.open();
    const tx = db.transaction([ENTRIES, META], 'readwrite');
    const entries = tx.objectStore(ENTRIES);
    for (const { id, key, value } of batch.changes) {
      if (value === undefined) entries.delete([id, key]);
      else entries.put(value, [id, key]);
    }
    tx.objectStore(META).put({ homeId: batch.homeId, nextId: batch.nextId }, 'state');
    await done(tx);
  }

  async close(): Promise<void> {
    if (this.db) (await this.db).close();
    this.db = undefined;
  }
}
