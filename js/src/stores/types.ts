// The data model of persistence, and the interface every store implements.

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
  const reachable = new Set<number>([state.homeId]);
  const pending = [state.homeId];
  while (pending.length) {
    const t = state.tables.get(pending.pop() as number);
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
  const dropped: number[] = [];
  for (const id of [...state.tables.keys()]) {
    if (!reachable.has(id)) {
      state.tables.delete(id);
      dropped.push(id);
    }
  }
  return dropped;
}
