// The PostgreSQL store against a real, private PostgreSQL server (test/support/postgres.ts):
// its schema (created once, under an advisory lock, a newer one refused), its lease (one live
// owner per VM, renewed while open, fenced saves, given up by a dead process after it expires),
// what a save writes, atomic images, damaged rows refused and never written over.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Pool } from 'pg';
import { Lua, StateCorruptError, Store, TableFullError } from '../../js/src/node';
import { LeaseHeldError, LeaseLostError, PostgresStore, SchemaVersionError } from '../../js/src/postgres';
import { PostgresServer, startPostgres } from '../support/postgres';

let server: PostgresServer;
let pool: Pool;
let vms = 0;
const vm = () => `vm-${++vms}`;
const open: PostgresStore[] = [];

/** A store on the shared database; closed after the test. */
function store(options: Partial<ConstructorParameters<typeof PostgresStore>[0]> & Record<string, unknown> = {}, name = vm()): PostgresStore {
  const s = new PostgresStore({ pool, vm: name, ...options });
  open.push(s);
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every stored byte of a VM (its record and rows), for before/after comparisons. */
async function dump(name: string, p = pool): Promise<string> {
  const meta = await p.query('SELECT vm, token, home_id, next_id, entries, entries_sum, meta_crc, image, image_crc FROM lua_home_vms WHERE vm = $1', [name]);
  const rows = await p.query(`SELECT table_id, encode(key, 'hex') k, encode(value, 'hex') v, crc FROM lua_home_entries e
    JOIN lua_home_vms m ON m.id = e.vm_id WHERE m.vm = $1 ORDER BY table_id, key`, [name]);
  return JSON.stringify([meta.rows, rows.rows]);
}

beforeAll(async () => {
  server = await startPostgres();
  pool = server.pool(await server.createDatabase());
}, 60_000);

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close().catch(() => undefined)));
});

afterAll(async () => {
  await server?.stop();
});

describe('the schema', () => {
  it('is created on first use, at the version this package writes', async () => {
    const p = server.pool(await server.createDatabase());
    expect((await p.query(`SELECT to_regclass('lua_home_schema') AS t`)).rows[0].t).toBeNull();
    const s = new PostgresStore({ pool: p, vm: 'a' });
    expect(await s.load()).toBeUndefined();
    await s.close();
    expect((await p.query('SELECT version FROM lua_home_schema')).rows).toEqual([{ version: 1 }]);
    const tables = (await p.query(`SELECT tablename FROM pg_tables WHERE tablename LIKE 'lua_home%' ORDER BY 1`)).rows.map((r) => r.tablename);
    expect(tables).toEqual(['lua_home_entries', 'lua_home_schema', 'lua_home_vms']);
  });

  it('is created once when several processes start at once on a new database', async () => {
    const db = await server.createDatabase();
    // Separate pools: separate connections, as separate processes would have.
    const stores = Array.from({ length: 6 }, (_, i) => new PostgresStore({ pool: server.pool(db), vm: `v${i}` }));
    const results = await Promise.allSettled(stores.map((s) => s.load()));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    await Promise.all(stores.map((s) => s.close()));
    const p = server.pool(db);
    expect((await p.query('SELECT version FROM lua_home_schema')).rows).toEqual([{ version: 1 }]);
    expect(Number((await p.query('SELECT count(*) AS n FROM lua_home_vms')).rows[0].n)).toBe(6);
  });

  it('refuses a newer schema version with SchemaVersionError, reading and writing nothing', async () => {
    const db = await server.createDatabase();
    const first = new PostgresStore({ pool: server.pool(db), vm: 'a' });
    const lua = await Lua.create({ store: first });
    lua.compute('_home.n = 1');
    await lua.save();
    await first.close();
    const admin = server.pool(db);
    await admin.query('UPDATE lua_home_schema SET version = 2');
    const before = await dump('a', admin);
    const later = new PostgresStore({ pool: server.pool(db), vm: 'a' }); // a process started after the upgrade
    await expect(later.load()).rejects.toThrow(SchemaVersionError);
    await expect(later.load()).rejects.toThrow(/schema version 2; this package reads and writes version 1/);
    await expect(later.save({ homeId: 1, nextId: 2, changes: [] })).rejects.toThrow(SchemaVersionError);
    await later.close();
    expect(await dump('a', admin)).toBe(before);
  });
});

describe('the lease', () => {
  it('refuses a second store on a VM with LeaseHeldError while the first is open, and close() gives it back', async () => {
    const name = vm();
    const a = store({}, name);
    await a.load();
    const b = store({ owner: 'the second' }, name);
    await expect(b.load()).rejects.toThrow(LeaseHeldError);
    await expect(b.load()).rejects.toThrow(new RegExp(`VM '${name}' is live in another process \\(${a.owner.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
    await a.close();
    await expect(b.load()).resolves.toBeUndefined();
  });

  it('is renewed while the store is open: it outlives its duration', async () => {
    const name = vm();
    const a = store({ leaseMs: 800 }, name);
    await a.load();
    await sleep(2000);
    await expect(store({}, name).load()).rejects.toThrow(LeaseHeldError);
  });

  it('fences saves: a store whose expired lease was taken over gets LeaseLostError, and nothing of it is written', async () => {
    const name = vm();
    const a = store({ leaseMs: 300, noRenew: true }, name); // a process that stopped renewing (paused, partitioned)
    const la = await Lua.create({ store: a });
    la.compute('_home.n = 1 _home.t = { x = 1 }');
    await la.save();
    await sleep(450);
    const b = store({}, name);
    const lb = await Lua.create({ store: b });
    expect(lb.compute('return _home.n').value).toBe(1);
    lb.compute('_home.n = 100');
    await lb.save();
    const before = await dump(name);
    la.compute('_home.n = 2 _home.from_a = true _home.t.x = 2 _home.u = { 1, 2, 3 }');
    await expect(la.save()).rejects.toThrow(LeaseLostError);
    await expect(la.save()).rejects.toThrow(LeaseLostError); // stays lost: it never writes again
    await expect(a.saveImage(await la.saveImage())).rejects.toThrow(LeaseLostError);
    expect(await dump(name)).toBe(before);
    lb.compute('_home.n = _home.n + 1');
    await lb.save();
    await b.close();
    const lc = await Lua.create({ store: store({}, name) });
    expect(lc.compute('return _home.n, _home.from_a, _home.t.x, _home.u').values).toEqual([101, undefined, 1, undefined]);
  });

  it('after close(), a save never takes the lease again by itself: LeaseLostError until load()', async () => {
    const name = vm();
    const a = store({}, name);
    const lua = await Lua.create({ store: a });
    lua.compute('_home.n = 1');
    await lua.save();
    await a.close();
    const b = store({}, name);
    const lb = await Lua.create({ store: b });
    lb.compute('_home.n = 10');
    await lb.save();
    await b.close(); // the VM is free again, and changed since `a` had it
    lua.compute('_home.n = 2');
    await expect(lua.save()).rejects.toThrow(LeaseLostError);
    expect(await a.load()).toBeDefined(); // taking it again is explicit
    const fresh = await Lua.create({ store: a });
    expect(fresh.compute('return _home.n').value).toBe(10);
  });

  it('an expired lease nobody took is still ours: the save goes through, fenced by the token', async () => {
    const name = vm();
    const a = store({ leaseMs: 200, noRenew: true }, name);
    const la = await Lua.create({ store: a });
    la.compute('_home.n = 1');
    await sleep(350);
    const until = async () => (await pool.query('SELECT lease_until FROM lua_home_vms WHERE vm = $1', [name])).rows[0].lease_until as Date;
    const expired = await until();
    await la.save();
    expect((await until()).getTime() - expired.getTime()).toBeGreaterThanOrEqual(350); // the save extended it
    await a.close();
    expect(await Lua.create({ store: store({}, name) }).then((l) => l.compute('return _home.n').value)).toBe(1);
  });

  it('a dead process (SIGKILL) gives its VM up once its lease expires', async () => {
    const name = vm();
    const db = (await pool.query('SELECT current_database() AS d')).rows[0].d as string;
    const leaseMs = 1000;
    const child = spawn(process.execPath, [join(__dirname, 'fixtures', 'pg-lease-child.cjs'), server.url(db), name, String(leaseMs)],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise((r) => child.on('exit', r));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => String(d).includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`the child ended (${code}): ${err}`)));
    });
    await sleep(1500); // longer than a lease: the child renews it
    await expect(store({}, name).load()).rejects.toThrow(LeaseHeldError);
    child.kill('SIGKILL');
    await exited;
    const killed = Date.now();
    let taken: PostgresStore | undefined;
    let refusals = 0;
    while (!taken) {
      const s = store({}, name);
      try {
        await s.load();
        taken = s;
      } catch (e) {
        expect(e).toBeInstanceOf(LeaseHeldError);
        refusals++;
        if (Date.now() - killed > 5000) throw new Error('the dead process\'s lease never expired');
        await sleep(50);
      }
    }
    const waited = Date.now() - killed;
    expect(refusals).toBeGreaterThan(0); // the lease outlived the process for a while...
    expect(waited).toBeLessThan(leaseMs + 2000); // ...and no longer than its duration (plus slack for a loaded machine)
    const lua = await Lua.create({ store: taken });
    expect(lua.compute('return _home.child').value).toBe(1);
  });
});

describe('saving', () => {
  /** Counts the row operations on lua_home_entries (a trigger, in the database itself). */
  async function countingRows(): Promise<() => Promise<Record<string, number>>> {
    await pool.query(`CREATE TABLE IF NOT EXISTS touched (op text);
      CREATE OR REPLACE FUNCTION count_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO touched VALUES (TG_OP); RETURN NULL; END $$;
      DROP TRIGGER IF EXISTS count_touch ON lua_home_entries;
      CREATE TRIGGER count_touch AFTER INSERT OR UPDATE OR DELETE ON lua_home_entries FOR EACH ROW EXECUTE FUNCTION count_touch();
      TRUNCATE touched;`);
    return async () => {
      const r = await pool.query('SELECT op, count(*)::int AS n FROM touched GROUP BY op');
      await pool.query('TRUNCATE touched');
      return Object.fromEntries(r.rows.map((x) => [x.op, x.n]));
    };
  }

  afterEach(async () => {
    await pool.query('DROP TRIGGER IF EXISTS count_touch ON lua_home_entries; DROP TRIGGER IF EXISTS fail_on_boom ON lua_home_entries');
  });

  it('writes only the rows of the keys that changed', async () => {
    const s = store();
    const lua = await Lua.create({ store: s });
    const touched = await countingRows();
    lua.compute('for i = 1, 1000 do _home[i] = i end');
    await lua.save();
    expect(await touched()).toEqual({ INSERT: 1000 });
    lua.compute('for i = 1, 10 do _home[i * 7] = "changed" end _home[3] = nil');
    await lua.save();
    expect(await touched()).toEqual({ DELETE: 11, INSERT: 10 }); // 10 rows replaced, 1 deleted
    await lua.save();
    expect(await touched()).toEqual({});
  });

  it('a save that fails in the database writes nothing, and its changes are written by the next save', async () => {
    const name = vm();
    const lua = await Lua.create({ store: store({}, name) });
    lua.compute('_home.a = 1 _home.b = 1');
    await lua.save();
    const before = await dump(name);
    await pool.query(`CREATE OR REPLACE FUNCTION fail_on_boom() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.key = decode('04626f6f6d', 'hex') THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER fail_on_boom BEFORE INSERT ON lua_home_entries FOR EACH ROW EXECUTE FUNCTION fail_on_boom();`);
    lua.compute('_home.a = 2 _home.b = nil _home.boom = 3');
    await expect(lua.save()).rejects.toThrow(/injected fault/);
    expect(await dump(name)).toBe(before);
    await pool.query('DROP TRIGGER fail_on_boom ON lua_home_entries');
    await lua.save();
    await open[open.length - 1].close();
    const again = await Lua.create({ store: store({}, name) });
    expect(again.compute('return _home.a, _home.b, _home.boom').values).toEqual([2, undefined, 3]);
  });

  it('deletes, with its next save, the tables no VM was ever given (unreachable when it first loaded)', async () => {
    const name = vm();
    const first = store({}, name);
    const lua = await Lua.create({ store: first });
    lua.compute('_home.g = { 1, 2, 3 } _home.keep = { 4 }');
    await lua.save();
    const garbage = lua.compute('local id = ext.id(_home.g) _home.g = nil return id').value as number;
    await lua.save();
    await first.close();
    const rowsOf = async (id: number) => Number((await pool.query(`SELECT count(*) AS n FROM lua_home_entries e JOIN lua_home_vms m
      ON m.id = e.vm_id WHERE m.vm = $1 AND e.table_id = $2`, [name, id])).rows[0].n);
    expect(await rowsOf(garbage)).toBe(3); // loading and closing wrote nothing
    const second = store({}, name);
    const again = await Lua.create({ store: second });
    expect(await rowsOf(garbage)).toBe(3);
    again.compute('_home.n = 1');
    await again.save();
    expect(await rowsOf(garbage)).toBe(0);
    await second.close();
    expect(await Lua.create({ store: store({}, name) }).then((l) => l.compute('return _home.n, _home.keep[1]').values)).toEqual([1, 4]);
  });

  it('refuses a batch that would pass the table entry limit, writing nothing', async () => {
    const name = vm();
    const lua = await Lua.create({ store: store({ maxTableEntries: 3 }, name) });
    lua.compute('_home.a = 1 _home.b = 2');
    await lua.save();
    const before = await dump(name);
    lua.compute('_home.c = 3 _home.d = 4');
    await expect(lua.save()).rejects.toThrow(TableFullError);
    expect(await dump(name)).toBe(before);
  });

  it('stores a VM image with a batch in one transaction; a later save without one discards it', async () => {
    const name = vm();
    const s = store({}, name);
    let image: Uint8Array | undefined;
    // What a pool does when it evicts a VM: the batch and the image go in one save.
    const evicting: Store = { load: () => s.load(), save: (batch) => s.save(batch, { image }), close: () => s.close() };
    const lua = await Lua.create({ store: evicting });
    lua.compute('counter = 41 _home.n = 1');
    image = await lua.saveImage();
    await lua.save();
    await s.close();
    const again = store({}, name);
    const bytes = await again.loadImage();
    expect(bytes && Buffer.from(bytes).equals(Buffer.from(image))).toBe(true);
    expect(await again.load()).toEqual({ homeId: 1, nextId: 2, tables: new Map([[1, new Map([['\x04n', expect.anything()]])]]) });
    const resumed = await Lua.create({ image: bytes, store: again });
    expect(resumed.compute('counter = counter + 1 return counter, _home.n').values).toEqual([42, 1]);
    await resumed.save(); // no image: the stored one is older than the tables now
    expect(await again.loadImage()).toBeUndefined();
    await again.saveImage(await resumed.saveImage());
    expect(await again.loadImage()).toBeDefined();
  });

  it('refuses a damaged image with StateCorruptError', async () => {
    const name = vm();
    const s = store({}, name);
    const lua = await Lua.create({ store: s });
    await s.saveImage(await lua.saveImage());
    await pool.query(`UPDATE lua_home_vms SET image = overlay(image placing '\\xff'::bytea from 20 for 1) WHERE vm = $1`, [name]);
    await expect(s.loadImage()).rejects.toThrow(StateCorruptError);
  });
});

describe('damage', () => {
  async function saved(): Promise<string> {
    const name = vm();
    const s = store({}, name);
    const lua = await Lua.create({ store: s });
    lua.compute('_home.a = "alpha" _home.t = { 1, 2, 3 }');
    await lua.save();
    await s.close();
    return name;
  }

  const damages: [string, string][] = [
    ['a flipped byte in a value', `UPDATE lua_home_entries SET value = overlay(value placing '\\x58'::bytea from 2 for 1)
      WHERE vm_id = (SELECT id FROM lua_home_vms WHERE vm = $1) AND key = decode('0461', 'hex')`],
    ['a row moved to another table', `UPDATE lua_home_entries SET table_id = table_id + 100
      WHERE vm_id = (SELECT id FROM lua_home_vms WHERE vm = $1) AND key = decode('0461', 'hex')`],
    ['a lost row', `DELETE FROM lua_home_entries WHERE vm_id = (SELECT id FROM lua_home_vms WHERE vm = $1) AND table_id <> 1
      AND key = (SELECT key FROM lua_home_entries WHERE vm_id = (SELECT id FROM lua_home_vms WHERE vm = $1) AND table_id <> 1 ORDER BY key LIMIT 1)`],
    ['a row added with its own checksum', `INSERT INTO lua_home_entries (vm_id, table_id, key, value, crc)
      SELECT vm_id, table_id, key || 'x'::bytea, value, crc FROM lua_home_entries WHERE vm_id = (SELECT id FROM lua_home_vms WHERE vm = $1) LIMIT 1`],
    ['a changed _home id', 'UPDATE lua_home_vms SET home_id = home_id + 1 WHERE vm = $1'],
  ];

  it.each(damages)('%s is refused with StateCorruptError, and never written over', async (_what, sql) => {
    const name = await saved();
    await pool.query(sql, [name]);
    const before = await dump(name);
    await expect(Lua.create({ store: store({}, name) })).rejects.toThrow(StateCorruptError);
    const other = await Lua.create();
    other.compute('_home.other = true');
    const replacing = await Lua.create({ state: other.exportState(), store: store({}, name) });
    await expect(replacing.save()).rejects.toThrow(StateCorruptError);
    const lease = await pool.query('SELECT owner FROM lua_home_vms WHERE vm = $1', [name]);
    expect(lease.rows[0].owner).toBeNull(); // a refused load gives the lease back
    expect((await dump(name)).replace(/"token":"\d+"/, '')).toBe(before.replace(/"token":"\d+"/, ''));
  });
});
