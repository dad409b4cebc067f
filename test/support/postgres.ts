// A private PostgreSQL server for one test suite: initdb in a fresh temporary directory, the
// server listening only on a Unix socket in that directory, stopped and removed afterwards (and
// on process exit). As root (CI), the server runs as the `postgres` system user: PostgreSQL
// refuses to run as root.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Pool } from 'pg';

/** Where Debian keeps the server's programs (not on PATH): the newest /usr/lib/postgresql/N/bin. */
export function postgresBinDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(base, v, 'bin', 'initdb'))) return join(base, v, 'bin');
  throw new Error(`no PostgreSQL server in ${base}/N/bin: run scripts/setup.sh (it installs Debian's postgresql)`);
}

const PREFIX = 'lua-home-pg-';
const OWNER_FILE = 'owner.pid';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The uid and gid of the `postgres` system user (from /etc/passwd). */
function postgresUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, and there is no `postgres` user to run the server as (Debian\'s postgresql package creates it)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

const asRoot = process.getuid?.() === 0;

/** Runs a server program, as `postgres` when we are root. */
function run(program: string, args: string[]): string {
  const options = { encoding: 'utf8' as const, stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[], timeout: 60_000 };
  try {
    return asRoot ? execFileSync('runuser', ['-u', 'postgres', '--', program, ...args], options) : execFileSync(program, args, options);
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${program} ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

/** The postmaster's pid, from postmaster.pid (undefined when the server is not running). */
function postmasterPid(data: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Stops a server at once (SIGQUIT: immediate shutdown) and removes its directory. */
function destroy(dir: string): void {
  const pid = postmasterPid(join(dir, 'data'));
  if (pid !== undefined && alive(pid)) {
    try {
      process.kill(pid, 'SIGQUIT');
    } catch {
      // gone already
    }
    const until = Date.now() + 5000;
    while (alive(pid) && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Servers left by a test process that was killed (its owner pid is gone): stopped and removed. */
function reapStale(): void {
  for (const f of readdirSync(tmpdir())) {
    if (!f.startsWith(PREFIX)) continue;
    const dir = join(tmpdir(), f);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue; // being set up by someone, or not ours
    }
    if (Number.isInteger(owner) && owner > 0 && !alive(owner)) destroy(dir);
  }
}

export interface PostgresServer {
  /** The socket directory: the `host` to connect to. */
  readonly host: string;
  readonly user: string;
  /** A pool on `database` (default `postgres`); closed by stop(). */
  pool(database?: string): Pool;
  /** Creates a new, empty database and returns its name. */
  createDatabase(): Promise<string>;
  /** A connection string to `database` over the socket. */
  url(database: string): string;
  stop(): Promise<void>;
}

/** Starts a private server; ready to accept connections when the promise resolves. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  reapStale();
  const dir = mkdtempSync(join(tmpdir(), PREFIX));
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  const data = join(dir, 'data');
  if (asRoot) {
    const { uid, gid } = postgresUser();
    chownSync(dir, uid, gid);
  }
  const onExit = () => destroy(dir);
  process.on('exit', onExit);
  const pools: Pool[] = [];
  try {
    run(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
    // Only the socket in `dir`; no TCP. fsync off: these tests are about the store, not the disk.
    run(join(bin, 'pg_ctl'), ['start', '-w', '-t', '60', '-D', data, '-l', join(dir, 'server.log'),
      '-o', `-k ${dir} -c listen_addresses= -c fsync=off -c max_connections=60`]);
    await waitReady(dir);
  } catch (e) {
    const log = existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8') : '';
    destroy(dir);
    process.off('exit', onExit);
    throw new Error(`${(e as Error).message}\n${log}`);
  }
  let databases = 0;
  const server: PostgresServer = {
    host: dir,
    user: 'postgres',
    pool(database = 'postgres') {
      const p = new Pool({ host: dir, user: 'postgres', database, max: 8 });
      p.on('error', () => undefined); // a server-side end of an idle client (tests stop servers)
      pools.push(p);
      return p;
    },
    async createDatabase() {
      const name = `t${process.pid}_${++databases}`;
      const c = new Client({ host: dir, user: 'postgres', database: 'postgres' });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return name;
    },
    url(database) {
      return `postgresql://postgres@${encodeURIComponent(dir)}/${database}`;
    },
    async stop() {
      await Promise.all(pools.splice(0).map((p) => p.end().catch(() => undefined)));
      destroy(dir);
      process.off('exit', onExit);
    },
  };
  return server;
}

/** Retries a connection until the server answers a query (pg_ctl -w has waited already). */
async function waitReady(host: string): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    const c = new Client({ host, user: 'postgres', database: 'postgres' });
    try {
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      return;
    } catch (e) {
      await c.end().catch(() => undefined);
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
