// `lua-home serve`, spawned as real processes (the built dist/cjs/cli/cli.js) on free ports:
// every route, the error statuses, the JSON value rule, a restart that resumes VMs, and on a
// real PostgreSQL server two processes serving the same ids, one of them SIGKILLed and
// replaced while clients keep sending increments: nothing acknowledged is lost or counted twice.
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresServer, startPostgres } from '../support/postgres';

const cli = join(__dirname, '..', '..', 'dist', 'cjs', 'cli', 'cli.js');
const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Serve {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

const running: Serve[] = [];

/** Starts `lua-home serve --port 0 ARGS` and waits for the line that says where it listens. */
async function serve(args: string[]): Promise<Serve> {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const url = await new Promise<string>((done, fail) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) done(m[1]);
    });
    void exited.then((code) => fail(new Error(`serve exited (${code}) before listening: ${err}`)));
  });
  const s = { url, child, exited, stderr: () => err };
  running.push(s);
  return s;
}

async function stop(s: Serve, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  s.child.kill(signal);
  return s.exited;
}

afterAll(async () => {
  await Promise.all(running.map((s) => (s.child.exitCode === null && s.child.signalCode === null ? stop(s, 'SIGKILL') : undefined)));
});

async function post(url: string, id: string, body: unknown, raw?: { body: string; type: string }): Promise<{ status: number; json: any }> {
  const r = await fetch(`${url}/vms/${id}/compute`, {
    method: 'POST',
    headers: { 'content-type': raw?.type ?? 'application/json' },
    body: raw?.body ?? JSON.stringify(body),
  });
  return { status: r.status, json: await r.json() };
}

async function get(url: string, path: string): Promise<{ status: number; json: any; text: string }> {
  const r = await fetch(`${url}${path}`);
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, json, text };
}

describe('lua-home serve on a directory', () => {
  let dir: string;
  let s: Serve;

  beforeAll(async () => {
    dir = mkdtempSync(join(base, 'lua-home-serve-'));
    s = await serve(['--store', dir, '--limit', '200000']);
  });
  afterAll(async () => {
    await stop(s);
    rmSync(dir, { recursive: true, force: true });
  });

  it('computes: values and output as JSON, _home kept, one VM per id', async () => {
    expect(await post(s.url, 'alice', { code: '_home.n = (_home.n or 0) + 1 print("hi", _home.n) return _home.n, "two"' }))
      .toEqual({ status: 200, json: { values: [1, 'two'], output: 'hi\t1\n' } });
    expect((await post(s.url, 'alice', { code: 'return _home.n' })).json.values).toEqual([1]);
    expect((await post(s.url, 'bob', { code: 'return _home.n' })).json.values).toEqual([null]);
    expect((await post(s.url, 'alice', { code: '_home.n = _home.n + 1 return _home.n', args: [1, 'x', { a: [true, null] }] })).json.values).toEqual([2]);
    // args reach the chunk as ..., by the JSON rule (tagged values included)
    expect((await post(s.url, 'alice', { code: 'local a, b, c, d = ... return select("#", ...), a + 1, b, c.a[1], math.type(d)', args: [41, 'x', { a: [true] }, { $int: '7' }] })).json.values)
      .toEqual([4, 42, 'x', true, 'integer']);
  });

  it('maps values to JSON by the documented rule', async () => {
    const r = await post(s.url, 'rule', {
      code: `return 1, 2.5, math.maxinteger, math.mininteger, 0/0, 1/0, -1/0, -0.0, "text", "\\xff\\x00",
        { 1, 2, { 3 } }, { a = 1, b = { c = true } }, { [1] = "x", y = 2 }, { ["$a"] = 1 }, {}, nil`,
    });
    expect(r.status).toBe(200);
    expect(r.json.values).toEqual([
      1, 2.5, { $int: '9223372036854775807' }, { $int: '-9223372036854775808' },
      { $float: 'nan' }, { $float: 'inf' }, { $float: '-inf' }, { $float: '-0' }, 'text', { $bytes: '/wA=' },
      [1, 2, [3]], { a: 1, b: { c: true } }, { $map: [[1, 'x'], ['y', 2]] }, { $map: [['$a', 1]] }, {}, null,
    ]);
  });

  it('GET /vms/ID/home gives _home as JSON, nested tables and cycles included', async () => {
    await post(s.url, 'home', { code: '_home.list = { 10, 20 } _home.big = math.maxinteger _home.t = { x = 1 } _home.t.self = _home.t' });
    expect(await get(s.url, '/vms/home/home')).toMatchObject({
      status: 200, json: { list: [10, 20], big: { $int: '9223372036854775807' }, t: { x: 1, self: { $cycle: true } } },
    });
    expect((await get(s.url, '/vms/empty/home')).json).toEqual({});
  });

  it('answers errors with a status and { error: { kind, message } }', async () => {
    const runtime = await post(s.url, 'e', { code: 'print("before") error("boom")' });
    expect(runtime).toEqual({ status: 422, json: { error: { kind: 'runtime', message: '[string "print("before") error("boom")"]:1: boom', output: 'before\n' } } });
    expect(await post(s.url, 'e', { code: 'x = = 1' })).toMatchObject({ status: 400, json: { error: { kind: 'syntax' } } });
    expect(await post(s.url, 'e', { code: 'while true do end' })).toMatchObject({ status: 422, json: { error: { kind: 'limit', message: expect.stringContaining('200000') } } });
    expect(await post(s.url, 'e', { code: 'x = ("x"):rep(1e8)' })).toMatchObject({ status: 422, json: { error: { kind: 'memory' } } });
    expect(await post(s.url, 'e', { code: 'return "\uD800"' })).toMatchObject({ status: 400, json: { error: { kind: 'input' } } });
  });

  it('refuses bad ids and bodies with 400 and a message that says what is wrong', async () => {
    const bad = async (id: string, body: unknown, raw?: { body: string; type: string }) => {
      const r = await post(s.url, id, body, raw);
      expect(r.json.error.kind).toBe('request');
      return [r.status, r.json.error.message];
    };
    expect(await bad('a%2Fb', { code: 'return 1' })).toEqual([400, expect.stringContaining('bad VM id "a/b"')]);
    expect(await bad('.x', { code: 'return 1' })).toEqual([400, expect.stringContaining('bad VM id')]);
    expect(await bad('x'.repeat(129), { code: 'return 1' })).toEqual([400, expect.stringContaining('bad VM id')]);
    expect(await bad('ok', {})).toEqual([400, '"code" must be a string of Lua, got nothing']);
    expect(await bad('ok', { code: 42 })).toEqual([400, '"code" must be a string of Lua, got number']);
    expect(await bad('ok', { code: 'return 1', extra: 1 })).toEqual([400, expect.stringContaining("unknown field 'extra'")]);
    expect(await bad('ok', { code: 'return 1', args: {} })).toEqual([400, '"args" must be an array']);
    expect(await bad('ok', { code: 'return 1', args: [{ $int: '1e3' }] })).toEqual([400, expect.stringContaining('args[0]: $int wants a decimal integer')]);
    expect(await bad('ok', { code: 'return 1', args: [{ $nope: 1 }] })).toEqual([400, expect.stringContaining('unknown tag "$nope"')]);
    expect(await bad('ok', { code: 'return 1', args: [{ $int: '99999999999999999999' }] })).toEqual([400, expect.stringContaining('does not fit in 64 bits')]);
    expect(await bad('ok', [1])).toEqual([400, expect.stringContaining('must be a JSON object')]);
    expect(await bad('ok', undefined, { body: '{"code": ', type: 'application/json' })).toEqual([400, expect.stringContaining('JSON')]);
    expect(await bad('ok', undefined, { body: 'return 1', type: 'text/plain' })).toEqual([400, expect.stringContaining('content-type: application/json')]);
    expect(await bad('ok', undefined, { body: 'return 1', type: 'application/x-lua' })).toEqual([415, expect.stringContaining('content-type: application/json')]);
    const missing = await get(s.url, '/nowhere');
    expect(missing).toMatchObject({ status: 404, json: { error: { kind: 'request', message: expect.stringContaining('POST /vms/ID/compute') } } });
  });

  it('GET /health and GET /metrics (Prometheus text)', async () => {
    expect(await get(s.url, '/health')).toMatchObject({ status: 200, json: { status: 'ok', store: 'directory' } });
    const before = await get(s.url, '/metrics');
    const value = (text: string, name: string) => Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
    const ok = value(before.text, 'lua_home_computes_total{outcome="ok"}');
    await post(s.url, 'm', { code: 'return 1' });
    await post(s.url, 'm', { code: 'error("x")' });
    const after = await get(s.url, '/metrics');
    expect(after.status).toBe(200);
    expect(value(after.text, 'lua_home_computes_total{outcome="ok"}')).toBe(ok + 1);
    expect(value(after.text, 'lua_home_computes_total{outcome="runtime"}')).toBeGreaterThanOrEqual(2);
    expect(value(after.text, 'lua_home_compute_errors_total')).toBeGreaterThan(value(before.text, 'lua_home_compute_errors_total'));
    for (const name of ['lua_home_live_vms', 'lua_home_vm_loads_total', 'lua_home_vm_saves_total', 'lua_home_compute_seconds_count',
      'lua_home_compute_seconds{quantile="0.99"}', 'lua_home_vm_load_seconds_total', 'lua_home_vm_evictions_total']) {
      expect([name, Number.isFinite(value(after.text, name))]).toEqual([name, true]);
    }
    expect(after.text).toContain('# TYPE lua_home_compute_seconds summary');
  });
});

describe('lua-home serve: a restart, eviction, the command line', () => {
  it('saves every VM with its image on SIGTERM; a new process resumes globals and _home; --max-live evicts', async () => {
    const dir = mkdtempSync(join(base, 'lua-home-serve-'));
    try {
      let s = await serve(['--store', dir, '--max-live', '2']);
      for (const id of ['a', 'b', 'c']) {
        await post(s.url, id, { code: `name = "${id}" local k = 0 function nextk() k = k + 1 return k end _home.v = "${id}"` });
      }
      expect((await get(s.url, '/metrics')).text).toMatch(/^lua_home_vm_evictions_total 1$/m);
      expect((await post(s.url, 'a', { code: 'return name, nextk(), _home.v' })).json.values).toEqual(['a', 1, 'a']); // a was evicted: reloaded
      expect(await stop(s)).toBe(0);
      s = await serve(['--store', dir]);
      for (const [id, k] of [['a', 2], ['b', 1], ['c', 1]] as const) {
        expect((await post(s.url, id, { code: 'return name, nextk(), _home.v' })).json.values).toEqual([id, k, id]);
      }
      expect(await stop(s)).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--timeout-ms: a request still waiting behind others on its VM after it answers 503 and never runs', async () => {
    const dir = mkdtempSync(join(base, 'lua-home-serve-'));
    const s = await serve(['--store', dir, '--timeout-ms', '150', '--limit', '4000000000', '--max-live', '1']);
    try {
      await post(s.url, 't', { code: 'g = 1' });
      await post(s.url, 'u', { code: 'g = 1' }); // t is evicted: its next request waits for its load, and the next behind it
      // (A running compute holds the event loop: the wait that counts starts when the request is read.)
      const slow = post(s.url, 't', { code: 'local x = 0 for i = 1, 3e8 do x = x + i end _home.slow = true return x' });
      const late = await post(s.url, 't', { code: '_home.late = true' });
      expect(late).toMatchObject({ status: 503, json: { error: { kind: 'timeout', message: expect.stringContaining('did not start before its deadline') } } });
      expect((await slow).status).toBe(200);
      expect((await get(s.url, '/vms/t/home')).json).toEqual({ slow: true });
    } finally {
      await stop(s);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--host-bytes: a VM that would hold more answers 422 quota, rolled back; pcall may catch it', async () => {
    const dir = mkdtempSync(join(base, 'lua-home-serve-'));
    const s = await serve(['--store', dir, '--host-bytes', '50000']);
    try {
      await post(s.url, 'q', { code: '_home.small = 1' });
      const r = await post(s.url, 'q', { code: 'for i = 1, 100 do _home[i] = ("x"):rep(1000) end' });
      expect(r).toMatchObject({ status: 422, json: { error: { kind: 'quota', message: expect.stringContaining('limits.hostBytes') } } });
      expect((await get(s.url, '/vms/q/home')).json).toEqual({ small: 1 });
      const caught = await post(s.url, 'q', { code: 'return (pcall(function() _home.big = ("y"):rep(60000) end))' });
      expect(caught).toMatchObject({ status: 200, json: { values: [false] } });
    } finally {
      await stop(s);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad flags with status 2 and the usage', () => {
    for (const args of [['--limit', '0'], ['--frob'], ['--host-bytes', 'x']]) {
      const r = spawnSync(process.execPath, [cli, 'serve', ...args], { encoding: 'utf8' });
      expect([args, r.status]).toEqual([args, 2]);
      expect(r.stderr).toContain('usage: lua-home serve');
    }
    expect(spawnSync(process.execPath, [cli, 'serve', '--help'], { encoding: 'utf8' })).toMatchObject({ status: 0, stdout: expect.stringContaining('--store postgres://') });
  });
});

describe('lua-home serve on PostgreSQL', () => {
  let server: PostgresServer;

  beforeAll(async () => {
    server = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  /** An increment with a unique request key, so that every applied request is visible in _home. */
  const bump = (rid: string) => ({ code: `_home.n = (_home.n or 0) + 1 _home["${rid}"] = (_home["${rid}"] or 0) + 1 return _home.n` });

  it('two processes on one database serve the same ids: each id is live in one, the other forwards to it', async () => {
    const url = server.url(await server.createDatabase());
    const [a, b] = await Promise.all([serve(['--store', url]), serve(['--store', url])]);
    const ids = Array.from({ length: 10 }, (_, i) => `shared${i}`);
    const sent = await Promise.all(Array.from({ length: 100 }, (_, i) => post(i % 2 ? a.url : b.url, ids[i % ids.length], bump(`r${i}`))));
    expect(sent.filter((r) => r.status !== 200)).toEqual([]);
    for (const [i, id] of ids.entries()) {
      const home = (await get(i % 2 ? b.url : a.url, `/vms/${id}/home`)).json;
      expect(home.n).toBe(10);
      expect(Object.keys(home).filter((k) => k.startsWith('r')).length).toBe(10);
    }
    const health = await Promise.all([get(a.url, '/health'), get(b.url, '/health')]);
    expect(health.map((h) => h.json.store)).toEqual(['postgres', 'postgres']);
    expect(health[0].json.live + health[1].json.live).toBe(10); // each id live in exactly one of them
    expect(await Promise.all([stop(a), stop(b)])).toEqual([0, 0]);
  }, 60_000);

  it('a process SIGKILLed with 200 ids is replaced after its lease expires: nothing acknowledged is lost or counted twice', async () => {
    const url = server.url(await server.createDatabase());
    const flags = ['--store', url, '--lease-ms', '1500', '--max-live', '300'];
    const ids = Array.from({ length: 200 }, (_, i) => `vm${i}`);
    const acked = new Map<string, string>(); // request key -> id
    const unknown = new Map<string, string>(); // sent, no answer or an error: applied at most once
    let next = 0;
    let servers = await Promise.all([serve(flags), serve(flags)]);
    const send = async (id: string) => {
      const rid = `r${next++}`;
      const target = servers[Math.floor(Math.random() * servers.length)];
      try {
        const r = await post(target.url, id, bump(rid));
        (r.status === 200 ? acked : unknown).set(rid, id);
        return r.status === 200;
      } catch {
        unknown.set(rid, id);
        return false;
      }
    };
    await Promise.all(ids.map((id) => send(id))); // every id is live somewhere
    let stopping = false;
    const clients = Array.from({ length: 8 }, async () => {
      while (!stopping) await send(ids[Math.floor(Math.random() * ids.length)]);
    });
    for (let kill = 0; kill < 2; kill++) {
      await sleep(700);
      const victim = servers[0];
      victim.child.kill('SIGKILL'); // requests in flight to it are lost or applied: "unknown"
      await victim.exited;
      servers = [servers[1], await serve(flags)]; // a replacement; the dead one's VMs come free when their leases expire
    }
    await sleep(500);
    stopping = true;
    await Promise.all(clients);
    // Every id once more, through the survivors, retried until its lease is free: nothing is stuck.
    await Promise.all(ids.map(async (id) => {
      const until = Date.now() + 15_000;
      while (!(await send(id))) {
        if (Date.now() > until) throw new Error(`${id} was never served again`);
        await sleep(200);
      }
    }));
    for (const id of ids) {
      const home = (await get(servers[0].url, `/vms/${id}/home`)).json as Record<string, number>;
      const rids = Object.keys(home).filter((k) => k !== 'n');
      for (const rid of rids) {
        expect([rid, home[rid]]).toEqual([rid, 1]); // no request applied twice
        expect([rid, acked.get(rid) ?? unknown.get(rid)]).toEqual([rid, id]);
      }
      const mine = [...acked].filter(([, v]) => v === id).map(([k]) => k);
      expect(rids).toEqual(expect.arrayContaining(mine)); // every acknowledged one is there
      expect(home.n).toBe(rids.length);
    }
    expect(acked.size).toBeGreaterThan(400);
    await Promise.all(servers.map((s) => stop(s, 'SIGKILL'))); // what matters is in the database already
  }, 60_000);
});

describe('the README section "Running lua-home as a service"', () => {
  const readme = require('node:fs').readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8') as string;
  const section = readme.slice(readme.indexOf('\n## Running lua-home as a service\n'), readme.indexOf('\n## Persistence and its guarantees\n'));
  const block = (lang: string) => new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section)![1];

  it('runs the LuaPool example as shown', () => {
    const dir = mkdtempSync(join(base, 'lua-home-readme-pool-'));
    try {
      require('node:fs').mkdirSync(join(dir, 'node_modules'));
      require('node:fs').symlinkSync(join(__dirname, '..', '..'), join(dir, 'node_modules', 'lua-home'), 'dir');
      require('node:fs').writeFileSync(join(dir, 'pool.mjs'), block('js'));
      const run = () => spawnSync(process.execPath, ['pool.mjs'], { cwd: dir, encoding: 'utf8' });
      const first = run();
      expect(first.stderr).toBe('');
      expect(first.stdout).toMatch(/^1 \{\s+live: 1,\s+maxLive: 64,\s+evicted: 0,/);
      expect(run().stdout).toMatch(/^2 \{/); // _home and the image were saved by close()
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers the curl example as shown', async () => {
    const dir = mkdtempSync(join(base, 'lua-home-readme-serve-'));
    const s = await serve(['--store', dir]);
    try {
      const [command, ...expected] = block('sh').trim().split('\n').filter((l) => !l.startsWith('    -d'));
      const body = /-d '(.*)'$/m.exec(block('sh'))![1];
      expect(command).toContain('localhost:8080/vms/alice/compute');
      const r = await fetch(`${s.url}/vms/alice/compute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(await r.text()).toBe(expected.join('\n'));
    } finally {
      await stop(s);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
