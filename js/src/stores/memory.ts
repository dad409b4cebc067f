// The default store: in memory, for the life of the process.
import { applyBatch, ChangeBatch, checkBatchFits, pruneCopy, Store, TablesState } from './types.js';

const EMPTY: TablesState = { homeId: 0, nextId: 0, tables: new Map() };

export class MemoryStore implements Store {
  private state: TablesState | undefined;

  /**
   * A copy of the saved state without the tables unreachable from `_home`. The store's own copy
   * is never changed by loading: a VM that loaded earlier may still hold such a table.
   */
  async load(): Promise<TablesState | undefined> {
    return this.state && pruneCopy(this.state).copy;
  }

  async save(batch: ChangeBatch): Promise<void> {
    checkBatchFits(this.state ?? EMPTY, batch); // all of the batch or nothing
    if (!this.state || batch.replace) this.state = { homeId: batch.homeId, nextId: batch.nextId, tables: new Map() };
    applyBatch(this.state, batch);
  }

  async close(): Promise<void> {}
}
