// The default store: in memory, for the life of the process.
import { applyBatch, ChangeBatch, dropUnreachable, Store, TablesState } from './types.js';

export class MemoryStore implements Store {
  private state: TablesState | undefined;

  async load(): Promise<TablesState | undefined> {
    if (!this.state) return undefined;
    dropUnreachable(this.state); // a VM starts from it: nothing else can reach those tables
    const tables = new Map([...this.state.tables].map(([id, t]) => [id, new Map(t)]));
    return { homeId: this.state.homeId, nextId: this.state.nextId, tables };
  }

  async save(batch: ChangeBatch): Promise<void> {
    this.state ??= { homeId: batch.homeId, nextId: batch.nextId, tables: new Map() };
    applyBatch(this.state, batch);
  }

  async close(): Promise<void> {}
}
