// A store in PostgreSQL (Node only, on the `pg` client): one row per key, each save one
// transaction, a checksum on every row and on each VM's row set, a schema the package creates
// and migrates, and a lease with a fencing token so that a VM is live in one process at a time
// across every process and machine on the database (docs/PERSISTENCE.md, "PostgreSQL").
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import * as pgModule from 'pg';
import type { Pool, PoolClient } from 'pg';
import { crc32, StateCorruptError, Writer } from './format.js';
import { MAX_TABLE_ENTRIES } from '../host/limits.js';
import { applyBatch, Change, ChangeBatch, checkBatchFits, pruneCopy, StateTooLargeError, Store, TablesState } from './types.js';

// `pg` is CommonJS: an ES module sees it as the default export, CommonJS as the module itself.
const pg = ((pgModule as unknown as { default?: typeof pgModule }).default ?? pgModule) as typeof pgModule;

// {====== errors

/** The database's lua-home schema is newer than this package knows: nothing is read or written. */
export class SchemaVersionError extends Error {
  constructor(readonly found: number, readonly supported: number) {
    super(`the database holds lua-home schema version ${found}; this package reads and writes version ${supported} at most: ` +
      'upgrade lua-home (nothing was read or written)');
    this.name = 'SchemaVersionError';
  }
}

/** Another process holds the VM's lease, and it has not expired. */
export class LeaseHeldError extends Error {
  constructor(readonly vm: string, readonly owner: string, readonly leaseUntil: Date) {
    super(`VM '${vm}' is live in another process (${owner}) until ${leaseUntil.toISOString()} at least; ` +
      'close it there, or wait for its lease to expire');
    this.name = 'LeaseHeldError';
  }
}

/** This store no longer holds its VM's lease (it expired and another process took it): nothing was written. */
export class LeaseLostError extends Error {
  constructor(readonly vm: string, why: string) {
    super(`VM '${vm}': this store lost its lease (${why}); nothing was written. Its state is the other process's now: ` +
      'close this store and load again');
    this.name = 'LeaseLostError';
  }
}

// }======

export interface PostgresStoreOptions {
  /** A pool to use (the store never ends it). Give this or `connectionString`. */
  pool?: Pool;
  /** A connection string: the store makes its own pool, and ends it on close(). */
  connectionString?: string;
  /** The VM's id in the database (any non-empty text). */
  vm: string;
  /** How long a lease lasts without renewal, in ms (default 30,000). A dead process gives its VMs up after it. */
  leaseMs?: number;
  /** How often the lease is renewed while the store is open, in ms (default a third of leaseMs). */
  renewMs?: number;
  /** Who holds the lease, as shown in LeaseHeldError (default `host:pid:random`; unique per store). */
  owner?: string;
}

/** @internal Knobs for tests. */
export interface PostgresStoreInternals extends PostgresStoreOptions {
  maxTableEntries?: number;
  /** Do not renew the lease (a process that stopped). */
  noRenew?: boolean;
}

export interface PostgresSaveOptions {
  /** A VM image (`lua.saveImage()`) stored in the same transaction as the batch. */
  image?: Uint8Array;
}

/** The schema version this package writes. Version N is `MIGRATIONS[0..N)` applied in order. */
export const SCHEMA_VERSION = 1;

/** Migration i takes the schema from version i to i + 1 (DDL is transactional: all or nothing). */
const MIGRATIONS: string[] = [
  `CREATE TABLE lua_home_schema (
     only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
     version integer NOT NULL
   );
   CREATE TABLE lua_home_vms (
     id bigserial PRIMARY KEY,
     vm text NOT NULL UNIQUE,
     owner text,                   -- who holds the lease (NULL: nobody)
     token bigint NOT NULL DEFAULT 0, -- fencing token: +1 at every acquisition
     lease_until timestamptz,
     home_id bigint,               -- NULL: nothing saved yet
     next_id bigint,
     entries bigint NOT NULL DEFAULT 0,    -- rows of this VM in lua_home_entries
     entries_sum bigint NOT NULL DEFAULT 0, -- sum of their crc, mod 2^32
     meta_crc bigint,
     image bytea,
     image_crc bigint,
     saved_at timestamptz
   );
   CREATE TABLE lua_home_entries (
     vm_id bigint NOT NULL REFERENCES lua_home_vms (id) ON DELETE CASCADE,
     table_id bigint NOT NULL,
     key bytea NOT NULL,
     key_hash bytea NOT NULL GENERATED ALWAYS AS (sha256(key)) STORED, -- keys may pass a btree row's size
     value bytea NOT NULL,
     crc bigint NOT NULL,
     PRIMARY KEY (vm_id, table_id, key_hash)
   );`,
];

/** pg_advisory_xact_lock key of schema migrations ("lua_home" in ASCII). */
const SCHEMA_LOCK = '7815465279530823013';

/** A bytea parameter or value is sent as hex text: keep one under 1 GB of text. */
const MAX_VALUE_BYTES = 2 ** 29 - 1;
/** Rows and bytes per INSERT or DELETE statement of a save (a save may have any number of them). */
const CHUNK_ROWS = 5000;
const CHUNK_BYTES = 8 << 20;

// {====== checksums

const latin1 = (s: string) => Buffer.from(s, 'latin1');
const asBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** CRC-32 of one row: u32 vm row id (low) | u32 table id | u32 key length | key | value. */
function rowCrc(vmId: number, tableId: number, key: string, value: Uint8Array): number {
  const w = new Writer();
  w.u32(vmId);
  w.u32(tableId);
  w.u32(key.length);
  w.latin1(key);
  w.bytes(value);
  return crc32(w.result());
}

/** CRC-32 of a VM's record: u32 vm name length | name (UTF-8) | homeId | nextId | rows (2 u32) | rows' crc sum. */
function metaCrc(vm: string, homeId: number, nextId: number, entries: number, sum: number): number {
  const w = new Writer();
  const name = Buffer.from(vm, 'utf8');
  w.u32(name.length);
  w.bytes(name);
  w.u32(homeId);
  w.u32(nextId);
  w.u32(entries % 2 ** 32);
  w.u32(Math.floor(entries / 2 ** 32));
  w.u32(sum);
  return crc32(w.result());
}

// }======

/** Schema checks done, per pool (every store on a pool shares them). */
const schemaReady = new WeakMap<Pool, Promise<void>>();

/** Creates or migrates the schema under an advisory lock; refuses a newer one. */
export async function migrateSchema(pool: Pool, target = SCHEMA_VERSION): Promise<void> {
  const c = await pool.connect();
  let broken: Error | undefined;
  try {
    await c.query('BEGIN');
    await c.query(`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK})`); // two processes starting at once: one migrates, the other waits
    const exists = (await c.query(`SELECT to_regclass('lua_home_schema') IS NOT NULL AS e`)).rows[0].e as boolean;
    const found = exists ? Number((await c.query('SELECT version FROM lua_home_schema')).rows[0]?.version ?? 0) : 0;
    if (found > SCHEMA_VERSION) throw new SchemaVersionError(found, SCHEMA_VERSION);
    for (let v = found; v < target; v++) await c.query(MIGRATIONS[v]);
    if (found < target) {
      await c.query(`INSERT INTO lua_home_schema (version) VALUES ($1) ON CONFLICT (only_row) DO UPDATE SET version = $1`, [target]);
    }
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch((r: Error) => (broken = r));
    throw e;
  } finally {
    c.release(broken);
  }
}

interface Lease {
  vmId: number;
  token: string; // bigint, as text
}

export class PostgresStore implements Store {
  readonly vm: string;
  readonly owner: string;
  private readonly leaseMs: number;
  private readonly renewMs: number;
  private readonly maxTableEntries: number;
  private readonly noRenew: boolean;
  private readonly givenPool: Pool | undefined;
  private readonly connectionString: string | undefined;
  private ownPool: Pool | undefined;
  private lease: Lease | undefined;
  private lost: string | undefined; // why the lease was lost or given up (saves refused until load() or acquire())
  private served = false; // a VM was given this store's state, under the lease held (or last held)
  private timer: ReturnType<typeof setInterval> | undefined;
  private renewing = false;
  private state: TablesState | undefined;
  private loaded = false; // this.state is what the database holds
  private pristine = true; // nothing loaded or saved through this store yet
  private garbage = new Set<number>(); // tables no VM was ever given: deleted by the next save

  constructor(options: PostgresStoreOptions) {
    const internals = options as PostgresStoreInternals;
    if (!options || typeof options.vm !== 'string' || options.vm === '') throw new TypeError('PostgresStore needs a VM id: { vm: "..." }');
    if ((options.pool === undefined) === (options.connectionString === undefined)) {
      throw new TypeError('PostgresStore needs one of { pool } or { connectionString }');
    }
    this.vm = options.vm;
    this.givenPool = options.pool;
    this.connectionString = options.connectionString;
    this.leaseMs = options.leaseMs ?? 30_000;
    if (!(this.leaseMs > 0)) throw new RangeError('leaseMs must be positive');
    this.renewMs = options.renewMs ?? Math.max(1, Math.floor(this.leaseMs / 3));
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.maxTableEntries = internals.maxTableEntries ?? MAX_TABLE_ENTRIES;
    this.noRenew = internals.noRenew ?? false;
  }

  private get pool(): Pool {
    if (this.givenPool) return this.givenPool;
    if (!this.ownPool) {
      this.ownPool = new pg.Pool({ connectionString: this.connectionString, max: 2 });
      this.ownPool.on('error', () => undefined); // an idle client's connection ended: the pool replaces it
    }
    return this.ownPool;
  }

  private schema(): Promise<void> {
    let ready = schemaReady.get(this.pool);
    if (!ready) {
      ready = migrateSchema(this.pool);
      schemaReady.set(this.pool, ready);
      ready.catch(() => schemaReady.delete(this.pool)); // tried again next time
    }
    return ready;
  }

  /** Runs `body` in one transaction on one client: committed when it returns, rolled back when it throws. */
  private async transaction<T>(body: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      const result = await body(c);
      await c.query('COMMIT');
      return result;
    } catch (e) {
      await c.query('ROLLBACK').catch((r: Error) => (broken = r));
      throw e;
    } finally {
      c.release(broken);
    }
  }

  // {====== the lease

  /**
   * Takes the VM's lease (LeaseHeldError when another owner holds one that has not expired),
   * with a new fencing token, and renews it while the store is open. load() and save() call it.
   */
  async acquire(): Promise<void> {
    if (this.lease) return;
    await this.schema();
    this.lease = await this.transaction(async (c) => {
      await c.query('INSERT INTO lua_home_vms (vm) VALUES ($1) ON CONFLICT (vm) DO NOTHING', [this.vm]);
      const row = (await c.query(
        'SELECT id, owner, lease_until, lease_until > clock_timestamp() AS live FROM lua_home_vms WHERE vm = $1 FOR UPDATE', [this.vm])).rows[0];
      if (row.owner !== null && row.owner !== this.owner && row.live) throw new LeaseHeldError(this.vm, row.owner, row.lease_until);
      const taken = (await c.query(
        `UPDATE lua_home_vms SET owner = $2, token = token + 1, lease_until = clock_timestamp() + $3 * interval '1 millisecond'
         WHERE id = $1 RETURNING token`, [row.id, this.owner, this.leaseMs])).rows[0];
      return { vmId: Number(row.id), token: String(taken.token) };
    });
    this.lost = undefined;
    if (!this.noRenew) {
      this.timer = setInterval(() => void this.renew(), this.renewMs);
      this.timer.unref(); // the lease never keeps the process alive
    }
  }

  /** Extends the lease; finding it taken marks the store lost. A failed renewal is tried again at the next tick. */
  private async renew(): Promise<void> {
    const lease = this.lease;
    if (!lease || this.renewing) return;
    this.renewing = true;
    try {
      const r = await this.pool.query(
        `UPDATE lua_home_vms SET lease_until = clock_timestamp() + $3 * interval '1 millisecond'
         WHERE id = $1 AND owner = $2 AND token = $4`, [lease.vmId, this.owner, this.leaseMs, lease.token]);
      if (r.rowCount === 0 && this.lease === lease) this.loseLease('another process took it over after it expired');
    } catch {
      // the database is unreachable for now: saves are fenced anyway
    } finally {
      this.renewing = false;
    }
  }

  private loseLease(why: string): void {
    this.lost = why;
    this.lease = undefined;
    this.loaded = false;
    this.stopTimer();
  }

  /**
   * The lease a save writes under. The first save of a store takes it (and loads); after that a
   * save never takes a new one by itself: the VM's state was built under the old one, and another
   * process may have changed the VM since. load() or acquire() again to go on.
   */
  private async saveLease(): Promise<Lease> {
    if (!this.lease && !this.served) await this.load();
    const lease = this.lease;
    if (!lease) throw new LeaseLostError(this.vm, this.lost ?? 'the store was closed; load() it again');
    if (!this.loaded) {
      this.state = await this.read(lease); // after a failed COMMIT: what the database holds now
      this.loaded = true;
    }
    return lease;
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Inside a save's transaction: locks the VM's row and checks that our token is still the row's. */
  private async fence(c: PoolClient, lease: Lease): Promise<void> {
    const row = (await c.query('SELECT owner, token FROM lua_home_vms WHERE id = $1 FOR UPDATE', [lease.vmId])).rows[0];
    if (!row || row.owner !== this.owner || String(row.token) !== lease.token) {
      throw new LeaseLostError(this.vm, row?.owner ? `it is held by ${row.owner} now` : 'it was released or taken over');
    }
  }

  // }======

  // {====== loading

  /** Reads and verifies the VM's rows (in one snapshot); nothing is written. */
  private async read(lease: Lease): Promise<TablesState | undefined> {
    const where = `VM '${this.vm}' in PostgreSQL`;
    return this.transaction(async (c) => {
      await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const meta = (await c.query('SELECT home_id, next_id, entries, entries_sum, meta_crc FROM lua_home_vms WHERE id = $1', [lease.vmId])).rows[0];
      const rows = (await c.query('SELECT table_id, key, value, crc FROM lua_home_entries WHERE vm_id = $1', [lease.vmId])).rows;
      if (meta.home_id === null) {
        if (rows.length) throw new StateCorruptError(where, `${rows.length} rows, and no saved state`);
        return undefined;
      }
      const homeId = Number(meta.home_id);
      const nextId = Number(meta.next_id);
      const entries = Number(meta.entries);
      const entriesSum = Number(meta.entries_sum);
      if (meta.meta_crc === null || metaCrc(this.vm, homeId, nextId, entries, entriesSum) !== Number(meta.meta_crc)) {
        throw new StateCorruptError(where, 'checksum mismatch in its record (lua_home_vms)');
      }
      if (homeId === 0) throw new StateCorruptError(where, 'no _home table');
      const tables: TablesState['tables'] = new Map();
      let sum = 0;
      for (const row of rows) {
        const id = Number(row.table_id);
        const key = (row.key as Buffer).toString('latin1');
        const value = new Uint8Array(row.value as Buffer);
        const crc = rowCrc(lease.vmId, id, key, value);
        if (crc !== Number(row.crc)) throw new StateCorruptError(where, `checksum mismatch in the row of table ${id}, key ${JSON.stringify(key.slice(0, 40))}`);
        sum = (sum + crc) % 2 ** 32;
        let t = tables.get(id);
        if (!t) tables.set(id, (t = new Map()));
        t.set(key, value);
      }
      if (rows.length !== entries || sum !== entriesSum) {
        throw new StateCorruptError(where, `its rows (${rows.length}) are not the rows it saved (${entries}): rows were lost, added or changed`);
      }
      return { homeId, nextId, tables };
    });
  }

  /**
   * Takes the lease and returns the saved state, as a copy without the tables unreachable from
   * `_home`. Loading changes nothing the store holds (the lease aside). A refused load gives the
   * lease back.
   */
  async load(): Promise<TablesState | undefined> {
    await this.acquire();
    let state: TablesState | undefined;
    try {
      state = await this.read(this.lease as Lease);
    } catch (e) {
      await this.close();
      throw e;
    }
    this.state = state;
    this.loaded = true;
    this.served = true;
    if (!state) return undefined;
    const { copy, dropped } = pruneCopy(state);
    if (this.pristine) this.garbage = new Set(dropped); // no VM was given them, through this store or before it
    this.pristine = false;
    return copy;
  }

  /** The VM image saved last, verified; undefined when there is none (or a save since had none). Takes the lease. */
  async loadImage(): Promise<Uint8Array | undefined> {
    await this.acquire();
    const lease = this.lease as Lease;
    const row = (await this.pool.query('SELECT image, image_crc FROM lua_home_vms WHERE id = $1', [lease.vmId])).rows[0];
    if (row.image === null) return undefined;
    const image = new Uint8Array(row.image as Buffer);
    if (row.image_crc === null || crc32(image) !== Number(row.image_crc)) {
      throw new StateCorruptError(`the image of VM '${this.vm}' in PostgreSQL`, 'checksum mismatch');
    }
    return image;
  }

  // }======

  // {====== saving

  /**
   * Applies one batch in one transaction, fenced by the lease: all of it or nothing. With
   * `{ image }`, the image is stored in the same transaction; without, the stored image is
   * discarded (it would be older than the tables).
   */
  async save(batch: ChangeBatch, options: PostgresSaveOptions = {}): Promise<void> {
    const lease = await this.saveLease();
    this.pristine = false;
    checkBatchFits(this.state ?? { homeId: 0, nextId: 0, tables: new Map() }, batch, this.maxTableEntries);
    const changes = lastPerKey(batch.changes);
    for (const ch of changes) {
      if (ch.value && ch.value.length > MAX_VALUE_BYTES) throw new StateTooLargeError(`a value of ${ch.value.length} bytes`, MAX_VALUE_BYTES);
    }
    const image = options.image;
    if (image && image.length > MAX_VALUE_BYTES) throw new StateTooLargeError(`a VM image of ${image.length} bytes`, MAX_VALUE_BYTES);
    const touched = new Set(changes.map((ch) => ch.id));
    const garbage = batch.replace ? [] : [...this.garbage].filter((id) => !touched.has(id)); // a table given a key is in use again
    try {
      await this.transaction(async (c) => {
        await this.fence(c, lease);
        const meta = (await c.query('SELECT entries, entries_sum FROM lua_home_vms WHERE id = $1', [lease.vmId])).rows[0];
        let entries = Number(meta.entries);
        let sum = Number(meta.entries_sum);
        const removed = (crcs: { crc: string }[]) => {
          for (const r of crcs) sum = (sum - Number(r.crc) + 2 ** 32) % 2 ** 32;
          entries -= crcs.length;
        };
        if (batch.replace) {
          await c.query('DELETE FROM lua_home_entries WHERE vm_id = $1', [lease.vmId]);
          entries = 0;
          sum = 0;
        } else {
          if (garbage.length) {
            removed((await c.query('DELETE FROM lua_home_entries WHERE vm_id = $1 AND table_id = ANY($2::bigint[]) RETURNING crc',
              [lease.vmId, garbage])).rows);
          }
          for (const part of chunks(changes)) {
            removed((await c.query(
              `DELETE FROM lua_home_entries e USING unnest($2::bigint[], $3::bytea[]) AS k(table_id, key)
               WHERE e.vm_id = $1 AND e.table_id = k.table_id AND e.key_hash = sha256(k.key) RETURNING e.crc`,
              [lease.vmId, part.map((ch) => ch.id), part.map((ch) => latin1(ch.key))])).rows);
          }
        }
        for (const part of chunks(changes.filter((ch) => ch.value !== undefined))) {
          const crcs = part.map((ch) => rowCrc(lease.vmId, ch.id, ch.key, ch.value as Uint8Array));
          await c.query(
            `INSERT INTO lua_home_entries (vm_id, table_id, key, value, crc)
             SELECT $1::bigint, * FROM unnest($2::bigint[], $3::bytea[], $4::bytea[], $5::bigint[])`,
            [lease.vmId, part.map((ch) => ch.id), part.map((ch) => latin1(ch.key)), part.map((ch) => asBuffer(ch.value as Uint8Array)), crcs]);
          for (const crc of crcs) sum = (sum + crc) % 2 ** 32;
          entries += part.length;
        }
        await c.query(
          `UPDATE lua_home_vms SET home_id = $2, next_id = $3, entries = $4, entries_sum = $5, meta_crc = $6,
             image = $7, image_crc = $8, saved_at = clock_timestamp(),
             lease_until = greatest(lease_until, clock_timestamp() + $9 * interval '1 millisecond')
           WHERE id = $1`,
          [lease.vmId, batch.homeId, batch.nextId, entries, sum, metaCrc(this.vm, batch.homeId, batch.nextId, entries, sum),
            image ? asBuffer(image) : null, image ? crc32(image) : null, this.leaseMs]);
      });
    } catch (e) {
      if (e instanceof LeaseLostError) this.loseLease('another process took it over after it expired');
      // The outcome of a failed COMMIT is unknown: read the state again before the next save.
      else this.loaded = false;
      throw e;
    }
    this.state ??= { homeId: batch.homeId, nextId: batch.nextId, tables: new Map() };
    applyBatch(this.state, batch);
    if (batch.replace) this.garbage.clear();
    else for (const id of garbage) this.state.tables.delete(id);
    for (const id of garbage) this.garbage.delete(id);
    for (const ch of changes) this.garbage.delete(ch.id);
  }

  /** Stores a VM image (`lua.saveImage()`) on its own, fenced by the lease. The tables are not changed. */
  async saveImage(image: Uint8Array): Promise<void> {
    const lease = await this.saveLease();
    if (image.length > MAX_VALUE_BYTES) throw new StateTooLargeError(`a VM image of ${image.length} bytes`, MAX_VALUE_BYTES);
    try {
      await this.transaction(async (c) => {
        await this.fence(c, lease);
        await c.query('UPDATE lua_home_vms SET image = $2, image_crc = $3 WHERE id = $1', [lease.vmId, asBuffer(image), crc32(image)]);
      });
    } catch (e) {
      if (e instanceof LeaseLostError) this.loseLease('another process took it over after it expired');
      throw e;
    }
  }

  // }======

  /** Gives the lease back (another process may take the VM at once) and ends a pool the store made. */
  async close(): Promise<void> {
    this.stopTimer();
    const lease = this.lease;
    this.lease = undefined;
    if (lease) this.lost = 'the store was closed; load() it again';
    this.loaded = false;
    this.state = undefined;
    try {
      if (lease) {
        await this.pool.query('UPDATE lua_home_vms SET owner = NULL, lease_until = NULL WHERE id = $1 AND owner = $2 AND token = $3',
          [lease.vmId, this.owner, lease.token]);
      }
    } finally {
      const own = this.ownPool;
      this.ownPool = undefined;
      if (own) {
        schemaReady.delete(own);
        await own.end();
      }
    }
  }
}

/** The batch's changes with one per key (the last), in order. */
function lastPerKey(changes: Change[]): Change[] {
  const last = new Map<string, number>();
  changes.forEach((ch, i) => last.set(`${ch.id}:${ch.key}`, i));
  return last.size === changes.length ? changes : changes.filter((ch, i) => last.get(`${ch.id}:${ch.key}`) === i);
}

/** Splits changes into statements of at most CHUNK_ROWS rows and about CHUNK_BYTES bytes. */
function* chunks(changes: Change[]): Generator<Change[]> {
  let part: Change[] = [];
  let bytes = 0;
  for (const ch of changes) {
    const size = ch.key.length + (ch.value?.length ?? 0);
    if (part.length && (part.length >= CHUNK_ROWS || bytes + size > CHUNK_BYTES)) {
      yield part;
      part = [];
      bytes = 0;
    }
    part.push(ch);
    bytes += size;
  }
  if (part.length) yield part;
}
