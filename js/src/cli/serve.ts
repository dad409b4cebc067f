// `lua-home serve`: an HTTP service (fastify) over a LuaPool, with each VM's state in a
// directory or in PostgreSQL, computes as JSON, and Prometheus metrics.
import { randomUUID } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { fastify, FastifyInstance, FastifyReply } from 'fastify';
import { Json, JsonValueError, jsonToLua, luaToJSON } from '../codec/json.js';
import { LuaError } from '../errors.js';
import { HostLimits, MAX_TABLES } from '../host/limits.js';
import { LuaPool, PoolClosedError, PoolTimeoutError, VmStore } from '../pool/pool.js';
import { StateCorruptError } from '../stores/format.js';
import { FileVmStore } from '../stores/file-vm.js';
import type { ComputeResult } from '../vm/lua.js';

export const SERVE_USAGE = `usage: lua-home serve [options]
Serves Lua VMs by id over HTTP: POST /vms/ID/compute, GET /vms/ID/home, GET /health, GET /metrics.

  --port N           the TCP port (default 8080; 0: any free port, printed at start)
  --host HOST        the address to listen on (default 127.0.0.1)
  --store DIR        keep each VM in DIR/ID (default ./lua-home-vms), or
  --store postgres://...   in a PostgreSQL database (several serve processes may share it)
  --max-live N       VMs live at once; the least recently used are saved and freed (default 100)
  --limit STEPS      the instruction limit of one compute (default 10000000; at most 4294967295)
  --host-bytes N     what one VM's _home may hold, in bytes (default 16777216; limits.hostBytes)
  --compute-bytes N  host memory one compute's changes may hold (default 16777216; limits.computeBytes)
  --tables N         external tables one VM may have (default 65536; limits.tables)
  --timeout-ms N     a request that has not started after N ms fails with 503 and never runs (default 10000)
  --lease-ms N       PostgreSQL: how long a dead process keeps its VMs (default 30000)
  --advertise URL    PostgreSQL: the URL other serve processes forward requests for this one's VMs to
                     (default http://HOST:PORT)
  -h, --help         print this help`;

export interface ServeOptions {
  port: number;
  host: string;
  store: string;
  maxLive: number;
  limit: number;
  /** Quotas of every VM (HostLimits). */
  limits: HostLimits;
  timeoutMs: number;
  leaseMs: number;
  advertise?: string;
}

export class ServeUsageError extends Error {}

const DEFAULT_LIMIT = 10_000_000;
/** serve's quotas: a quarter of a lone VM's, as a process serves many. */
const DEFAULT_SERVE_LIMITS: HostLimits = { hostBytes: 16 * 1024 * 1024, computeBytes: 16 * 1024 * 1024, tables: 65536 };

export function parseServeArgs(argv: string[]): ServeOptions | 'help' {
  const o: ServeOptions = { port: 8080, host: '127.0.0.1', store: 'lua-home-vms', maxLive: 100, limit: DEFAULT_LIMIT, limits: { ...DEFAULT_SERVE_LIMITS }, timeoutMs: 10_000, leaseMs: 30_000 };
  const whole = (flag: string, text: string, min: number, max: number): number => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new ServeUsageError(`${flag} wants a whole number from ${min} to ${max}, not '${text}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let inline: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) [a, inline] = [a.slice(0, eq), a.slice(eq + 1)];
    const value = (): string => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) throw new ServeUsageError(`'${a}' needs an argument`);
      return argv[++i];
    };
    if (a === '-h' || a === '--help') return 'help';
    else if (a === '--port') o.port = whole(a, value(), 0, 65535);
    else if (a === '--host') o.host = value();
    else if (a === '--store') o.store = value();
    else if (a === '--max-live') o.maxLive = whole(a, value(), 1, 1_000_000);
    else if (a === '--limit') o.limit = whole(a, value(), 1, 0xffffffff);
    else if (a === '--host-bytes') o.limits.hostBytes = whole(a, value(), 1, Number.MAX_SAFE_INTEGER);
    else if (a === '--compute-bytes') o.limits.computeBytes = whole(a, value(), 1, Number.MAX_SAFE_INTEGER);
    else if (a === '--tables') o.limits.tables = whole(a, value(), 1, MAX_TABLES);
    else if (a === '--timeout-ms') o.timeoutMs = whole(a, value(), 1, 86_400_000);
    else if (a === '--lease-ms') o.leaseMs = whole(a, value(), 100, 86_400_000);
    else if (a === '--advertise') o.advertise = value();
    else throw new ServeUsageError(`unknown option '${argv[i]}'`);
  }
  if (o.store === '') throw new ServeUsageError('--store wants a directory or a postgres:// URL');
  return o;
}

// {====== errors as HTTP

/** A VM id: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters. */
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

class RequestError extends Error {}

interface HttpError {
  status: number;
  kind: string;
  message: string;
  output?: string;
}

/**
 * The status and body of a failure: 400 the request or the code, 422 the code failed, 409 the VM is
 * another process's (its lease), 503 not now (a timeout, closing, the VM's process does not answer), 500 the host.
 */
export function httpError(e: unknown): HttpError {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof RequestError || e instanceof JsonValueError) return { status: 400, kind: 'request', message };
  if (e instanceof LuaError) {
    const status = e.kind === 'syntax' || e.kind === 'input' ? 400 : e.kind === 'host' ? 500 : 422;
    return { status, kind: e.kind, message, ...(e.output ? { output: e.output } : {}) };
  }
  const name = (e as Error)?.name;
  if (name === 'LeaseLostError' || name === 'LeaseHeldError') return { status: 409, kind: 'lease', message };
  if (name === 'OwnerUnreachableError') return { status: 503, kind: 'lease', message };
  if (e instanceof PoolTimeoutError) return { status: 503, kind: 'timeout', message };
  if (e instanceof PoolClosedError) return { status: 503, kind: 'closing', message };
  if (e instanceof StateCorruptError) return { status: 500, kind: 'store', message };
  if (name === 'StateLockedError' || name === 'StoreWriteError' || name === 'SchemaVersionError') return { status: 500, kind: 'store', message };
  return { status: 500, kind: 'host', message };
}

// }======

// {====== metrics

/** Durations kept for quantiles (the latest ones). */
const WINDOW = 4096;

class Latencies {
  private readonly seconds: number[] = [];
  private next = 0;
  sum = 0;
  count = 0;

  add(s: number): void {
    this.sum += s;
    this.count++;
    if (this.seconds.length < WINDOW) this.seconds.push(s);
    else this.seconds[this.next++ % WINDOW] = s;
  }

  quantile(q: number): number {
    if (!this.seconds.length) return NaN;
    const s = [...this.seconds].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(q * s.length))];
  }
}

// }======

export interface Service {
  readonly app: FastifyInstance;
  readonly pool: LuaPool;
  readonly url: string;
  close(): Promise<void>;
}

interface ComputeBody {
  code: string;
  args: unknown[];
}

function checkBody(body: unknown): ComputeBody {
  if (typeof body === 'string') throw new RequestError('the body must be JSON, sent with content-type: application/json (it came as text)');
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RequestError('the body must be a JSON object: { "code": "...", "args": [...] }');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (k !== 'code' && k !== 'args') throw new RequestError(`unknown field '${k}' in the body (the fields are "code" and "args")`);
  if (typeof b.code !== 'string') throw new RequestError(`"code" must be a string of Lua, got ${b.code === undefined ? 'nothing' : typeof b.code}`);
  if (b.args !== undefined && !Array.isArray(b.args)) throw new RequestError('"args" must be an array');
  const args = ((b.args ?? []) as unknown[]).map((a, i) => jsonToLua(a, `args[${i}]`));
  return { code: b.code, args };
}

function checkId(id: string): string {
  if (!ID.test(id)) {
    throw new RequestError(`bad VM id ${JSON.stringify(id.slice(0, 140))}: ids are 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  return id;
}

/** Starts the service; resolves when it listens. */
export async function startServe(o: ServeOptions): Promise<Service> {
  const isPostgres = /^postgres(ql)?:\/\//.test(o.store);
  let endStore: () => Promise<void> = async () => undefined;
  let storeOf: (id: string) => VmStore;
  const me = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  // PostgreSQL: the lease holder's name starts with where to forward requests for its VMs.
  const owner = () => `${o.advertise ?? url} ${me}`;
  const app = fastify({ logger: false, bodyLimit: 1 << 20, routerOptions: { maxParamLength: 1024 } }); // long ids reach checkId, which says what is wrong
  let url = ''; // known once listening (--port 0)
  if (isPostgres) {
    const { PostgresStore } = await import('../stores/postgres.js');
    const pgModule = await import('pg');
    const pg = ((pgModule as unknown as { default?: typeof pgModule }).default ?? pgModule) as typeof pgModule;
    const db = new pg.Pool({ connectionString: o.store, max: 10 });
    db.on('error', () => undefined); // an idle connection ended: the pool replaces it
    storeOf = (id) => new PostgresStore({ pool: db, vm: id, leaseMs: o.leaseMs, owner: owner() });
    endStore = () => db.end();
  } else {
    const dir = resolve(o.store);
    storeOf = (id) => new FileVmStore(join(dir, id));
  }
  const evictErrors: string[] = [];
  const pool = LuaPool.create({
    store: storeOf,
    maxLive: o.maxLive,
    instructionLimit: o.limit,
    limits: o.limits,
    onEvictError: (id, e) => evictErrors.push(`${id}: ${(e as Error).message}`),
  });

  const computes = new Map<string, number>(); // by outcome: ok or an error kind
  const latencies = new Latencies();
  const count = (outcome: string) => computes.set(outcome, (computes.get(outcome) ?? 0) + 1);

  const fail = (reply: FastifyReply, e: unknown) => {
    const { status, kind, message, output } = httpError(e);
    return reply.code(status).send({ error: { kind, message, ...(output !== undefined ? { output } : {}) } });
  };

  // {====== VMs live in another serve process (PostgreSQL)

  // Where a VM was live last, by id: its requests go there directly while that works, without
  // asking the database first. A stale entry costs one refused hop, then the usual path.
  const owners = new Map<string, string>();
  const MAX_OWNERS = 100_000;
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

  /** Sends a request on to the serve process `target` (never further). Status 0 when it does not answer. */
  const relay = (target: string, path: string, method: 'GET' | 'POST', body: unknown) =>
    new Promise<{ status: number; text: string }>((done) => {
      const payload = method === 'POST' ? JSON.stringify(body) : undefined;
      let to: URL;
      try {
        to = new URL(path, target);
      } catch (e) {
        done({ status: 0, text: (e as Error).message });
        return;
      }
      const req = (to.protocol === 'https:' ? httpsRequest : httpRequest)(to, {
        method,
        agent: to.protocol === 'https:' ? httpsAgent : httpAgent,
        timeout: o.timeoutMs,
        headers: { 'content-type': 'application/json', 'x-lua-home-forwarded': '1', ...(payload ? { 'content-length': Buffer.byteLength(payload) } : {}) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e) => done({ status: 0, text: e.message }));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer in ${o.timeoutMs} ms`)));
      req.on('error', (e) => done({ status: 0, text: e.message }));
      req.end(payload);
    });
  const send = (reply: FastifyReply, r: { status: number; text: string }) =>
    reply.code(r.status).header('content-type', 'application/json; charset=utf-8').send(r.text);

  /**
   * Runs a request on VM `id` here, or in the process where it is live: `run` loads it here
   * unless another process holds its lease, and then the request is relayed to that process.
   */
  const onVm = async (id: string, path: string, method: 'GET' | 'POST', body: unknown, forwarded: boolean, reply: FastifyReply,
    run: () => Promise<unknown>) => {
    const known = forwarded ? undefined : owners.get(id);
    if (known !== undefined) {
      const r = await relay(known, path, method, body);
      if (r.status !== 0 && r.status !== 409 && r.status !== 503) return send(reply, r);
      owners.delete(id); // it moved, or its process is gone: ask the database
    }
    try {
      return reply.send(await run());
    } catch (e) {
      const target = (e as Error)?.name === 'LeaseHeldError' ? /^(https?:\/\/\S+) /.exec((e as { owner: string }).owner)?.[1] : undefined;
      if (forwarded || target === undefined || target === (o.advertise ?? url)) throw e;
      const r = await relay(target, path, method, body);
      if (r.status === 0) {
        throw Object.assign(new Error(`${(e as Error).message}; that process does not answer at ${target} (${r.text}): ` +
          'the VM is free again when its lease expires'), { name: 'OwnerUnreachableError' });
      }
      if (owners.size >= MAX_OWNERS) owners.clear();
      owners.set(id, target);
      return send(reply, r);
    }
  };

  // }======

  app.setErrorHandler((e, _request, reply) => {
    const status = (e as { statusCode?: number }).statusCode;
    if ((e as { code?: string }).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.code(415).send({ error: { kind: 'request', message: 'the body must be JSON, sent with content-type: application/json' } });
    }
    if (status !== undefined && status >= 400 && status < 500) return reply.code(status).send({ error: { kind: 'request', message: (e as Error).message } });
    return fail(reply, e);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { kind: 'request', message: `no route ${request.method} ${request.url.slice(0, 200)}: the routes are POST /vms/ID/compute, GET /vms/ID/home, GET /health, GET /metrics` } }));

  app.post('/vms/:id/compute', async (request, reply) => {
    const started = performance.now();
    let outcome = 'ok';
    try {
      const id = checkId((request.params as { id: string }).id);
      const body = checkBody(request.body);
      const forwarded = request.headers['x-lua-home-forwarded'] !== undefined;
      return await onVm(id, `/vms/${id}/compute`, 'POST', request.body, forwarded, reply, async () => {
        const r = await pool.use(id, (lua) => lua.compute(body.code, ...body.args),
          { deadline: Date.now() + o.timeoutMs });
        return { values: r.values.map(luaToJSON), output: r.output };
      });
    } catch (e) {
      outcome = httpError(e).kind;
      return fail(reply, e);
    } finally {
      count(outcome);
      latencies.add((performance.now() - started) / 1000);
    }
  });

  app.get('/vms/:id/home', async (request, reply) => {
    try {
      const id = checkId((request.params as { id: string }).id);
      const forwarded = request.headers['x-lua-home-forwarded'] !== undefined;
      return await onVm(id, `/vms/${id}/home`, 'GET', undefined, forwarded, reply,
        () => pool.use(id, (lua) => luaToJSON(lua.home.toJS()), { deadline: Date.now() + o.timeoutMs }));
    } catch (e) {
      return fail(reply, e);
    }
  });

  app.get('/health', async () => ({ status: 'ok', live: pool.stats().live, store: isPostgres ? 'postgres' : 'directory' }));

  app.get('/metrics', async (_request, reply) => {
    const s = pool.stats();
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of samples) lines.push(`${name}${labels} ${Number.isNaN(v) ? 'NaN' : v}`);
    };
    const ok = computes.get('ok') ?? 0;
    metric('lua_home_computes_total', 'counter', 'Compute requests answered, by outcome (ok, or the error kind).',
      [['{outcome="ok"}', ok], ...[...computes].filter(([k]) => k !== 'ok').map(([k, v]) => [`{outcome="${k}"}`, v] as [string, number])]);
    metric('lua_home_compute_errors_total', 'counter', 'Compute requests that failed.', [['', [...computes].reduce((a, [k, v]) => a + (k === 'ok' ? 0 : v), 0)]]);
    metric('lua_home_compute_seconds', 'summary', 'Compute request latency (quantiles over the latest 4096).',
      [['{quantile="0.5"}', latencies.quantile(0.5)], ['{quantile="0.99"}', latencies.quantile(0.99)]]);
    lines.push(`lua_home_compute_seconds_sum ${latencies.sum}`, `lua_home_compute_seconds_count ${latencies.count}`);
    metric('lua_home_live_vms', 'gauge', 'VMs live in this process.', [['', s.live]]);
    metric('lua_home_max_live_vms', 'gauge', 'The most VMs kept live.', [['', s.maxLive]]);
    metric('lua_home_vm_loads_total', 'counter', 'VMs loaded from the store.', [['', s.loads]]);
    metric('lua_home_vm_load_seconds_total', 'counter', 'Time spent loading VMs.', [['', s.loadMsTotal / 1000]]);
    metric('lua_home_vm_saves_total', 'counter', 'Saves to the store (after computes and at evictions).', [['', s.saves]]);
    metric('lua_home_vm_save_errors_total', 'counter', 'Saves that failed.', [['', s.saveErrors]]);
    metric('lua_home_vm_save_seconds_total', 'counter', 'Time spent saving.', [['', s.saveMsTotal / 1000]]);
    metric('lua_home_vm_evictions_total', 'counter', 'VMs saved with their image and freed.', [['', s.evicted]]);
    metric('lua_home_vm_eviction_errors_total', 'counter', 'Evictions that failed (the VM stayed live).', [['', s.evictErrors]]);
    return reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8').send(lines.join('\n') + '\n');
  });

  await app.listen({ port: o.port, host: o.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
  return {
    app,
    pool,
    url,
    async close() {
      await app.close();
      httpAgent.destroy();
      httpsAgent.destroy();
      try {
        await pool.close();
      } finally {
        await endStore();
      }
    },
  };
}

/** `lua-home serve ARGS`: runs until SIGINT or SIGTERM, then saves every live VM. Returns the exit status. */
export async function serveMain(argv: string[]): Promise<number> {
  let o: ServeOptions | 'help';
  try {
    o = parseServeArgs(argv);
  } catch (e) {
    if (!(e instanceof ServeUsageError)) throw e;
    process.stderr.write(`lua-home serve: ${e.message}\n${SERVE_USAGE}\n`);
    return 2;
  }
  if (o === 'help') {
    process.stdout.write(SERVE_USAGE + '\n');
    return 0;
  }
  let service: Service;
  try {
    service = await startServe(o);
  } catch (e) {
    process.stderr.write(`lua-home serve: cannot start: ${(e as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`lua-home serve: listening on ${service.url} (store: ${/^postgres/.test(o.store) ? 'postgres' : resolve(o.store)}, max live ${o.maxLive}, limit ${o.limit} steps)\n`);
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  try {
    await service.close();
    return 0;
  } catch (e) {
    process.stderr.write(`lua-home serve: saving on exit failed: ${(e as Error).message}\n`);
    return 1;
  }
}
