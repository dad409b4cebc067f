// The host side of external tables: JavaScript Maps keyed 1:1 by key bytes (as latin1
// strings), the five imports of lua.wasm over them, keys paging, and per-compute transactions.
import type { ExternalTableImports } from '../abi/abi.js';

/** One external table: key bytes (latin1) -> value bytes (codec). */
export type HostTable = Map<string, Uint8Array>;

/** Open traversal cursors kept at most (the least recently used is dropped). */
export const MAX_CURSORS = 1024;

interface Cursor {
  iterator: Iterator<string>;
  pending: string | undefined; // a key that did not fit the last page
}

/** A change of one key since the last save: the new value, or undefined when deleted. */
export interface Change {
  id: number;
  key: string;
  value: Uint8Array | undefined;
}

/** The ids reachable from `roots` through references (values of tag 07) in `tables`. */
export function reachableTables(tables: Map<number, Map<string, Uint8Array>>, roots: Iterable<number>): Set<number> {
  const reachable = new Set<number>();
  const pending: number[] = [];
  for (const id of roots) {
    if (!reachable.has(id)) {
      reachable.add(id);
      pending.push(id);
    }
  }
  while (pending.length) {
    const t = tables.get(pending.pop() as number);
    if (!t) continue;
    for (const v of t.values()) {
      if (v.length === 5 && v[0] === 0x07) {
        const id = (v[1] | (v[2] << 8) | (v[3] << 16) | (v[4] << 24)) >>> 0;
        if (!reachable.has(id)) {
          reachable.add(id);
          pending.push(id);
        }
      }
    }
  }
  return reachable;
}

export class TableHost {
  readonly tables = new Map<number, HostTable>();
  /** The first exception an import met during the current compute (imports never throw). */
  error: unknown = undefined;

  private memory: WebAssembly.Memory | undefined;
  private bytes = new Uint8Array(0);
  private cursors = new Map<number, Cursor>();
  private nextCursor = 1;
  // Transaction of the running compute: (id, key, old value) triples in the order written,
  // undone in reverse. An array, not a Map: appending is the cheapest thing a write can do.
  private undo: (number | string | Uint8Array | undefined)[] | undefined;
  private undoLog: (number | string | Uint8Array | undefined)[] = [];
  // Keys changed since the last save, per table; tracked only once a store asks for it.
  private dirty: Map<number, Set<string>> | undefined;
  // (set, key) pairs: keys the running compute made dirty for the first time.
  private newlyDirty: (Set<string> | string)[] = [];

  /** Binds the host to the instance's memory (once the instance exists). */
  attach(memory: WebAssembly.Memory): void {
    this.memory = memory;
    this.bytes = new Uint8Array(memory.buffer);
  }

  private mem(): Uint8Array {
    // The memory never grows, but a detached view (after transfer) must be renewed.
    if (this.bytes.byteLength === 0 && this.memory) this.bytes = new Uint8Array(this.memory.buffer);
    return this.bytes;
  }

  private key(ptr: number, len: number): string {
    const m = this.mem();
    switch (len) { // one flat string at once for the usual short keys
      case 1: return String.fromCharCode(m[ptr]);
      case 2: return String.fromCharCode(m[ptr], m[ptr + 1]);
      case 3: return String.fromCharCode(m[ptr], m[ptr + 1], m[ptr + 2]);
      case 4: return String.fromCharCode(m[ptr], m[ptr + 1], m[ptr + 2], m[ptr + 3]);
      case 5: return String.fromCharCode(m[ptr], m[ptr + 1], m[ptr + 2], m[ptr + 3], m[ptr + 4]);
      case 6: return String.fromCharCode(m[ptr], m[ptr + 1], m[ptr + 2], m[ptr + 3], m[ptr + 4], m[ptr + 5]);
      case 7: return String.fromCharCode(m[ptr], m[ptr + 1], m[ptr + 2], m[ptr + 3], m[ptr + 4], m[ptr + 5], m[ptr + 6]);
      case 8: return String.fromCharCode(m[ptr], m[ptr + 1], m[ptr + 2], m[ptr + 3], m[ptr + 4], m[ptr + 5], m[ptr + 6], m[ptr + 7]);
    }
    if (len < 4096) return String.fromCharCode.apply(null, m.subarray(ptr, ptr + len) as unknown as number[]);
    let s = '';
    for (let i = 0; i < len; i += 4096) {
      s += String.fromCharCode.apply(null, m.subarray(ptr + i, ptr + Math.min(len, i + 4096)) as unknown as number[]);
    }
    return s;
  }

  table(id: number): HostTable {
    let t = this.tables.get(id);
    if (!t) {
      t = new Map();
      this.tables.set(id, t);
    }
    return t;
  }

  // {====== changes: every write goes through here

  /** Stores (or, with undefined, deletes) a value, recording it for undo and for saving. */
  write(id: number, key: string, value: Uint8Array | undefined): void {
    let t = this.tables.get(id);
    if (this.undo) this.undo.push(id, key, t?.get(key));
    if (this.dirty) {
      let d = this.dirty.get(id);
      if (!d) this.dirty.set(id, (d = new Set()));
      const before = d.size;
      d.add(key);
      // A key first dirtied by this compute is clean again if the compute is rolled back.
      if (d.size !== before && this.undo) this.newlyDirty.push(d, key);
    }
    if (value === undefined) {
      t?.delete(key);
      return;
    }
    if (!t) this.tables.set(id, (t = new Map()));
    t.set(key, value);
  }

  /** Starts recording a compute's changes. */
  begin(): void {
    const log = this.undoLog; // one array, reused: most computes write nothing
    if (log.length !== 0) log.length = 0;
    this.undo = log;
    if (this.newlyDirty.length !== 0) this.newlyDirty.length = 0;
    this.error = undefined;
  }

  /** Keeps the compute's changes. */
  commit(): void {
    if (this.undoLog.length > 4096) this.undoLog = []; // do not keep a large log alive
    this.undo = undefined;
    if (this.newlyDirty.length !== 0) this.newlyDirty.length = 0;
  }

  /** Undoes every change of the compute: each table is exactly as before it. */
  rollback(): void {
    const undo = this.undo;
    this.undo = undefined;
    if (!undo) return;
    const dirty = this.newlyDirty;
    for (let i = 0; i < dirty.length; i += 2) (dirty[i] as Set<string>).delete(dirty[i + 1] as string);
    dirty.length = 0;
    for (let i = undo.length - 3; i >= 0; i -= 3) {
      const id = undo[i] as number;
      const key = undo[i + 1] as string;
      const old = undo[i + 2] as Uint8Array | undefined;
      const t = this.table(id);
      if (old === undefined) t.delete(key);
      else t.set(key, old);
      if (t.size === 0) this.tables.delete(id);
    }
    if (undo.length > 4096) this.undoLog = [];
    else undo.length = 0;
  }

  /**
   * Drops every table that cannot be reached from `roots` through references (tag 07 values):
   * the VM can never name them again. Returns how many were dropped. Not during a compute.
   */
  collect(roots: Iterable<number>): number {
    const reachable = reachableTables(this.tables, roots);
    let dropped = 0;
    for (const id of [...this.tables.keys()]) {
      if (!reachable.has(id)) {
        this.tables.delete(id);
        this.dirty?.delete(id); // nothing of it needs saving: no saved table can reach it either
        dropped++;
      }
    }
    return dropped;
  }

  /** From now on, remember which keys change (for incremental saves). */
  trackChanges(): void {
    this.dirty ??= new Map();
  }

  /** The changes since the last call (for incremental saves), and forgets them. */
  takeChanges(): Change[] {
    const changes: Change[] = [];
    if (!this.dirty) return changes;
    for (const [id, keys] of this.dirty) {
      const t = this.tables.get(id);
      for (const key of keys) changes.push({ id, key, value: t?.get(key) });
    }
    this.dirty.clear();
    return changes;
  }

  /** Puts changes back (a save that failed must be retried later). */
  restoreChanges(changes: Change[]): void {
    this.trackChanges();
    for (const c of changes) {
      let d = this.dirty!.get(c.id);
      if (!d) this.dirty!.set(c.id, (d = new Set()));
      d.add(c.key);
    }
  }

  get hasChanges(): boolean {
    return (this.dirty?.size ?? 0) > 0;
  }

  // }======

  private fail(e: unknown, answer = -1): number {
    if (this.error === undefined) this.error = e;
    return answer;
  }

  /** The imports object for `WebAssembly.instantiate(module, { env: host.imports() })`. */
  imports(): ExternalTableImports {
    return {
      js_ext_table_set: (id, kp, kl, vp, vl) => {
        try {
          this.write(id >>> 0, this.key(kp, kl), this.mem().slice(vp, vp + vl));
          return 0;
        } catch (e) {
          return this.fail(e);
        }
      },
      js_ext_table_get: (id, kp, kl, vp, max) => {
        try {
          const v = this.tables.get(id >>> 0)?.get(this.key(kp, kl));
          if (v === undefined) return -1;
          const n = v.length;
          if (n > max >>> 0) return n; // "call again with a buffer of n bytes"
          const m = this.mem();
          if (n <= 16) for (let i = 0; i < n; i++) m[vp + i] = v[i]; // scalars: faster than set()
          else m.set(v, vp);
          return n;
        } catch (e) {
          return this.fail(e, -2); // -1 would read as "absent": any other negative is an error
        }
      },
      js_ext_table_delete: (id, kp, kl) => {
        try {
          const key = this.key(kp, kl);
          if (this.tables.get(id >>> 0)?.has(key)) this.write(id >>> 0, key, undefined);
          return 0;
        } catch (e) {
          return this.fail(e);
        }
      },
      js_ext_table_size: (id) => this.tables.get(id >>> 0)?.size ?? 0,
      js_ext_table_keys: (id, buf, max) => {
        try {
          return this.keysPage(id >>> 0, buf, max >>> 0);
        } catch (e) {
          return this.fail(e);
        }
      },
    };
  }

  // One page of keys (docs/ABI.md, "Keys paging protocol").
  private keysPage(id: number, buf: number, max: number): number {
    const m = this.mem();
    const view = new DataView(m.buffer);
    let cursor = view.getUint32(buf, true);
    let state: Cursor | undefined;
    if (cursor === 0) {
      state = { iterator: (this.tables.get(id) ?? new Map<string, Uint8Array>()).keys(), pending: undefined };
      cursor = this.nextCursor++;
      if (this.nextCursor > 0xffffffff) this.nextCursor = 1;
    } else {
      state = this.cursors.get(cursor);
      if (!state) return -1; // unknown or expired
      this.cursors.delete(cursor); // re-inserted below: most recently used last
    }
    let pos = 4;
    for (;;) {
      let key = state.pending;
      if (key === undefined) {
        const next = state.iterator.next();
        if (next.done) {
          view.setUint32(buf, 0, true);
          return pos;
        }
        key = next.value;
      }
      if (pos + 4 + key.length > max) {
        state.pending = key;
        this.keepCursor(cursor, state);
        if (pos === 4) return 8 + key.length; // the key alone needs a bigger buffer
        view.setUint32(buf, cursor, true);
        return pos;
      }
      state.pending = undefined;
      view.setUint32(buf + pos, key.length, true);
      for (let i = 0; i < key.length; i++) m[buf + pos + 4 + i] = key.charCodeAt(i);
      pos += 4 + key.length;
    }
  }

  private keepCursor(cursor: number, state: Cursor): void {
    this.cursors.set(cursor, state);
    if (this.cursors.size > MAX_CURSORS) {
      const oldest = this.cursors.keys().next().value as number;
      this.cursors.delete(oldest);
    }
  }
}
