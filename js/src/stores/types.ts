// The data model of persistence, and the interface every store implements.
import { reachableTables } from '../host/tables.js';
import { MAX_TABLE_ENTRIES, TableFullError } from '../host/limits.js';

/**
 * The largest file a store writes: 2^31 - 1 bytes, what Node's readFileSync reads back. A save
 * or snapshot that would be larger is refused before anything is written.
 */
export const MAX_FILE_BYTES = 2 ** 31 - 1;

/** A save refused because what it would write could not be read back. */
export class StateTooLargeError extends RangeError {
  constructor(what: string, limit: number) {
    super(`${what} is more than a store can write and read back (at most ${limit.toLocaleString('en')} bytes per file); nothing was written`);
    this.name = 'StateTooLargeError';
  }
}

/** Every external table: id -> (key bytes as a latin1 string -> value bytes). */
export type Tables = Map<number, Map<string, Uint8Array>>;

/** What is saved: the tables, which one is `_home`, and the next table id (never reused). */
export interface TablesState {
  homeId: number;
  nextId: number;
  tables: Tables;
}

/** One key's new value (undefined: deleted). */
export interface Change {
  id: number;
  key: string;
  value: Uint8Array | undefined;
}

/** The changes saved together: all of them or none. */
export interface ChangeBatch {
  homeId: number;
  nextId: number;
  changes: Change[];
  /**
   * The batch is the whole state: the store's previous contents are discarded, atomically with
   * the batch (after it, the store holds exactly the batch). A store must honour it.
   */
  replace?: boolean;
}

/**
 * Where `_home` is kept. `save` is durable and atomic when its promise resolves: after a crash,
 * `load` gives the state of some completed save, never a mix.
 */
export interface Store {
  /** The saved state, or undefined when nothing was ever saved. */
  load(): Promise<TablesState | undefined>;
  /**
   * `options.image`: a VM image of the same moment as the batch (`lua.saveWithImage()`); a store
   * that keeps images (`loadImage()`) stores it in the same atomic step, others ignore it.
   */
  save(batch: ChangeBatch, options?: SaveOptions): Promise<void>;
  close(): Promise<void>;
}

/** What `save` may carry beside the batch. */
export interface SaveOptions {
  /** A VM image from `lua.saveImage()` taken at the same moment as the batch. */
  image?: Uint8Array;
}

/** Applies a batch to tables (deleting emptied tables); a replacing batch starts from nothing. */
export function applyBatch(state: TablesState, batch: ChangeBatch): void {
  if (batch.replace) state.tables.clear();
  state.homeId = batch.homeId;
  state.nextId = batch.nextId;
  for (const { id, key, value } of batch.changes) {
    let t = state.tables.get(id);
    if (value === undefined) {
      t?.delete(key);
      if (t && t.size === 0) state.tables.delete(id);
      continue;
    }
    if (!t) state.tables.set(id, (t = new Map()));
    t.set(key, value);
  }
}

/**
 * Refuses (TableFullError, before anything changes) a batch that would leave a table of `state`
 * with more than MAX_TABLE_ENTRIES entries: such a table could not be loaded again.
 */
export function checkBatchFits(state: TablesState, batch: ChangeBatch, limit = MAX_TABLE_ENTRIES): void {
  const touched = new Map<number, Map<string, boolean>>();
  for (const { id, key, value } of batch.changes) {
    let t = touched.get(id);
    if (!t) touched.set(id, (t = new Map()));
    t.set(key, value !== undefined);
  }
  for (const [id, keys] of touched) {
    const before = batch.replace ? undefined : state.tables.get(id);
    let size = before?.size ?? 0;
    for (const [key, present] of keys) size += (present ? 1 : 0) - (before?.has(key) ? 1 : 0);
    if (size > limit) throw new TableFullError(id, limit);
  }
}

/** A copy of a state (its Maps copied; value bytes are never changed in place, so shared). */
export function copyState(state: TablesState): TablesState {
  return { homeId: state.homeId, nextId: state.nextId, tables: new Map([...state.tables].map(([id, t]) => [id, new Map(t)])) };
}

/**
 * A copy of `state` without the tables unreachable from `_home` (what a new VM starts from), and
 * the ids left out. `state` itself is not changed.
 */
export function pruneCopy(state: TablesState): { copy: TablesState; dropped: number[] } {
  const reachable = reachableTables(state.tables, [state.homeId]);
  const tables: Tables = new Map();
  const dropped: number[] = [];
  for (const [id, t] of state.tables) {
    if (reachable.has(id)) tables.set(id, new Map(t));
    else dropped.push(id);
  }
  return { copy: { homeId: state.homeId, nextId: state.nextId, tables }, dropped };
}

/**
 * Drops the tables that cannot be reached from `_home` (following tag-07 references), so that
 * overwritten nested data does not grow the state forever. Returns the ids dropped.
 */
export function dropUnreachable(state: TablesState): number[] {
  const reachable = reachableTables(state.tables, [state.homeId]);
  const dropped: number[] = [];
  for (const id of [...state.tables.keys()]) {
    if (!reachable.has(id)) {
      state.tables.delete(id);
      dropped.push(id);
    }
  }
  return dropped;
}
