// The host side of external tables: one HostTable per id (host/table.ts: integer keys in an
// array part, small values as numbers and latin1 strings), the five imports of lua.wasm over
// them, keys paging, and per-compute transactions.
import type { ExternalTableImports } from '../abi/abi.js';
import {
  HostTable, KeyCursor, keyAt, keyOf, keyText, putValue, refOf, reorganizations, valueAt, valueBytes, valueLength,
} from './table.js';
import type { HostKey, HostValue } from './table.js';
import {
  DEFAULT_LIMITS, ENTRY_OVERHEAD, MAX_TABLE_ENTRIES, QUOTA_ANSWERS, QuotaError, TABLE_OVERHEAD, TableFullError,
} from './limits.js';

export { HostTable } from './table.js';
export type { HostKey, HostValue } from './table.js';

/** Undo log slots kept between computes (3 per write: about 4 MB at most). */
const UNDO_KEEP = 1 << 19;
/**
 * Undo log slots at which a compute's log is first compacted: it keeps only the first write of
 * each key, and if that dropped most of it (keys written again and again), later rewrites of a
 * key are not logged at all; else the next compaction waits for twice the size. A write of the
 * key the log's last entry holds is never logged (overwriting one key a million times does not
 * grow host memory), and a compute writing distinct keys pays for no bookkeeping per write.
 */
const UNDO_COMPACT = 3 * (1 << 20);
/** Bytes counted per undo log entry (three array slots) beside the old value it keeps. */
const UNDO_ENTRY = 24;

/** The bytes the undo log holds for an old value (a number lives in its slot). */
function undoCost(old: HostValue | undefined): number {
  return old === undefined || typeof old === 'number' ? UNDO_ENTRY : UNDO_ENTRY + 16 + old.length;
}

/** The bytes an entry counts against limits.hostBytes (its key, its value and ENTRY_OVERHEAD). */
export function entryCost(key: HostKey, value: HostValue): number {
  return (typeof key === 'number' ? 8 : key.length) + (typeof value === 'number' ? 8 : value.length) + ENTRY_OVERHEAD;
}

/**
 * Open traversal cursors kept at most (the least recently used is dropped: the module then gets
 * -1, "expired cursor"). Each may hold a table's Map alive while it lives.
 */
export const MAX_CURSORS = 256;

/** The cursor of a keys request that starts after a given key; and the answer when it is absent. */
const SEEK_CURSOR = 0xffffffff;
const NO_SUCH_KEY = -4;

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
  /**
   * Entries a table may hold (a hard limit, TableFullError; lowered by tests only), and the
   * quotas of HostLimits (QuotaError).
   */
  limits = { entries: MAX_TABLE_ENTRIES, ...DEFAULT_LIMITS };
  /** The last write refused for a quota: the cause of the compute's error. */
  refusal: QuotaError | undefined = undefined;

  // Bytes of every entry (entryCost) of every table: kept as writes happen, recounted on load.
  private entryBytes = 0;
  private entryBytesAtBegin = 0;
  // Bytes the running compute's undo log holds (old values and entries), and the last compute's.
  private undoBytes = 0;
  private lastComputeBytes = 0;
  // Once the log is compacted (UNDO_COMPACT): the keys it holds, per table.
  private touched: Map<number, Set<HostKey>> | undefined = undefined;
  private compactAt = UNDO_COMPACT;

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
    this.recount();
  }

  /** Bytes the tables count against limits.hostBytes. */
  get hostBytes(): number {
    return this.entryBytes + this.tables.size * TABLE_OVERHEAD;
  }

  /** Host bytes the running compute holds (its undo log); between computes, the last compute's. */
  get computeBytes(): number {
    return this.undoing ? this.undoBytes : this.lastComputeBytes;
  }

  // Counts entryBytes again from the tables.
  private recount(): void {
    let n = 0;
    for (const t of this.tables.values()) {
      const arr = t.arr;
      for (let i = 0; i < arr.length; i++) {
        const v = arr[i];
        if (v !== undefined) n += entryCost(i + 1, v);
      }
      for (const [k, v] of t.map) n += entryCost(k, v);
    }
    this.entryBytes = n;
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
    let created = false;
    let delta: number;
    if (value === undefined) {
      if (t === undefined) return;
      old = t.removeKey(key);
      if (old === undefined) return; // deleting an absent key changes nothing
      delta = -entryCost(key, old);
    } else {
      if (t === undefined) {
        if (this.tables.size >= this.limits.tables) throw this.refuse(new QuotaError('tables', this.limits.tables, this.tables.size + 1));
        this.tables.set(id, (t = new HostTable()));
        created = true;
      } else if (t.size >= this.limits.entries && t.getKey(key) === undefined) {
        throw new TableFullError(id, this.limits.entries); // a size check only: nothing changed
      }
      old = t.putKey(key, value);
      delta = entryCost(key, value) - (old === undefined ? 0 : entryCost(key, old));
      if (delta > 0 && this.entryBytes + delta + this.tables.size * TABLE_OVERHEAD > this.limits.hostBytes) {
        this.unput(id, t, key, old, created);
        throw this.refuse(new QuotaError('hostBytes', this.limits.hostBytes, this.hostBytes + delta));
      }
    }
    if (this.undoing) {
      let log = true;
      const touched = this.touched;
      const n0 = this.undoLen;
      if (n0 !== 0 && this.undoLog[n0 - 2] === key && this.undoLog[n0 - 3] === id) {
        log = false; // the same key again: the last entry holds what it was before
      } else if (touched !== undefined) {
        let keys = touched.get(id);
        if (keys === undefined) touched.set(id, (keys = new Set()));
        if (keys.has(key)) log = false; // the log already holds what this key was before the compute
        else keys.add(key);
      }
      const bytes = undoCost(old);
      if (log && touched === undefined && this.undoBytes + bytes > this.limits.computeBytes && n0 !== 0) {
        // Before refusing, keep only the first write of each key: the rewrites may be what fills it.
        const logged = this.compactUndo(true);
        const keys = logged.get(id);
        if (keys?.has(key)) log = false;
        else if (keys) keys.add(key);
        else logged.set(id, new Set([key]));
      }
      if (log) {
        if (this.undoBytes + bytes > this.limits.computeBytes) {
          this.touched?.get(id)?.delete(key);
          if (value === undefined) t.putKey(key, old as HostValue);
          else this.unput(id, t, key, old, created);
          throw this.refuse(new QuotaError('computeBytes', this.limits.computeBytes, this.undoBytes + bytes));
        }
        this.undoBytes += bytes;
        const u = this.undoLog;
        const n = this.undoLen;
        u[n] = id;
        u[n + 1] = key;
        u[n + 2] = old;
        this.undoLen = n + 3;
        if (this.touched === undefined && n + 3 >= this.compactAt) this.compactUndo(false);
      }
    }
    this.entryBytes += delta;
    if (this.dirty) this.markChanged(id, key, old, value);
  }

  // Takes back a write that a quota refused.
  private unput(id: number, t: HostTable, key: HostKey, old: HostValue | undefined, created: boolean): void {
    if (old === undefined) t.removeKey(key);
    else t.putKey(key, old);
    if (created) this.tables.delete(id);
  }

  private refuse(e: QuotaError): QuotaError {
    this.refusal = e;
    return e;
  }

  // Keeps only the first write of each key in the undo log (what the key held before the
  // compute). From then on the compute logs each key once, when `always` or when most of the log
  // was rewrites; else the next compaction waits for twice the size.
  private compactUndo(always: boolean): Map<number, Set<HostKey>> {
    const u = this.undoLog;
    const touched = new Map<number, Set<HostKey>>();
    let w = 0;
    let bytes = 0;
    for (let i = 0; i < this.undoLen; i += 3) {
      const id = u[i] as number;
      const key = u[i + 1] as HostKey;
      let keys = touched.get(id);
      if (keys === undefined) touched.set(id, (keys = new Set()));
      if (keys.has(key)) continue;
      keys.add(key);
      const old = u[i + 2] as HostValue | undefined;
      u[w] = id;
      u[w + 1] = key;
      u[w + 2] = old;
      w += 3;
      bytes += undoCost(old);
    }
    u.fill(undefined, w, this.undoLen);
    const before = this.undoLen;
    this.undoLen = w;
    this.undoBytes = bytes;
    if (always || w * 2 < before) {
      this.touched = touched;
    } else {
      this.compactAt = Math.max(this.compactAt, w) * 2; // mostly distinct keys: no per-write bookkeeping
    }
    return touched;
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
    this.undoBytes = 0;
    this.touched = undefined;
    this.compactAt = UNDO_COMPACT;
    this.refusal = undefined;
    this.entryBytesAtBegin = this.entryBytes;
    if (this.dirtyLog.length !== 0) this.dirtyLog.length = 0;
    this.error = undefined;
  }

  /** Keeps the compute's changes. */
  commit(): void {
    this.undoing = false;
    this.lastComputeBytes = this.undoBytes;
    this.undoBytes = 0;
    this.touched = undefined;
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
    this.entryBytes = this.entryBytesAtBegin;
    this.lastComputeBytes = this.undoBytes;
    this.undoBytes = 0;
    this.touched = undefined;
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
    if (dropped !== 0) this.recount();
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
          if (e instanceof QuotaError) return QUOTA_ANSWERS[e.limit]; // a Lua error at the write, which pcall may catch
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
          if (e instanceof QuotaError) return QUOTA_ANSWERS[e.limit]; // computeBytes: a Lua error at the delete
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
    if (cursor === SEEK_CURSOR) {
      // next(t, k) from any key: a new traversal that starts just after the key given (u32
      // length, then its bytes), found without walking the table (docs/ABI.md).
      const len = view.getUint32(buf + 4, true);
      if (len > max - 8) return -1;
      const table = this.tables.get(id) ?? new HostTable();
      const keys = new KeyCursor(table);
      if (!keys.seekAfter(keyAt(m, buf + 8, len))) return NO_SUCH_KEY;
      state = { id, keys, pending: undefined };
      cursor = this.nextCursor++;
      if (this.nextCursor >= SEEK_CURSOR) this.nextCursor = 1;
    } else if (cursor === 0) {
      state = { id, keys: new KeyCursor(this.tables.get(id) ?? new HostTable()), pending: undefined };
      cursor = this.nextCursor++;
      if (this.nextCursor >= SEEK_CURSOR) this.nextCursor = 1;
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
