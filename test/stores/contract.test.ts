// The store contract, run against every store that keeps state (the file store, PostgreSQL on a
// real private server) and, where it applies, the memory store: a VM's _home survives through
// the store, saves write only what changed, a replacing save leaves exactly the new state, a
// failed compute is never saved, damage is refused and never written over, tables past the
// limit are refused, one writer at a time, and loading writes nothing.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { Lua, LuaError, MemoryStore, NodeFileStore, StateCorruptError, StateLockedError, Store, TableFullError } from '../../js/src/node';
import { LeaseHeldError, PostgresStore } from '../../js/src/postgres';
import type { FileStoreInternals } from '../../js/src/stores/file';
import { migrateSchema } from '../../js/src/stores/postgres';
import { PostgresServer, startPostgres } from '../support/postgres';

/** One place a state is kept (a directory, a VM id in a database), and how to look inside it. */
interface Place {
  /** A new store object on this place (the memory store: the same one). */
  open(limits?: { maxTableEntries?: number }): Store;
  /** Units written since the last call (bytes, rows); undefined when the store cannot tell. */
  written?(): Promise<number>;
  /** Damages one stored value. */
  corrupt?(): Promise<void>;
  /** Everything stored, for before/after comparisons (the lock or lease aside). */
  dump?(): Promise<string>;
  /** The error of a second writer. */
  lockedError?: new (...args: never[]) => Error;
}

let server: PostgresServer;
let pool: Pool;
let tmp: string;
let places = 0;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lua-home-contract-'));
  server = await startPostgres();
  pool = server.pool(await server.createDatabase());
  await migrateSchema(pool);
  await pool.query(`CREATE TABLE touched (op text);
    CREATE FUNCTION count_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO touched VALUES (TG_OP); RETURN NULL; END $$;
    CREATE TRIGGER count_touch AFTER INSERT OR UPDATE OR DELETE ON lua_home_entries FOR EACH ROW EXECUTE FUNCTION count_touch();`);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function memoryPlace(): Place {
  const store = new MemoryStore();
  return { open: () => store };
}

function filePlace(): Place {
  const dir = join(tmp, `state-${++places}`);
  const size = () => readdirSync(dir).filter((f) => f !== 'lock').reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  let last = 0;
  return {
    open: (limits: FileStoreInternals = {}) => new NodeFileStore(dir, limits),
    async written() {
      const now = size();
      const grew = now - last;
      last = now;
      return grew;
    },
    async corrupt() {
      const journal = readdirSync(dir).find((f) => f.startsWith('journal-') && !f.endsWith('.tmp')) as string;
      const bytes = readFileSync(join(dir, journal));
      bytes[bytes.length - 2] ^= 0x20; // inside the last record's last value
      writeFileSync(join(dir, journal), bytes);
    },
    async dump() {
      return readdirSync(dir).filter((f) => f !== 'lock').sort().map((f) => `${f}:${readFileSync(join(dir, f)).toString('hex')}`).join('\n');
    },
    lockedError: StateLockedError,
  };
}

function postgresPlace(): Place {
  const vm = `vm-${++places}`;
  return {
    open: (limits = {}) => new PostgresStore({ pool, vm, ...limits }),
    async written() {
      const n = Number((await pool.query('SELECT count(*) AS n FROM touched')).rows[0].n);
      await pool.query('TRUNCATE touched');
      return n;
    },
    async corrupt() {
      await pool.query(`UPDATE lua_home_entries SET value = overlay(value placing '\\x21'::bytea from length(value) for 1)
        WHERE ctid = (SELECT e.ctid FROM lua_home_entries e JOIN lua_home_vms m ON m.id = e.vm_id WHERE m.vm = $1 LIMIT 1)`, [vm]);
    },
    async dump() {
      const meta = await pool.query('SELECT home_id, next_id, entries, entries_sum, meta_crc, image, image_crc FROM lua_home_vms WHERE vm = $1', [vm]);
      const rows = await pool.query(`SELECT table_id, encode(key, 'hex') k, encode(value, 'hex') v, crc FROM lua_home_entries e
        JOIN lua_home_vms m ON m.id = e.vm_id WHERE m.vm = $1 ORDER BY table_id, key`, [vm]);
      return JSON.stringify([meta.rows, rows.rows]);
    },
    lockedError: LeaseHeldError,
  };
}

const all: [string, () => Place][] = [['MemoryStore', memoryPlace], ['NodeFileStore', filePlace], ['PostgresStore', postgresPlace]];
const persistent = all.filter(([name]) => name !== 'MemoryStore');

/** Opens a VM on a new store object of `place`, runs `body`, closes both. */
async function withVM<T>(place: Place, body: (lua: Lua, store: Store) => Promise<T> | T, options: { state?: Uint8Array } = {}): Promise<T> {
  const store = place.open();
  try {
    const lua = await Lua.create({ store, ...options });
    try {
      return await body(lua, store);
    } finally {
      lua.close();
    }
  } finally {
    await store.close();
  }
}

describe.each(all)('%s', (_name, makePlace) => {
  it('keeps a VM\'s _home across a save, a close and a new VM on a new store', async () => {
    const place = makePlace();
    await withVM(place, async (lua) => {
      lua.compute('_home.n = 41 _home.player = { name = "Ada", bag = { "lamp", "key" } } _home.blob = ("\\0\\255"):rep(50000)');
      await lua.save();
    });
    const values = await withVM(place, (lua) =>
      lua.compute('_home.n = _home.n + 1 return _home.n, _home.player.name, _home.player.bag[2], #_home.blob, _home.blob:byte(2)').values);
    expect(values).toEqual([42, 'Ada', 'key', 100000, 255]);
  });

  it('never saves the changes of a failed compute', async () => {
    const place = makePlace();
    await withVM(place, async (lua) => {
      lua.compute('_home.n = 1 _home.t = { 1 }');
      await lua.save();
      expect(() => lua.compute('_home.n = 2 _home.t[2] = 2 _home.new = {} error("no")')).toThrow(LuaError);
      await lua.save();
    });
    expect(await withVM(place, (lua) => lua.compute('return _home.n, #_home.t, _home.new').values)).toEqual([1, 1, undefined]);
  });

  it('replaces everything it held with a state given with it, in one save', async () => {
    const place = makePlace();
    await withVM(place, async (lua) => {
      lua.compute('_home.a = 1 _home.t = { x = 1 } _home.u = { y = { z = 1 } }');
      await lua.save();
    });
    const other = await Lua.create();
    other.compute('_home.b = 2 _home.t = { w = 1 }');
    const state = other.exportState();
    await withVM(place, async (lua) => lua.save(), { state });
    const loaded = await withVM(place, async (lua, store) => {
      expect(lua.compute('return _home.a, _home.b, _home.t.x, _home.t.w, _home.u').values).toEqual([undefined, 2, undefined, 1, undefined]);
      return store.load();
    });
    expect(loaded && [...loaded.tables.keys()].sort()).toEqual([1, 2]);
  });
});

describe.each(persistent)('%s (stored bytes)', (_name, makePlace) => {
  it('writes only what changed: a save of 3 keys of 1,000 writes a small part of the first save', async () => {
    const place = makePlace();
    const store = place.open();
    const lua = await Lua.create({ store });
    await place.written!();
    lua.compute('for i = 1, 1000 do _home[i] = ("v"):rep(20) end');
    await lua.save();
    const first = await place.written!();
    lua.compute('_home[1] = "a" _home[2] = "b" _home[3] = nil');
    await lua.save();
    const small = await place.written!();
    await lua.save();
    const none = await place.written!();
    await store.close();
    expect(first).toBeGreaterThanOrEqual(1000);
    expect(small).toBeGreaterThan(0);
    expect(small).toBeLessThan(first / 50);
    expect(none).toBeLessThan(first / 500); // nothing changed: nothing (the file store: an empty record)
  });

  it('refuses damaged stored bytes with StateCorruptError, and never writes over them', async () => {
    const place = makePlace();
    await withVM(place, async (lua) => {
      lua.compute('_home.a = "alpha" _home.t = { 1, 2, 3 }');
      await lua.save();
    });
    await place.corrupt!();
    const before = await place.dump!();
    await expect(Lua.create({ store: place.open() })).rejects.toThrow(StateCorruptError);
    const other = await Lua.create();
    other.compute('_home.other = true');
    const replacing = await Lua.create({ state: other.exportState(), store: place.open() });
    await expect(replacing.save()).rejects.toThrow(StateCorruptError);
    await replacing.store.close();
    expect(await place.dump!()).toBe(before);
  });

  it('refuses a save that would pass the table entry limit with TableFullError, writing nothing', async () => {
    const place = makePlace();
    const store = place.open({ maxTableEntries: 3 });
    const lua = await Lua.create({ store });
    lua.compute('_home.a = 1 _home.b = 2 _home.c = 3');
    await lua.save();
    const before = await place.dump!();
    lua.compute('_home.d = 4');
    await expect(lua.save()).rejects.toThrow(TableFullError);
    expect(await place.dump!()).toBe(before);
    lua.compute('_home.d = nil _home.a = nil _home.e = 5'); // back within the limit: the next save goes through
    await lua.save();
    await store.close();
    expect(await withVM(place, (l) => l.compute('return _home.a, _home.c, _home.d, _home.e').values)).toEqual([undefined, 3, undefined, 5]);
  });

  it('refuses a second writer on the same state while the first is open', async () => {
    const place = makePlace();
    const first = place.open();
    await first.load();
    const second = place.open();
    await expect(second.load()).rejects.toThrow(place.lockedError!);
    await first.close();
    await expect(second.load()).resolves.toBeUndefined();
    await second.close();
  });

  it('changes nothing it holds by loading', async () => {
    const place = makePlace();
    await withVM(place, async (lua) => {
      lua.compute('_home.keep = { 1 } garbage = ext.table() garbage.x = 1 _home.g = garbage');
      await lua.save();
      lua.compute('_home.g = nil _home.n = 1');
      await lua.save();
    });
    const before = await place.dump!();
    const loaded = await withVM(place, (_lua, store) => store.load());
    expect(loaded?.tables.size).toBe(2); // the unreachable table is left out of the copy...
    expect(await place.dump!()).toBe(before); // ...and still stored
  });
});
