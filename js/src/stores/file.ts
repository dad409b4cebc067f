// A crash-safe store in a directory (Node only): a checksummed snapshot, an append-only
// journal of checksummed records (one per save) fsync'ed before save() resolves, compaction
// into a new snapshot switched in atomically, and a lock against a second writer.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, truncateSync, writeSync, mkdirSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJournal, decodeState, encodeJournalHeader, encodeRecord, encodeState, JOURNAL_HEADER_BYTES, StateCorruptError } from './format.js';
import { applyBatch, ChangeBatch, dropUnreachable, Store, TablesState } from './types.js';

/** Another live process holds the state's lock. */
export class StateLockedError extends Error {
  constructor(dir: string, pid: number) {
    super(`the state in ${dir} is in use by process ${pid}`);
    this.name = 'StateLockedError';
  }
}

export interface FileStoreOptions {
  /** Compact when the journal is larger than this many bytes and than the snapshot (default 1 MiB). */
  compactAfter?: number;
}

const SNAPSHOT = 'snapshot';
const LOCK = 'lock';
const journalName = (generation: number) => `journal-${generation}`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeDurably(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class NodeFileStore implements Store {
  private state: TablesState | undefined;
  private generation = 0;
  private journal: number | undefined; // fd, open for appending
  private journalBytes = 0;
  private snapshotBytes = 0;
  private locked = false;
  private readonly compactAfter: number;

  constructor(readonly dir: string, options: FileStoreOptions = {}) {
    this.compactAfter = options.compactAfter ?? 1 << 20;
  }

  private lock(): void {
    if (this.locked) return;
    mkdirSync(this.dir, { recursive: true });
    const path = join(this.dir, LOCK);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(path, String(process.pid), { flag: 'wx' });
        this.locked = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const pid = Number(readFileSync(path, 'utf8'));
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new StateLockedError(this.dir, pid);
        rmSync(path, { force: true }); // stale: its process is gone
      }
    }
    throw new Error(`cannot take the lock of ${this.dir}`);
  }

  /** Reads the snapshot and replays its journal. Damage is refused; nothing is written. */
  private read(): TablesState | undefined {
    const snapshotPath = join(this.dir, SNAPSHOT);
    let state: TablesState | undefined;
    let generation = 0;
    if (existsSync(snapshotPath)) {
      const bytes = readFileSync(snapshotPath);
      ({ state, generation } = decodeState(bytes, `the snapshot ${snapshotPath}`));
      this.snapshotBytes = bytes.length;
    }
    const journalPath = join(this.dir, journalName(generation));
    this.generation = generation;
    this.journalBytes = 0;
    if (existsSync(journalPath)) {
      const bytes = readFileSync(journalPath);
      const journal = decodeJournal(bytes, `the journal ${journalPath}`);
      if (journal.generation !== generation) {
        throw new StateCorruptError(`the journal ${journalPath}`, `generation ${journal.generation}, expected ${generation}`);
      }
      for (const batch of journal.batches) {
        state ??= { homeId: batch.homeId, nextId: batch.nextId, tables: new Map() };
        applyBatch(state, batch);
      }
      this.journalBytes = journal.end;
      if (journal.end < bytes.length) this.tornTail = journal.end;
    }
    return state;
  }

  private tornTail: number | undefined;

  async load(): Promise<TablesState | undefined> {
    this.lock();
    let state: TablesState | undefined;
    try {
      state = this.read();
    } catch (e) {
      await this.close(); // refused: nothing was written, and the lock is not kept
      throw e;
    }
    if (state) dropUnreachable(state);
    this.state = state;
    return state && { homeId: state.homeId, nextId: state.nextId, tables: new Map([...state.tables].map(([id, t]) => [id, new Map(t)])) };
  }

  private openJournal(): number {
    if (this.journal !== undefined) return this.journal;
    const path = join(this.dir, journalName(this.generation));
    if (!existsSync(path)) {
      writeDurably(path, encodeJournalHeader(this.generation));
      fsyncDir(this.dir);
      this.journalBytes = JOURNAL_HEADER_BYTES;
    } else if (this.tornTail !== undefined) {
      truncateSync(path, this.tornTail); // drop a record cut short by a crash before appending
      this.tornTail = undefined;
    }
    this.journal = openSync(path, 'a');
    return this.journal;
  }

  async save(batch: ChangeBatch): Promise<void> {
    if (!this.locked) await this.load();
    const fd = this.openJournal();
    const record = encodeRecord(batch);
    writeSync(fd, record);
    fsyncSync(fd); // durable before save() resolves
    this.journalBytes += record.length;
    this.state ??= { homeId: batch.homeId, nextId: batch.nextId, tables: new Map() };
    applyBatch(this.state, batch);
    if (this.journalBytes > this.compactAfter && this.journalBytes > this.snapshotBytes) this.compact();
  }

  /** Writes the whole state as a new snapshot and starts a new journal generation. */
  compact(): void {
    if (!this.state) return;
    // No garbage collection here: the running VM may still hold a table that is unreachable
    // from _home now (in a global) and store it back later, with only the reference marked as
    // changed. Tables unreachable from _home were dropped when the state was loaded (no VM held
    // them then), so they leave the snapshot at the first compaction after a load.
    const next = this.generation + 1;
    const bytes = encodeState(this.state, next);
    const tmp = join(this.dir, `${SNAPSHOT}.tmp`);
    writeDurably(tmp, bytes);
    writeDurably(join(this.dir, journalName(next)), encodeJournalHeader(next));
    renameSync(tmp, join(this.dir, SNAPSHOT)); // the switch: before it the old state, after it the new
    fsyncDir(this.dir);
    if (this.journal !== undefined) closeSync(this.journal);
    this.journal = undefined;
    rmSync(join(this.dir, journalName(this.generation)), { force: true });
    this.generation = next;
    this.snapshotBytes = bytes.length;
    this.journalBytes = JOURNAL_HEADER_BYTES;
    for (const f of readdirSync(this.dir)) {
      const m = /^journal-(\d+)$/.exec(f);
      if (m && Number(m[1]) !== next) rmSync(join(this.dir, f), { force: true });
    }
  }

  async close(): Promise<void> {
    if (this.journal !== undefined) closeSync(this.journal);
    this.journal = undefined;
    if (this.locked) rmSync(join(this.dir, LOCK), { force: true });
    this.locked = false;
  }
}
