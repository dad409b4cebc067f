// The quota and time fuzzer: random programs built from fragments that push at the walls (big
// strings, concatenation, writes to _home and ext.table() tables, table library work, patterns,
// traversal, deep copies, pcall, coroutines, endless loops) run under random small limits. Every
// compute ends in a result or an error of an expected kind, within its limits; a failed one
// leaves _home as it was; the VM goes on; the process that ran them all stays small.
// `npm run fuzz` runs the same property longer (LUA_HOME_FC_RUNS; LUA_HOME_FC_SEED picks the seed;
// LUA_HOME_FUZZ_REPORT=1 prints the kinds seen, the peak RSS and the slowest compute).
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import fc from 'fast-check';

const SEED = Number(process.env.LUA_HOME_FC_SEED ?? 20261125);
const RUNS = Number(process.env.LUA_HOME_FC_RUNS ?? 300);
const SESSION_TIMEOUT_MS = 30_000; // a session's computes take well under a second; longer is a hang
// A step costs a few nanoseconds, the costliest about 20 times that (docs/ABI.md, "Steps"): a
// compute slower than 2 s plus 5 µs a step (100 times an arithmetic step) is not bounded by them.
const COMPUTE_MS = 2000;
const STEP_MS = 0.005;
const MAX_RSS_MB = 512;
const TIME_LIMIT_MS = Math.max(180_000, RUNS * 500);
const KINDS = ['runtime', 'memory', 'limit', 'quota'];

const DIST = join(__dirname, '..', '..', 'dist', 'cjs', 'node.js');

// {======  the child: runs sessions over the built package, in a process of its own  ======}

interface Limits { hostBytes: number; tables: number; computeBytes: number }
interface Session { instructionLimit: number; limits: Limits; preload: string | null; computes: string[] }

interface Usage { hostBytes: number; tables: number; home: string }
interface Observation {
  before: Usage;
  after: Usage;
  kind: string; // 'ok' or the LuaError's kind
  message: string;
  cause: string; // the name of the LuaError's cause
  steps: number;
  computeBytes: number;
  ms: number;
  next: unknown[]; // what `return 1 + 1` gave afterwards (or the errors it raised), until it gave 2
}
interface Answer { observations: Observation[]; setup?: string; rssMB: number }

// Plain JavaScript, run with `node -e`: one JSON session per line in, one JSON answer per line out.
const CHILD = `
const { Lua } = require(${JSON.stringify(DIST)});
const { createHash } = require('node:crypto');
const { resourceUsage } = require('node:process');
const { createInterface } = require('node:readline');

// A canonical text of a toJS() copy: sorted keys, tagged types, cycles by first visit.
function canon(v, seen) {
  if (v === null || v === undefined) return 'nil';
  switch (typeof v) {
    case 'boolean': return v ? 'T' : 'F';
    case 'number': return 'n' + (Object.is(v, -0) ? '-0' : String(v));
    case 'bigint': return 'i' + v;
    case 'string': return 's' + JSON.stringify(v);
  }
  if (v instanceof Uint8Array) return 'b' + Buffer.from(v).toString('hex');
  if (seen.has(v)) return '@' + seen.get(v);
  seen.set(v, seen.size);
  const entries = v instanceof Map ? [...v] : Array.isArray(v) ? v.map((x, i) => [i + 1, x]) : Object.entries(v);
  return '{' + entries.map(([k, x]) => canon(k, seen) + '=' + canon(x, seen)).sort().join(',') + '}';
}

function usage(lua) {
  const s = lua.stats();
  const home = createHash('sha256').update(canon(lua.home.toJS(), new Map())).digest('hex');
  return { hostBytes: s.hostBytes, tables: s.tables, home };
}

async function run(session) {
  let state;
  if (session.preload !== null) { // a state made without quotas, perhaps already above them
    const big = await Lua.create({ randomSeed: 1 });
    big.compute(session.preload);
    state = big.exportState();
    big.close();
  }
  const lua = await Lua.create({ instructionLimit: session.instructionLimit, limits: session.limits, randomSeed: 1, clock: 0, state });
  const observations = [];
  for (const code of session.computes) {
    const before = usage(lua);
    let kind = 'ok', message = '', cause = '';
    const t0 = performance.now();
    try {
      lua.compute(code);
    } catch (e) {
      kind = String(e.kind);
      message = String(e.message).slice(0, 300);
      cause = e.cause ? String(e.cause.name) : '';
    }
    const ms = performance.now() - t0;
    const s = lua.stats();
    const after = usage(lua);
    const next = []; // what \`return 1 + 1\` gives next, up to three times until it gives 2
    for (let i = 0; i < 3 && next[next.length - 1] !== 2; i++) {
      try { next.push(lua.compute('return 1 + 1').value); } catch (e) { next.push(e.kind + ': ' + e.message); }
    }
    observations.push({ before, after, kind, message, cause, steps: s.steps, computeBytes: s.computeBytes, ms, next });
  }
  lua.close();
  return observations;
}

createInterface({ input: process.stdin }).on('line', async (line) => {
  let answer;
  try {
    answer = { observations: await run(JSON.parse(line)) };
  } catch (e) {
    answer = { observations: [], setup: String(e && e.stack || e) };
  }
  answer.rssMB = resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify(answer) + '\\n');
});
`;

/** One child process at a time; a session that does not answer in time kills it (a hang). */
class Runner {
  private child: ChildProcessWithoutNullStreams | null = null;
  private waiting: ((line: string) => void) | null = null;
  private stderr = '';

  private start(): ChildProcessWithoutNullStreams {
    const child = spawn(process.execPath, ['-e', CHILD], { stdio: 'pipe' });
    this.stderr = '';
    createInterface({ input: child.stdout }).on('line', (line) => this.waiting?.(line));
    child.stderr.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
    child.on('exit', () => { if (this.child === child) this.child = null; this.waiting?.(''); });
    this.child = child;
    return child;
  }

  /** The child's answer, or a reason it gave none ('hang' or how it died). */
  run(session: Session): Promise<Answer | string> {
    const child = this.child ?? this.start();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.stop();
        resolve(`hang: no answer in ${SESSION_TIMEOUT_MS} ms`);
      }, SESSION_TIMEOUT_MS);
      this.waiting = (line) => {
        clearTimeout(timer);
        this.waiting = null;
        resolve(line ? JSON.parse(line) as Answer : `the child process died: ${this.stderr}`);
      };
      child.stdin.write(JSON.stringify(session) + '\n');
    });
  }

  stop(): void {
    const child = this.child;
    this.child = null;
    child?.kill('SIGKILL');
  }
}

// {======  the grammar  ======}

/** Sizes spread over orders of magnitude up to 2^max; shrinks towards 0. */
const size = (max: number) => fc.tuple(fc.nat(max), fc.nat()).map(([bits, r]) => r % (2 ** bits + 1));

const strLit = fc.constantFrom('"x"', '"ab"', '""', '"\\0\\255"', '"( )%"', '"aab "');
const key = fc.oneof(
  fc.constantFrom('"a"', '"b"', '1', '2', '3', '1.5', 'true', '-7', '"k" .. i'),
  size(17).map((n) => `string.rep("K", ${n})`), // keys of up to 65,535 bytes fit; longer are an error
);
// Where a write goes: _home, a new external table, the last one made, a table kept in _home.
const target = fc.constantFrom('_home', 'X()', 'L()', 'S("s")', 'S(1)');
const value = fc.oneof(
  fc.constantFrom('i', '"v" .. i', 'i * 0.5', 'true', '{ i }', '{ i, { i } }', 'X()', '_home', 'L()'),
  fc.tuple(strLit, size(21)).map(([q, n]) => `string.rep(${q}, ${n})`),
);
const patternAtom = fc.constantFrom('a', 'b', '.', '%w+', '%s*', '.-', '.*', 'a-', 'a*', 'b?', '%bab', '%b()', '(a*)', '[ab]+',
  '[^a]', '%f[%w]', '%d', '()', '%1', '(', ')', '%', '[', '%z');
const pattern = fc.tuple(fc.boolean(), fc.array(patternAtom, { minLength: 1, maxLength: 5 }), fc.boolean())
  .map(([start, atoms, end]) => JSON.stringify((start ? '^' : '') + atoms.join('') + (end ? '$' : '')));
const replacement = fc.constantFrom('"%0%0"', '""', '"x"', '"%1"', '{ a = "A" }', 'function(c) return c .. c end', 'function() return false end');
const deep = fc.oneof(
  fc.tuple(fc.nat(260), fc.constant(1), size(12)), // a chain, sometimes deeper than a copy may go
  fc.tuple(fc.nat(4), fc.nat(16), size(14)), // a bushy tree
);

const fragment: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(target, key, strLit, size(22)).map(([t, k, q, n]) => `${t}[${k}] = string.rep(${q}, ${n})`),
  fc.tuple(strLit, size(14), target, key).map(([q, n, t, k]) => `do local s = "" for i = 1, ${n} do s = s .. ${q} end ${t}[${k}] = s end`),
  fc.tuple(target, size(12), value).map(([t, n, v]) => `do local t = ${t} for i = 1, ${n} do t[i] = ${v} end end`),
  fc.tuple(target, key, value).map(([t, k, v]) => `do local i = 1 ${t}[${k}] = ${v} end`),
  fc.tuple(target, key).map(([t, k]) => `${t}[${k}] = nil`),
  fc.tuple(target, value).map(([t, v]) => `do local i = 0 table.insert(${t}, ${v}) table.insert(${t}, 1, ${v}) end`),
  fc.tuple(target, fc.constantFrom('1', '', '#T')).map(([t, at]) => `do local T = ${t} table.remove(T${at ? ', ' + at : ''}) end`),
  fc.tuple(target, size(21), size(21), target).map(([a, e, to, b]) => `table.move(${a}, 1, ${e}, ${to}, ${b})`),
  fc.tuple(target, key, fc.constantFrom('","', '""')).map(([t, k, sep]) => `do local T = ${t} T[${k}] = table.concat(T, ${sep}) end`),
  fc.tuple(target, fc.constantFrom('', ', function(a, b) return tostring(a) < tostring(b) end', ', function(a, b) return true end'))
    .map(([t, cmp]) => `table.sort(${t}${cmp})`),
  fc.tuple(size(17), size(17), key, target).map(([n, at, k, t]) =>
    `do local t = {} for i = 1, ${n} do t[i] = (i * 7) % 13 end table.sort(t) table.insert(t, 1, 0) table.remove(t, 1) ` +
    `table.move(t, 1, #t, ${at}) ${t}[${k}] = table.concat(t, ",") end`),
  fc.tuple(strLit, size(18), pattern, replacement, target, key).map(([q, n, p, r, t, k]) =>
    `do local s = string.rep(${q}, ${n}) local a, b = s:find(${p}) local r = s:gsub(${p}, ${r}) ${t}[${k}] = r end`),
  fc.tuple(strLit, size(16), pattern, target).map(([q, n, p, t]) =>
    `do local T = ${t} for w in string.rep(${q}, ${n}):gmatch(${p}) do T[#T + 1] = w end end`),
  fc.tuple(target, fc.constantFrom('T[k] = v', 'T[k] = nil', 'n = n + 1', 'T[tostring(k) .. "x"] = v', 'T.count = n'))
    .map(([t, body]) => `do local T, n = ${t}, 0 for k, v in pairs(T) do ${body} end end`),
  target.map((t) => `do local T = ${t} local k = next(T) while k ~= nil do k = next(T, k) end end`),
  fc.tuple(target, key, deep).map(([t, k, [d, w, n]]) => `${t}[${k}] = mk(${d}, ${w}, ${n})`),
  fc.tuple(target, key).map(([t, k]) => `do local c = {} c.self = c c[1] = { c } ${t}[${k}] = c end`),
  fc.tuple(key, key).map(([a, b]) => `_home[${a}] = _home[${b}]`),
  fc.tuple(target, key, strLit, size(20)).map(([t, k, q, n]) =>
    `do local s = string.rep(${q}, ${n}) ${t}[${k}] = string.format("%s%s", s, s) end`),
  size(12).map((n) => `for i = 1, ${n} do local e = X() e[1] = i end`),
  size(20).map((n) => `do local x = 0 for i = 1, ${n} do x = x + i end end`),
  fc.tuple(size(15), fc.constantFrom('', '"step"', '"count"')) // a live heap (kept in G up to n tables) for the collector to walk
    .map(([n, opt]) => `do for i = #G + 1, ${n} do G[i] = { i } end collectgarbage(${opt}) end`),
  fc.tuple(target, key).map(([t, k]) => `do local T = ${t} T[${k}] = #T end`),
  fc.tuple(target, key).map(([t, k]) => `rawset(${t}, ${k}, rawget(${t}, ${k}))`),
  fc.constantFrom('error("boom")', 'error({ code = 1 })', 'assert(false)', '_home.f = print', 'collectgarbage()', 'collectgarbage("step")'),
);

/** Statements: fragments, and pcall, coroutines, loops and finalizers around statements. */
const statements: fc.Arbitrary<string> = fc.letrec<{ block: string; stmt: string }>((tie) => ({
  block: fc.array(tie('stmt'), { minLength: 1, maxLength: 3 }).map((xs) => xs.join('\n')),
  stmt: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fragment,
    tie('block').map((b) => `pcall(function()\n${b}\nend)`),
    tie('block').map((b) => `do local ok, e = pcall(function()\n${b}\nend) if not ok then error(e, 0) end end`),
    fc.tuple(tie('block'), tie('block')).map(([a, b]) =>
      `do local co = coroutine.create(function()\n${a}\ncoroutine.yield()\n${b}\nend) coroutine.resume(co) coroutine.resume(co) end`),
    tie('block').map((b) => `coroutine.wrap(function()\n${b}\nend)()`),
    fc.tuple(fc.nat(40), tie('block')).map(([n, b]) => `for i = 1, ${n} do\n${b}\nend`),
    tie('block').map((b) => `while true do\n${b}\nend`),
    tie('block').map((b) => `do setmetatable({}, { __gc = function()\n${b}\nend }) end collectgarbage()`),
  ),
})).block;

const PRELUDE = [
  'local i = 1',
  'local G = {}',
  'local last',
  'local function X() last = ext.table() return last end',
  'local function L() return last or _home end',
  'local function S(k) local t = _home[k] if type(t) ~= "table" then t = ext.table() _home[k] = t end return t end',
  'local function mk(d, w, n) if d == 0 then return string.rep("z", n) end local t = {} for j = 1, w do t[j] = mk(d - 1, w, n) end return t end',
].join(' ');

const PRELOADS = [
  'for i = 1, 200 do _home[i] = string.rep("p", 500) end',
  'for i = 1, 30 do _home[i] = { i, { i } } end',
  '_home.a = "small"',
  'for i = 1, 40 do local e = ext.table() e.v = string.rep("q", 50000) _home[i] = e end',
];

const kib = (min: number, max: number) => fc.double({ min: Math.log(min), max: Math.log(max), noNaN: true }).map((x) => Math.round(Math.exp(x)));
const session: fc.Arbitrary<Session> = fc.record({
  instructionLimit: kib(1e3, 1e6),
  limits: fc.record({ hostBytes: kib(1024, 4 * 2 ** 20), tables: kib(1, 1000), computeBytes: kib(1024, 4 * 2 ** 20) }),
  preload: fc.option(fc.constantFrom(...PRELOADS), { freq: 5 }),
  computes: fc.array(statements.map((s) => `${PRELUDE}\n${s}`), { minLength: 1, maxLength: 3 }),
}).map((s) => Object.assign(s, { [fc.toStringMethod]: () => describeSession(s) }));

function describeSession(s: Session): string {
  return `instructionLimit ${s.instructionLimit}, limits ${JSON.stringify(s.limits)}, preload ${JSON.stringify(s.preload)}\n` +
    s.computes.map((c, i) => `--- compute ${i + 1} ---\n${c}`).join('\n');
}

// {======  the property  ======}

/** What is wrong with one compute's observation, or null. */
function problem(s: Session, code: string, o: Observation): string | null {
  const { limits, instructionLimit } = s;
  const failed = o.kind !== 'ok';
  if (failed && !KINDS.includes(o.kind)) return `kind ${o.kind} (${o.message}), expected one of ${KINDS.join(', ')}`;
  if (o.kind === 'quota' && o.cause !== 'QuotaError') return `a quota error whose cause is ${o.cause || 'missing'}`;
  if (o.steps > instructionLimit + 1) return `${o.steps} steps, over instructionLimit ${instructionLimit} + 1`;
  if (o.kind === 'limit' && o.steps !== instructionLimit + 1) return `a limit error after ${o.steps} steps of ${instructionLimit}`;
  if (o.after.hostBytes > Math.max(limits.hostBytes, o.before.hostBytes)) {
    return `hostBytes ${o.after.hostBytes} over limits.hostBytes ${limits.hostBytes} (before: ${o.before.hostBytes})`;
  }
  if (o.after.tables > Math.max(limits.tables, o.before.tables)) return `${o.after.tables} tables over limits.tables ${limits.tables} (before: ${o.before.tables})`;
  if (o.computeBytes > limits.computeBytes) return `computeBytes ${o.computeBytes} over limits.computeBytes ${limits.computeBytes}`;
  if (failed && o.after.home !== o.before.home) return `a failed compute (${o.kind}: ${o.message}) changed _home`;
  if (failed && (o.after.hostBytes !== o.before.hostBytes || o.after.tables !== o.before.tables)) {
    return `a failed compute (${o.kind}) left hostBytes ${o.before.hostBytes} -> ${o.after.hostBytes}, tables ${o.before.tables} -> ${o.after.tables}`;
  }
  if (o.ms > COMPUTE_MS + o.steps * STEP_MS) return `the compute took ${Math.round(o.ms)} ms for ${o.steps} steps: its work is not bounded by its steps`;
  // Finalizers of a compute's garbage may run in the next compute, charged to it: a script that
  // leaves finalizers that work can make the next one or two fail at the instruction limit.
  const fails = o.next.slice(0, -1);
  if (o.next[o.next.length - 1] !== 2 || (fails.length > 0 && !(code.includes('__gc') && fails.every((x) => /^limit: /.test(String(x)))))) {
    return `the VM no longer computes 1 + 1: ${JSON.stringify(o.next)}`;
  }
  return null;
}

describe('quota and time fuzzer', () => {
  const runner = new Runner();
  afterAll(() => runner.stop());

  it(`random programs under random small limits (${RUNS.toLocaleString('en')} sessions): bounded, rolled back, the VM goes on, the process stays under ${MAX_RSS_MB} MB`, async () => {
    const kinds = new Map<string, number>();
    let rssMB = 0;
    let maxMs = 0;
    let slowest = '';
    await fc.assert(
      fc.asyncProperty(session, async (s) => {
        const answer = await runner.run(s);
        if (typeof answer === 'string') throw new Error(answer);
        if (answer.setup) throw new Error(`the session could not start: ${answer.setup}`);
        rssMB = answer.rssMB;
        answer.observations.forEach((o, i) => { if (o.ms > maxMs) { maxMs = o.ms; slowest = `${o.steps} steps, ${o.kind}, ${JSON.stringify(s.limits)}\n${s.computes[i]}`; } });
        answer.observations.forEach((o, i) => {
          kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
          const p = problem(s, s.computes[i], o);
          if (p) throw new Error(`compute ${i + 1}: ${p}\n${s.computes[i]}\nobserved ${JSON.stringify(o)}`);
        });
        if (answer.rssMB > MAX_RSS_MB) throw new Error(`the process running the fuzz reached ${Math.round(answer.rssMB)} MB`);
      }),
      { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS - 30_000 }, // shrinking stops in time to report
    );
    // The generator does reach each wall, not only the instruction limit.
    for (const kind of ['ok', 'runtime', 'limit', 'quota']) expect([kind, (kinds.get(kind) ?? 0) > RUNS / 100]).toEqual([kind, true]);
    expect(rssMB).toBeLessThan(MAX_RSS_MB);
    if (process.env.LUA_HOME_FUZZ_REPORT) console.log(JSON.stringify({ kinds: [...kinds], rssMB, maxMs }), slowest);
  }, TIME_LIMIT_MS);
});
