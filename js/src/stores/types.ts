// The data model of persistence, and the interface every store implements.
import { reachableTables } from '../host/tables.js';

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
}

/**
 * Where `_home` is kept. `save` is durable and atomic when its promise resolves: after a crash,
 * `load` gives the state of some completed save, never a mix.
 */
export interface Store {
  /** The saved state, or undefined when nothing was ever saved. */
  load(): Promise<TablesState | undefined>;
  save(batch: ChangeBatch): Promise<void>;
  close(): Promise<void>;
}

/** Applies a batch to tables (deleting emptied tables). */
export function applyBatch(state: TablesState, batch: ChangeBatch): void {
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
