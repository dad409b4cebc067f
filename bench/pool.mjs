// The pool and `lua-home serve`: computes per second through a LuaPool (ids live, and ids that
// need a reload), eviction and reload times, idle memory per live VM, and serve's requests per
// second with p50/p99 latency, one process on a directory and on PostgreSQL, and two processes on
// one PostgreSQL database. Run by bench/run.mjs (--only=pool), or alone: node bench/pool.mjs [--quick].
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const cli = join(root, 'dist', 'cjs', 'cli', 'cli.js');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const fmt = (x, digits = 1) => (x >= 100 ? x.toFixed(0) : x.toFixed(digits));

// {====== a private PostgreSQL server (as test/support/postgres.ts starts one)

function postgresBin() {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => b - a) : [];
  for (const v of versions) if (existsSync(join(base, v, 'bin', 'initdb'))) return join(base, v, 'bin');
  return undefined;
}

function startPostgres() {
  const bin = postgresBin();
  if (!bin) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'lua-home-bench-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const [, , uid, gid] = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:')).split(':');
    chownSync(dir, Number(uid), Number(gid));
  }
  const run = (program, args) => (asRoot
    ? execFileSync('runuser', ['-u', 'postgres', '--', join(bin, program), ...args], { stdio: 'pipe' })
    : execFileSync(join(bin, program), args, { stdio: 'pipe' }));
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
  // synchronous_commit stays on, fsync too: a save is durable when it is acknowledged.
  run('pg_ctl', ['start', '-w', '-t', '60', '-D', data, '-l', join(dir, 'server.log'), '-o', `-k ${dir} -c listen_addresses= -c max_connections=100`]);
  return {
    url: (db) => `postgresql://postgres@${encodeURIComponent(dir)}/${db}`,
    stop() {
      try {
        run('pg_ctl', ['stop', '-m', 'immediate', '-D', data]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

// }======

// {====== serve processes and a load of HTTP requests

async function serve(args) {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const url = await new Promise((done, fail) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) done(m[1]);
    });
    child.on('exit', (code) => fail(new Error(`serve exited (${code}): ${err}`)));
  });
  return { url, stop: () => new Promise((done) => { child.on('exit', done); child.kill('SIGTERM'); }) };
}

const bump = JSON.stringify({ code: '_home.n = (_home.n or 0) + 1 return _home.n' });
// node:http with keep-alive: a lighter client than fetch, so that the server, not the client, is measured.
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(url, id) {
  const to = new URL(`/vms/${id}/compute`, url);
  return new Promise((done, fail) => {
    const req = http.request(to, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(bump) } }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode));
    });
    req.on('error', fail);
    req.end(bump);
  });
}

/** `concurrency` clients for `seconds`, each sending increments to random ids, spread over `urls`. */
async function load(urls, ids, seconds, concurrency) {
  const latencies = [];
  let errors = 0;
  let i = 0;
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) {
      const url = urls[i++ % urls.length];
      const id = ids[Math.floor(Math.random() * ids.length)];
      const t = performance.now();
      const status = await post(url, id).catch(() => 0);
      latencies.push(performance.now() - t);
      if (status !== 200) errors++;
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  return { rps: latencies.length / elapsed, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), requests: latencies.length, errors };
}

// }======

export async function poolBench({ say = console.log, quick = false } = {}) {
  const { LuaPool, FileVmStore } = await import(pathToFileURL(join(root, 'dist', 'esm', 'node.js')).href);
  const r = {};
  say('Pool and serve (FileVmStore in the system temporary directory: every acknowledged save fsync\'d)');
  const dir = mkdtempSync(join(tmpdir(), 'lua-home-bench-pool-'));
  const storeOf = (id) => new FileVmStore(join(dir, id));
  try {
    // Live ids: 64 VMs, all live.
    const ids = Array.from({ length: 64 }, (_, i) => `live${i}`);
    const live = LuaPool.create({ store: storeOf, maxLive: 64 });
    for (const id of ids) await live.compute(id, 'n = 0 _home.n = 0');
    const n = quick ? 2000 : 10000;
    let t = performance.now();
    for (let i = 0; i < n; i++) await live.compute(ids[i % 64], 'n = n + 1 return n');
    r.liveReadPerSec = n / ((performance.now() - t) / 1000);
    t = performance.now();
    for (let i = 0; i < n / 4; i++) await live.compute(ids[i % 64], '_home.n = _home.n + 1 return _home.n');
    r.liveWritePerSec = n / 4 / ((performance.now() - t) / 1000);
    // Ids needing a reload: 64 ids on 8 live VMs, round robin: every compute loads one VM and evicts another.
    const cold = LuaPool.create({ store: storeOf, maxLive: 8 });
    const coldIds = Array.from({ length: 64 }, (_, i) => `cold${i}`);
    for (const id of coldIds) await cold.compute(id, `g = "${id}" data = {} for i = 1, 1000 do data[i] = i end _home.n = 0`);
    const m = quick ? 64 : 256;
    t = performance.now();
    for (let i = 0; i < m; i++) await cold.compute(coldIds[i % 64], '_home.n = _home.n + 1 return g, #data');
    r.reloadPerSec = m / ((performance.now() - t) / 1000);
    // Eviction and reload of one VM (globals, 1,000 entries in a global table, _home).
    const evicts = [], reloads = [];
    for (let i = 0; i < (quick ? 5 : 15); i++) {
      const id = coldIds[i];
      await cold.compute(id, 'return 1');
      t = performance.now();
      await cold.evict(id);
      evicts.push(performance.now() - t);
      t = performance.now();
      await cold.compute(id, 'return 1');
      reloads.push(performance.now() - t);
    }
    r.evictMs = median(evicts);
    r.reloadMs = median(reloads);
    await cold.close();
    say(`LuaPool, 64 live ids: ${fmt(r.liveReadPerSec / 1000)} k computes/s (nothing to save), ${fmt(r.liveWritePerSec)} computes/s changing _home (saved before each resolves)`);
    say(`LuaPool, 64 ids on 8 live VMs (each compute reloads one VM and evicts another): ${fmt(r.reloadPerSec)} computes/s`);
    say(`eviction (save with image, free) ${fmt(r.evictMs)} ms; reload (image) and first compute ${fmt(r.reloadMs)} ms (medians)`);
    await live.close();

    // Idle memory per live VM, in a fresh process (with gc exposed, so that RSS says what stays).
    const mem = JSON.parse(execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--memory', join(dir, 'idle')], { encoding: 'utf8' }));
    Object.assign(r, mem);
    say(`idle memory per live VM (128 live, a fresh process): new VMs ${(mem.idleRssPerVm / 1024).toFixed(0)} KiB of RSS ` +
      `(${(mem.idleExternalPerVm / 2 ** 20).toFixed(2)} MiB of wasm memory reserved, only the pages touched resident), ${(mem.idleHeapPerVm / 1024).toFixed(0)} KiB of JS heap; ` +
      `VMs resumed from an image ${(mem.resumedRssPerVm / 2 ** 20).toFixed(2)} MiB of RSS (the image writes all their memory), ${(mem.resumedHeapPerVm / 1024).toFixed(0)} KiB of JS heap`);

    // serve: one process on a directory.
    const seconds = quick ? 1 : 4;
    const concurrency = 16;
    const serveIds = Array.from({ length: 100 }, (_, i) => `s${i}`);
    const one = await serve(['--store', join(dir, 'serve'), '--max-live', '200']);
    for (const id of serveIds) await post(one.url, id);
    r.serveDir = await load([one.url], serveIds, seconds, concurrency);
    await one.stop();
    const line = (what, x) => say(`serve, ${what}: ${fmt(x.rps)} requests/s, p50 ${fmt(x.p50)} ms, p99 ${fmt(x.p99)} ms (${x.requests} increments, ${x.errors} errors, ${concurrency} clients)`);
    line('1 process, directory store', r.serveDir);

    const pg = startPostgres();
    if (!pg) {
      say('serve on PostgreSQL: skipped (no PostgreSQL server programs: run scripts/setup.sh)');
    } else {
      try {
        const socket = decodeURIComponent(pg.url('x').split('@')[1].split('/')[0]);
        for (const db of ['one', 'two']) execFileSync(join(postgresBin(), 'createdb'), ['-h', socket, '-U', 'postgres', db], { stdio: 'pipe' });
        const a = await serve(['--store', pg.url('one'), '--max-live', '200']);
        for (const id of serveIds) await post(a.url, id);
        r.servePg1 = await load([a.url], serveIds, seconds, concurrency);
        line('1 process, PostgreSQL', r.servePg1);
        await a.stop();
        // Two processes, each with half the ids live; requests spread over both (half of them are
        // for a VM live in the other process, which they are forwarded to).
        const two = [await serve(['--store', pg.url('two'), '--max-live', '200']), await serve(['--store', pg.url('two'), '--max-live', '200'])];
        for (const [i, id] of serveIds.entries()) await post(two[i % 2].url, id);
        r.servePg2 = await load(two.map((x) => x.url), serveIds, seconds, concurrency);
        line('2 processes on one PostgreSQL database (half the requests forwarded to the VM\'s process)', r.servePg2);
        await Promise.all(two.map((x) => x.stop()));
      } finally {
        pg.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  say();
  agent.destroy();
  return r;
}

/** Run as `node --expose-gc bench/pool.mjs --memory DIR`: what 128 live VMs of a pool hold, per VM, as JSON. */
async function idleMemory(dir) {
  const { LuaPool, FileVmStore } = await import(pathToFileURL(join(root, 'dist', 'esm', 'node.js')).href);
  const pool = LuaPool.create({ store: (id) => new FileVmStore(join(dir, id)), maxLive: 128 });
  await pool.compute('warm', 'return 1'); // the module compiled, the code loaded
  await pool.evict('warm');
  globalThis.gc();
  const before = process.memoryUsage();
  for (let i = 0; i < 128; i++) await pool.compute(`idle${i}`, 'x = { 1, 2, 3 } _home.n = 1');
  globalThis.gc();
  const after = process.memoryUsage();
  const per = (k, a = after, b = before) => (a[k] - b[k]) / 128;
  // The same VMs evicted, then resumed from their images (which write all 2 MiB of their memory).
  for (let i = 0; i < 128; i++) await pool.evict(`idle${i}`);
  globalThis.gc();
  const evicted = process.memoryUsage();
  for (let i = 0; i < 128; i++) await pool.compute(`idle${i}`, 'return x[3]');
  globalThis.gc();
  const resumed = process.memoryUsage();
  process.stdout.write(JSON.stringify({
    idleRssPerVm: per('rss'), idleExternalPerVm: per('external'), idleHeapPerVm: per('heapUsed'),
    resumedRssPerVm: per('rss', resumed, evicted), resumedHeapPerVm: per('heapUsed', resumed, evicted),
  }));
  await pool.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--memory') {
  await idleMemory(process.argv[3]);
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await poolBench({ quick: process.argv.includes('--quick') });
  agent.destroy();
}
