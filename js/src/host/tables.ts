// The host side of external tables: one HostTable per id (host/table.ts: integer keys in an
// array part, small values as numbers and latin1 strings), the five imports of lua.wasm over
// them, keys paging, and per-compute transactions.
import type { ExternalTableImports } from '../abi/abi.js';
import {
  HostTable, KeyCursor, keyAt, keyOf, keyText, putValue, refOf, reorganizations, valueAt, valueBytes, valueLength,
} from './table.js';
import type { HostKey, HostValue } from './table.js';
import { MAX_TABLE_ENTRIES, MAX_TABLES, TableFullError } from './limits.js';

export { HostTable } from './table.js';
export type { HostKey, HostValue } from './table.js';

/** Undo log slots kept between computes (3 per write: about 4 MB at most). */
const UNDO_KEEP = 1 << 19;

/**
 * Open traversal cursors kept at most (the least recently used is dropped: the module then gets
 * -1, "expired cursor"). Each may hold a table's Map alive while it lives.
 */
export const MAX_CURSORS = 256;

/** Writes after which a compute's end moves the cursors onto their Maps' current storage. */
const SWEEP_WRITES = 4096;

interface Cursor {
  id: number;
  keys: KeyCursor;
  pending: string | undefined; // the bytes of a key that did not fit the last page
}

/** A change of one key since the last save: the new value, or undefined when deleted. */
export interface Change {
  id: number;
  key: string;
  value: Uint8Array | undefined;
}

/**
 * The ids reachable from `roots` through references (values of tag 07) in `tables`: the host's
 * own tables, or a store's Maps of value bytes.
 */
export function reachableTables(tables: Map<number, HostTable | Map<string, Uint8Array>>, roots: Iterable<number>): Set<number> {
  const reachable = new Set<number>();
  const pending: number[] = [];
  const visit = (id: number) => {
    if (!reachable.has(id)) {
      reachable.add(id);
      pending.push(id);
    }
  };
  for (const id of roots) visit(id);
  while (pending.length) {
    const t = tables.get(pending.pop() as number);
    if (!t) continue;
    const values: Iterable<HostValue> = t instanceof HostTable ? t.hostValues() : t.values();
    for (const v of values) {
      const id = refOf(v);
      if (id >= 0) visit(id);
    }
  }
  return reachable;
}

// What a changed key held at the last save: its value, ABSENT, or UNKNOWN (the store may lack it).
type SavedValue = HostValue | typeof ABSENT | typeof UNKNOWN;
const ABSENT: unique symbol = Symbol('absent');
const UNKNOWN: unique symbol = Symbol('unknown');
const NOT_DIRTY: unique symbol = Symbol('not dirty');

export class TableHost {
  readonly tables = new Map<number, HostTable>();
  /** The first exception an import met during the current compute (imports never throw). */
  error: unknown = undefined;
  /** @internal Entries a table may hold, and tables the host may hold (lowered by tests only). */
  limits = { entries: MAX_TABLE_ENTRIES, tables: MAX_TABLES };

  private memory: WebAssembly.Memory | undefined;
  private bytes = new Uint8Array(0);
  private cursors = new Map<number, Cursor>();
  private nextCursor = 1;
  private reorganizationsSeen = reorganizations();
  private writesSinceSweep = 0; // a Map rehashed by writes keeps its old storage for live iterators
  // Transaction of the running compute: (id, key, old value) triples in the order written,
  // undone in reverse. One array written by index and kept from compute to compute (up to
  // UNDO_KEEP slots), so that a compute writing much does not grow it again each time.
  private undoing = false;
  private undoLog: (HostKey | HostValue | undefined)[] = [];
  private undoLen = 0;
  // The keys that differ from the last save, per table, each with its saved value (ABSENT: it
  // had none; UNKNOWN: the store may not have it); tracked only once a store asks for it. A key
  // written back to its saved value leaves, so the entries are only ever what differs.
  private dirty: Map<number, Map<HostKey, SavedValue>> | undefined;
  // (map, key, what it held) triples: how the running compute changed `dirty`, undone in reverse
  // (NOT_DIRTY: the key had no entry).
  private dirtyLog: (Map<HostKey, SavedValue> | HostKey | SavedValue | typeof NOT_DIRTY)[] = [];

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

  /** The table of an id, created empty when absent. */
  table(id: number): HostTable {
    let t = this.tables.get(id);
    if (!t) {
      t = new HostTable();
      this.tables.set(id, t);
    }
    return t;
  }

  /** Replaces every table by those of a saved state (latin1 keys, value bytes). */
  load(tables: Map<number, Map<string, Uint8Array> | HostTable>): void {
    this.tables.clear();
    for (const [id, t] of tables) this.tables.set(id, t instanceof HostTable ? t : HostTable.from(t));
  }

  /** Every table as a store keeps it: latin1 keys to value bytes. */
  snapshot(): Map<number, Map<string, Uint8Array>> {
    const out = new Map<number, Map<string, Uint8Array>>();
    for (const [id, t] of this.tables) out.set(id, t.toMap());
    return out;
  }

  // {====== changes: every write goes through here

  /**
   * Stores (or, with undefined, deletes) a value, recording it for undo and for saving. Keys and
   * values are in host form (keyOf, valueOf).
   */
  write(id: number, key: HostKey, value: HostValue | undefined): void {
    this.writesSinceSweep++;
    let t = this.tables.get(id);
    let old: HostValue | undefined;
    if (value === undefined) {
      if (t === undefined) return;
      old = t.removeKey(key);
      if (old === undefined) return; // deleting an absent key changes nothing
    } else {
      if (t === undefined) {
        if (this.tables.size >= this.limits.tables) throw new TableFullError(id, this.limits.tables, true);
        this.tables.set(id, (t = new HostTable()));
      } else if (t.size >= this.limits.entries && t.getKey(key) === undefined) {
        throw new TableFullError(id, this.limits.entries); // a size check only: nothing changed
      }
      old = t.putKey(key, value);
    }
    if (this.undoing) {
      const u = this.undoLog;
      const n = this.undoLen;
      u[n] = id;
      u[n + 1] = key;
      u[n + 2] = old;
      this.undoLen = n + 3;
    }
    if (this.dirty) this.markChanged(id, key, old, value);
  }

  // Records that `key` changed from `old` to `value`: an entry while it differs from the saved value.
  private markChanged(id: number, key: HostKey, old: HostValue | undefined, value: HostValue | undefined): void {
    let d = (this.dirty as Map<number, Map<HostKey, SavedValue>>).get(id);
    if (!d) (this.dirty as Map<number, Map<HostKey, SavedValue>>).set(id, (d = new Map()));
    const saved = d.get(key);
    if (saved === undefined) {
      if (old === value) return; // the same value again
      d.set(key, old === undefined ? ABSENT : old);
      if (this.undoing) this.dirtyLog.push(d, key, NOT_DIRTY);
    } else if (saved === (value === undefined ? ABSENT : value)) {
      d.delete(key); // back to what was saved
      if (this.undoing) this.dirtyLog.push(d, key, saved);
    }
  }

  /** Starts recording a compute's changes. */
  begin(): void {
    this.undoing = true;
    this.undoLen = 0;
    if (this.dirtyLog.length !== 0) this.dirtyLog.length = 0;
    this.error = undefined;
  }

  /** Keeps the compute's changes. */
  commit(): void {
    this.undoing = false;
    this.forgetUndo();
    if (this.dirtyLog.length !== 0) this.dirtyLog.length = 0;
    if (this.cursors.size !== 0 && (this.writesSinceSweep > SWEEP_WRITES || reorganizations() !== this.reorganizationsSeen)) {
      this.sweepCursors();
    }
  }

  /** Undoes every change of the compute: each table is exactly as before it. */
  rollback(): void {
    if (!this.undoing) return;
    this.undoing = false;
    const log = this.dirtyLog;
    for (let i = log.length - 3; i >= 0; i -= 3) {
      const d = log[i] as Map<HostKey, SavedValue>;
      const was = log[i + 2];
      if (was === NOT_DIRTY) d.delete(log[i + 1] as HostKey);
      else d.set(log[i + 1] as HostKey, was as SavedValue);
    }
    log.length = 0;
    const undo = this.undoLog;
    for (let i = this.undoLen - 3; i >= 0; i -= 3) {
      const id = undo[i] as number;
      const key = undo[i + 1] as HostKey;
      const old = undo[i + 2] as HostValue | undefined;
      const t = this.table(id);
      if (old === undefined) t.removeKey(key);
      else t.putKey(key, old);
      if (t.size === 0) this.tables.delete(id);
    }
    this.forgetUndo();
    if (this.cursors.size !== 0) this.sweepCursors();
  }

  /** Drops every traversal cursor (the instance that held them was replaced). */
  forgetCursors(): void {
    this.cursors.clear();
  }

  /** How many traversal cursors are open. */
  get openCursors(): number {
    return this.cursors.size;
  }

  /**
   * Drops the cursors that can never go on (their table was replaced, dropped, or replaced its
   * Map) and moves the others onto their Map's current storage: no cursor keeps an old table or
   * an old Map alive.
   */
  sweepCursors(): void {
    this.reorganizationsSeen = reorganizations();
    this.writesSinceSweep = 0;
    for (const [cursor, state] of this.cursors) {
      if (!this.isCurrent(state)) this.cursors.delete(cursor);
      else state.keys.anchor();
    }
  }

  private isCurrent(state: Cursor): boolean {
    return state.keys.valid && this.tables.get(state.id) === state.keys.table;
  }

  // Lets go of the old values the log refers to; keeps the log's room unless it is very large.
  private forgetUndo(): void {
    const n = this.undoLen;
    if (n === 0) return;
    this.undoLen = 0;
    if (this.undoLog.length > UNDO_KEEP) this.undoLog = [];
    else this.undoLog.fill(undefined, 0, n);
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
    this.sweepCursors();
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
      for (const key of keys.keys()) {
        const v = t?.getKey(key);
        changes.push({ id, key: keyText(key), value: v === undefined ? undefined : valueBytes(v) });
      }
    }
    this.dirty.clear();
    return changes;
  }

  /** Puts changes back (a save that failed must be retried later): they stay until saved. */
  restoreChanges(changes: Iterable<{ id: number; key: string }>): void {
    this.trackChanges();
    for (const c of changes) {
      let d = this.dirty!.get(c.id);
      if (!d) this.dirty!.set(c.id, (d = new Map()));
      d.set(keyOf(c.key), UNKNOWN);
    }
  }

  get hasChanges(): boolean {
    return this.changedKeys > 0;
  }

  /** How many keys differ from the last save (as far as the host knows). */
  get changedKeys(): number {
    let n = 0;
    for (const d of this.dirty?.values() ?? []) n += d.size;
    return n;
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
          let m: Uint8Array = this.bytes;
          if (m.byteLength === 0) m = this.mem();
          this.write(id >>> 0, keyAt(m, kp, kl), valueAt(m, vp, vl));
          return 0;
        } catch (e) {
          return this.fail(e);
        }
      },
      js_ext_table_get: (id, kp, kl, vp, max) => {
        try {
          let m: Uint8Array = this.bytes;
          if (m.byteLength === 0) m = this.mem();
          const v = this.tables.get(id >>> 0)?.getKey(keyAt(m, kp, kl));
          if (v === undefined) return -1;
          const n = valueLength(v);
          if (n > max >>> 0) return n; // "call again with a buffer of n bytes"
          putValue(m, vp, v);
          return n;
        } catch (e) {
          return this.fail(e, -2); // -1 would read as "absent": any other negative is an error
        }
      },
      js_ext_table_delete: (id, kp, kl) => {
        try {
          this.write(id >>> 0, keyAt(this.mem(), kp, kl), undefined);
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
      state = { id, keys: new KeyCursor(this.tables.get(id) ?? new HostTable()), pending: undefined };
      cursor = this.nextCursor++;
      if (this.nextCursor > 0xffffffff) this.nextCursor = 1;
    } else {
      state = this.cursors.get(cursor);
      if (!state) return -1; // unknown or expired
      this.cursors.delete(cursor); // re-inserted below: most recently used last
      if (!this.isCurrent(state)) return -1; // its table was replaced: expired
    }
    let pos = 4;
    for (;;) {
      let key = state.pending;
      if (key === undefined) {
        const next = state.keys.next();
        if (next === undefined) {
          view.setUint32(buf, 0, true);
          return pos;
        }
        key = keyText(next);
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
