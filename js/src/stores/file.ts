// A crash-safe store in a directory (Node only): a checksummed snapshot, an append-only
// journal of checksummed records (one per save) written whole and fsync'ed before save()
// resolves, compaction into a new snapshot switched in atomically, and a lock against a second
// writer (another process, or another store in this process).
import {
  closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync,
  renameSync, rmSync, writeFileSync, writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { decodeJournal, decodeState, encodeJournalHeader, encodeRecord, encodeState, JOURNAL_HEADER_BYTES, StateCorruptError } from './format.js';
import { MAX_TABLE_ENTRIES } from '../host/limits.js';
import { applyBatch, ChangeBatch, checkBatchFits, copyState, MAX_FILE_BYTES, pruneCopy, StateTooLargeError, Store, TablesState } from './types.js';

/** Another live process, or another store of this process, holds the state's lock. */
export class StateLockedError extends Error {
  constructor(readonly dir: string, readonly pid: number) {
    super(pid === process.pid
      ? `the state in ${dir} is already open in this process (another NodeFileStore on the same directory); close that store first`
      : `the state in ${dir} is in use by process ${pid}`);
    this.name = 'StateLockedError';
  }
}

/** A write or fsync of the store failed (a full disk, an I/O error): the save did not happen. */
export class StoreWriteError extends Error {
  readonly code: string | undefined;

  constructor(what: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    super(`${what} failed${code ? ` (${code})` : ''}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'StoreWriteError';
    this.code = code;
  }
}

export interface FileStoreOptions {
  /** Compact when the journal is larger than this many bytes and than the snapshot (default 1 MiB). */
  compactAfter?: number;
}

/** @internal The store's writes go through these (tests inject faults here). */
export interface FileOps {
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  fsyncSync(fd: number): void;
  ftruncateSync(fd: number, length: number): void;
}

/** @internal Options for tests: the fault-injection seam and a lower file size limit. */
export interface FileStoreInternals extends FileStoreOptions {
  fileOps?: FileOps;
  maxFileBytes?: number;
  maxTableEntries?: number;
}

const realOps: FileOps = {
  writeSync: (fd, buffer, offset, length, position) => writeSync(fd, buffer, offset, length, position),
  fsyncSync: (fd) => fsyncSync(fd),
  ftruncateSync: (fd, length) => ftruncateSync(fd, length),
};

const SNAPSHOT = 'snapshot';
const LOCK = 'lock';
const journalName = (generation: number) => `journal-${generation}`;

/** Directories held by a NodeFileStore of this process (by real path), shared by every copy of the package. */
const held: Set<string> = ((globalThis as Record<symbol, unknown>)[Symbol.for('lua-home.file-store.held')] ??= new Set<string>()) as Set<string>;

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

/** Writes every byte at `position` (looping on short writes); a write making no progress fails. */
function writeAll(ops: FileOps, fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) {
    const n = ops.writeSync(fd, bytes, done, bytes.length - done, position + done);
    if (!(n > 0)) throw Object.assign(new Error(`a write made no progress (${done} of ${bytes.length} bytes written)`), { code: 'ENOSPC' });
    done += n;
  }
}

export class NodeFileStore implements Store {
  private state: TablesState | undefined;
  private generation = 0;
  private journal: number | undefined; // fd, open for writing at journalBytes
  private journalBytes = 0; // the journal's last good length: every byte of it durable
  private journalTail = false; // bytes past journalBytes may be on disk (a torn record): cut them first
  private snapshotBytes = 0;
  private locked = false;
  private heldPath: string | undefined;
  private pristine = true; // nothing loaded or saved through this store yet
  private garbage = new Set<number>(); // tables no VM was ever given: dropped at the next compaction
  private readonly compactAfter: number;
  private readonly ops: FileOps;
  private readonly maxFileBytes: number;
  private readonly maxTableEntries: number;
  /** @internal The last compaction that failed (the save before it was kept; compaction is retried). */
  compactionError: unknown = undefined;

  constructor(readonly dir: string, options: FileStoreOptions = {}) {
    const internals = options as FileStoreInternals;
    this.compactAfter = options.compactAfter ?? 1 << 20;
    this.ops = internals.fileOps ?? realOps;
    this.maxFileBytes = internals.maxFileBytes ?? MAX_FILE_BYTES;
    this.maxTableEntries = internals.maxTableEntries ?? MAX_TABLE_ENTRIES;
  }

  private lock(): void {
    if (this.locked) return;
    mkdirSync(this.dir, { recursive: true });
    const real = realpathSync(this.dir);
    if (held.has(real)) throw new StateLockedError(this.dir, process.pid);
    const path = join(this.dir, LOCK);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(path, String(process.pid), { flag: 'wx' });
        this.locked = true;
        this.heldPath = real;
        held.add(real);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const pid = Number(readFileSync(path, 'utf8'));
        // Our own pid with no store of ours holding it: left by an earlier process that had our pid.
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
    this.snapshotBytes = 0;
    if (existsSync(snapshotPath)) {
      const bytes = readFileSync(snapshotPath);
      ({ state, generation } = decodeState(bytes, `the snapshot ${snapshotPath}`));
      this.snapshotBytes = bytes.length;
    }
    const journalPath = join(this.dir, journalName(generation));
    this.generation = generation;
    this.journalBytes = 0;
    this.journalTail = false;
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
      this.journalTail = journal.end < bytes.length; // a record cut short by a crash
    }
    return state;
  }

  /**
   * The saved state, as a copy without the tables unreachable from `_home`. Loading changes
   * nothing the store holds: a VM that loaded earlier may still keep such a table in a global.
   */
  async load(): Promise<TablesState | undefined> {
    this.lock();
    let state: TablesState | undefined;
    try {
      if (this.journal !== undefined) closeSync(this.journal);
      this.journal = undefined;
      state = this.read();
    } catch (e) {
      await this.close(); // refused: nothing was written, and the lock is not kept
      throw e;
    }
    this.state = state;
    if (!state) return undefined;
    const { copy, dropped } = pruneCopy(state);
    if (this.pristine) this.garbage = new Set(dropped); // no VM was given them, through this store or before it
    this.pristine = false;
    return copy;
  }

  private openJournal(): number {
    if (this.journal !== undefined) return this.journal;
    const path = join(this.dir, journalName(this.generation));
    if (!existsSync(path)) {
      this.writeFile(path, encodeJournalHeader(this.generation));
      this.syncDir();
      this.journalBytes = JOURNAL_HEADER_BYTES;
      this.journalTail = false;
    }
    this.journal = openSync(path, 'r+');
    return this.journal;
  }

  /** Cuts the journal back to its last good length (a torn record must not precede the next one). */
  private cutTail(fd: number): void {
    this.ops.ftruncateSync(fd, this.journalBytes);
    this.ops.fsyncSync(fd);
    this.journalTail = false;
  }

  async save(batch: ChangeBatch): Promise<void> {
    if (!this.locked) await this.load();
    this.pristine = false;
    checkBatchFits(this.state ?? { homeId: 0, nextId: 0, tables: new Map() }, batch, this.maxTableEntries);
    if (batch.replace) return this.replace(batch);
    const record = encodeRecord(batch);
    if (record.length + JOURNAL_HEADER_BYTES > this.maxFileBytes) {
      throw new StateTooLargeError(`one save of ${record.length} bytes`, this.maxFileBytes);
    }
    if (this.journalBytes + record.length > this.maxFileBytes) this.compact(); // the journal must stay readable
    let fd: number;
    try {
      fd = this.openJournal();
      if (this.journalTail) this.cutTail(fd);
    } catch (e) {
      throw new StoreWriteError(`saving to ${this.dir}`, e);
    }
    try {
      this.journalTail = true;
      writeAll(this.ops, fd, record, this.journalBytes);
      this.ops.fsyncSync(fd); // durable before save() resolves
    } catch (e) {
      try {
        this.cutTail(fd);
      } catch {
        // cut before the next append (journalTail stays set); a reload drops a torn tail anyway
      }
      throw new StoreWriteError(`saving to ${this.dir}`, e);
    }
    this.journalTail = false;
    this.journalBytes += record.length;
    this.state ??= { homeId: batch.homeId, nextId: batch.nextId, tables: new Map() };
    applyBatch(this.state, batch);
    for (const c of batch.changes) if (this.garbage.size) this.garbage.delete(c.id);
    if (this.journalBytes > this.compactAfter && this.journalBytes > this.snapshotBytes) {
      try {
        this.compact(); // the save is durable already: a failed compaction is retried at the next one
        this.compactionError = undefined;
      } catch (e) {
        this.compactionError = e;
      }
    }
  }

  /** A batch holding the whole state: it becomes the snapshot of a new generation, all at once. */
  private replace(batch: ChangeBatch): void {
    const state: TablesState = { homeId: batch.homeId, nextId: batch.nextId, tables: new Map() };
    applyBatch(state, { ...batch, replace: false });
    this.garbage.clear();
    this.compactTo(state);
  }

  /** Writes `bytes` as the file `path` all at once: a temporary file, fsync, check, rename, fsync the directory. */
  private writeFile(path: string, bytes: Uint8Array): void {
    const tmp = `${path}.tmp`;
    try {
      const fd = openSync(tmp, 'w');
      try {
        writeAll(this.ops, fd, bytes, 0);
        this.ops.fsyncSync(fd);
        const size = fstatSync(fd).size;
        if (size !== bytes.length) throw new Error(`${tmp} has ${size} bytes after writing ${bytes.length}`);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw new StoreWriteError(`writing ${path}`, e);
    }
  }

  private syncDir(): void {
    try {
      fsyncDir(this.dir);
    } catch (e) {
      throw new StoreWriteError(`syncing the directory ${this.dir}`, e);
    }
  }

  /** Writes the whole state as a new snapshot and starts a new journal generation. */
  compact(): void {
    if (!this.state) return;
    // Tables unreachable from _home are kept: the running VM may still hold one (in a global)
    // and store it back later, with only the reference marked as changed. Only those no VM was
    // ever given (unreachable when this store first loaded) are dropped.
    if (this.garbage.size) {
      const kept = copyState(this.state);
      for (const id of this.garbage) kept.tables.delete(id);
      this.compactTo(kept);
      this.garbage.clear();
    } else {
      this.compactTo(this.state);
    }
  }

  // The new snapshot and its empty journal are written and durable before the switch (the
  // snapshot's rename); the old journal is removed only after it. A failure before the switch
  // leaves the old snapshot and journal in charge, untouched.
  private compactTo(state: TablesState): void {
    const next = this.generation + 1;
    const bytes = encodeState(state, next);
    if (bytes.length > this.maxFileBytes) throw new StateTooLargeError(`a snapshot of ${bytes.length} bytes`, this.maxFileBytes);
    const nextJournal = join(this.dir, journalName(next));
    try {
      this.writeFile(nextJournal, encodeJournalHeader(next));
      this.writeFile(join(this.dir, SNAPSHOT), bytes); // the switch: before it the old state, after it the new
    } catch (e) {
      rmSync(nextJournal, { force: true });
      throw e;
    }
    if (this.journal !== undefined) closeSync(this.journal);
    this.journal = undefined;
    const previous = join(this.dir, journalName(this.generation));
    this.state = state;
    this.generation = next;
    this.snapshotBytes = bytes.length;
    this.journalBytes = JOURNAL_HEADER_BYTES;
    this.journalTail = false;
    this.syncDir(); // the old journal goes only once the switch is durable
    rmSync(previous, { force: true });
    for (const f of readdirSync(this.dir)) {
      const m = /^journal-(\d+)$/.exec(f);
      if (m && Number(m[1]) !== next) rmSync(join(this.dir, f), { force: true });
    }
  }

  async close(): Promise<void> {
    if (this.journal !== undefined) closeSync(this.journal);
    this.journal = undefined;
    if (this.locked) rmSync(join(this.dir, LOCK), { force: true });
    if (this.heldPath !== undefined) held.delete(this.heldPath);
    this.heldPath = undefined;
    this.locked = false;
  }
}
