// Input and output throughput: 10 MB printed by a script (to a stdout sink, collected into a
// result's output, through the lua-home command to /dev/null beside native lua5.4), and large
// results (a 30,000-entry table, a 700 KB string) returned by a compute, beside wasmoon.
// Run by bench/run.mjs (--only=io), or alone: node bench/io.mjs [--quick].
// `node bench/io.mjs --against=DIR[,DIR...] [--rounds=N]` compares external-table writes and reads
// per second with the builds in other worktrees (their dist/), in fresh processes taken in turn.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const require = createRequire(import.meta.url);

const MB = 1e6; // megabytes are decimal here: 10 MB is 10,000,000 bytes
const LINES = 100_000; // lines of 100 bytes (99 and a newline): 10 MB
const OUTPUT_BYTES = LINES * 100;
const PRINT = `local s = string.rep("x", 99) for i = 1, ${LINES} do print(s) end`;
const WRITE = `local s = string.rep("x", 99) .. "\\n" for i = 1, ${LINES} do io.write(s) end`;

// Results, and the same chunks returning only a length: the difference is what returning costs.
// Their sizes in the value codec (docs/ABI.md): a table is a tag, a u32 pair count and 30,000
// integer pairs of 9 + 9 bytes; a string a tag, a u32 length and its bytes.
const RESULTS = {
  table: {
    code: 'local t = {} for i = 1, 30000 do t[i] = i end return t',
    bare: 'local t = {} for i = 1, 30000 do t[i] = i end return #t',
    bytes: 5 + 30000 * 18,
    check: (v) => v.length === 30000 && Number(v[29999]) === 30000,
  },
  string: {
    code: 'return string.rep("x", 700000)',
    bare: 'return #string.rep("x", 700000)',
    bytes: 5 + 700000,
    check: (v) => v.length === 700000,
  },
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// The median ms of `rounds` calls of f, after one warm-up call.
function msPerCall(f, rounds) {
  f();
  const ts = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    f();
    ts.push(performance.now() - t);
  }
  return median(ts);
}

// The median wall time of a process with stdout to /dev/null (stderr kept for its message).
function processMs(command, args, rounds) {
  const devnull = openSync('/dev/null', 'w');
  try {
    const once = () => {
      const t = performance.now();
      const p = spawnSync(command, args, { stdio: ['ignore', devnull, 'pipe'] });
      const ms = performance.now() - t;
      if (p.status !== 0) throw new Error(`io bench: ${command} ${args.join(' ')} failed: ${p.stderr}`);
      return ms;
    };
    once(); // warm-up: the file cache
    return median(Array.from({ length: rounds }, once));
  } finally {
    closeSync(devnull);
  }
}

function check(what, ok) {
  if (!ok) throw new Error(`io bench: ${what} gave a wrong result`);
}

async function output(Lua, rounds) {
  let n = 0;
  const sunk = await Lua.create({ stdout: (bytes) => { n += bytes.length; } });
  const collecting = await Lua.create();
  const o = {};
  for (const [how, code] of [['print', PRINT], ['io.write', WRITE]]) {
    n = 0;
    sunk.compute(code);
    check(`${how} to a sink`, n === OUTPUT_BYTES);
    const r = collecting.compute(code);
    check(`${how} collected`, r.output.length === OUTPUT_BYTES && r.outputDropped === 0);
    o[how] = {
      sinkMs: msPerCall(() => sunk.compute(code), rounds),
      collectedMs: msPerCall(() => collecting.compute(code), rounds),
    };
  }
  sunk.close();
  collecting.close();
  // Whole processes: with the 10 MB, and with an empty chunk (start and exit alone).
  const cli = join(root, 'dist', 'cjs', 'cli', 'cli.js');
  const processes = { cli: [process.execPath, cli, '--no-state'], native: ['lua5.4'] };
  for (const [name, [command, ...args]] of Object.entries(processes)) {
    const ms = (code) => processMs(command, [...args, '-e', code], rounds);
    o[name] = { printMs: ms(PRINT), writeMs: ms(WRITE), emptyMs: ms('') };
  }
  return o;
}

async function results(Lua, rounds) {
  const { LuaFactory } = require('wasmoon');
  const lua = await Lua.create();
  const wasmoon = await new LuaFactory().createEngine();
  const out = {};
  for (const [name, r] of Object.entries(RESULTS)) {
    check(`lua-home ${name}`, r.check(lua.compute(r.code).value));
    check(`wasmoon ${name}`, r.check(wasmoon.doStringSync(r.code)));
    out[name] = {
      bytes: r.bytes,
      luaHomeMs: msPerCall(() => lua.compute(r.code), rounds),
      luaHomeBareMs: msPerCall(() => lua.compute(r.bare), rounds),
      wasmoonMs: msPerCall(() => wasmoon.doStringSync(r.code), rounds),
      wasmoonBareMs: msPerCall(() => wasmoon.doStringSync(r.bare), rounds),
    };
  }
  lua.close();
  wasmoon.global.close();
  return out;
}

/** Measures every figure; returns them (ms) for `table` and results/latest.json. */
export async function run({ quick = false } = {}) {
  const { Lua } = await import(pathToFileURL(join(root, 'dist', 'esm', 'node.js')).href);
  const rounds = quick ? 3 : 7;
  return { outputBytes: OUTPUT_BYTES, output: await output(Lua, rounds), results: await results(Lua, rounds) };
}

/** The figures as lines of text. */
export function table(r) {
  const mbs = (bytes, ms) => `${(bytes / MB / (ms / 1000)).toFixed(0)} MB/s`;
  const ms = (x) => `${x.toFixed(x >= 100 ? 0 : 1)} ms`;
  const o = r.output;
  const row = (what, print, write, extra = '') => `${what.padEnd(44)} ${print.padStart(9)} ${write.padStart(9)}${extra}`;
  const proc = (what, p) => row(what, mbs(r.outputBytes, p.printMs), mbs(r.outputBytes, p.writeMs),
    `  (${ms(p.printMs)}, ${ms(p.writeMs)}; an empty chunk ${ms(p.emptyMs)}; beyond it ${mbs(r.outputBytes, p.printMs - p.emptyMs)}, ${mbs(r.outputBytes, p.writeMs - p.emptyMs)})`);
  const lines = [
    `I/O: ${(r.outputBytes / MB).toFixed(0)} MB of output (${LINES.toLocaleString('en')} lines of 100 bytes), MB/s (median)`,
    row('', 'print', 'io.write'),
    row('lua-home, to a stdout function', mbs(r.outputBytes, o.print.sinkMs), mbs(r.outputBytes, o['io.write'].sinkMs)),
    row('lua-home, collected into r.output', mbs(r.outputBytes, o.print.collectedMs), mbs(r.outputBytes, o['io.write'].collectedMs)),
    proc('lua-home -e, a process, stdout to /dev/null', o.cli),
    proc('lua5.4 -e, a process, stdout to /dev/null', o.native),
    'Results returned by a compute: ms per compute (median), MB/s of the encoded result; in brackets, ms without returning it',
    `${''.padEnd(44)} ${'lua-home'.padStart(22)} ${'wasmoon'.padStart(22)}`,
  ];
  const names = { table: 'a table of 30,000 integers', string: 'a string of 700,000 bytes' };
  for (const [name, x] of Object.entries(r.results)) {
    const cell = (t, bare) => `${ms(t)} (${ms(bare)}) ${mbs(x.bytes, t)}`.padStart(22);
    lines.push(`${`${names[name]} (${(x.bytes / 1000).toFixed(0)} KB encoded)`.padEnd(44)} ${cell(x.luaHomeMs, x.luaHomeBareMs)} ${cell(x.wasmoonMs, x.wasmoonBareMs)}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- external tables, two builds

const N = 1_000_000;
const TABLE_CODES = {
  'integer writes': `local t = _home for i = 1, ${N} do t[i] = i end`,
  'integer rewrites': `local t = _home for i = 1, ${N} do t[i] = i + 1 end`,
  'integer reads': `local t, s = _home, 0 for i = 1, ${N} do s = s + t[i] end return s`,
  'string-key writes': `local t = _home for i = 1, ${N} do t["k" .. i] = i end`,
  'string-key reads': `local t, s = _home, 0 for i = 1, ${N} do s = s + t["k" .. i] end return s`,
};

// Rewriting a million entries in one compute keeps their old values in the undo log: 88 MB, over
// the default limits.computeBytes (64 MiB). Raised where the build has limits; checked all the same.
const RAISED = { limits: { hostBytes: 2 ** 30, computeBytes: 2 ** 30 } };

/** Operations per second of each TABLE_CODES loop with the build in `dir` (median of `reps`, each on a fresh VM). */
export async function tableRates(dir, reps = 2) {
  const { Lua } = await import(pathToFileURL(join(dir, 'dist', 'esm', 'node.js')).href);
  const options = await Lua.create(RAISED).then((vm) => (vm.close(), RAISED), () => ({})); // a build before quotas refuses `limits`
  const ms = Object.fromEntries(Object.keys(TABLE_CODES).map((k) => [k, []]));
  for (let r = 0; r <= reps; r++) { // the first rep warms the code up
    for (const keys of ['integer', 'string-key']) {
      const lua = await Lua.create(options); // one VM per kind of key: a million entries each, within 64 MiB
      for (const [what, code] of Object.entries(TABLE_CODES)) {
        if (!what.startsWith(keys)) continue;
        const t = performance.now();
        lua.compute(code);
        if (r > 0) ms[what].push(performance.now() - t);
      }
      lua.close();
    }
  }
  return Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, N / (median(v) / 1000)]));
}

// Fresh processes, this build and the others in turn, `rounds` each; the medians of their rates.
function compareBuilds(others, rounds) {
  const dirs = [root, ...others.map((d) => resolve(d))];
  const rates = dirs.map(() => []);
  for (let r = 0; r < rounds; r++) {
    dirs.forEach((dir, b) => {
      const p = spawnSync(process.execPath, [fileURLToPath(import.meta.url), `--rates=${dir}`], { encoding: 'utf8' });
      if (p.status !== 0) throw new Error(`io bench: rates of ${dir} failed: ${p.stderr}`);
      rates[b].push(JSON.parse(p.stdout));
      console.error(`round ${r + 1}, build ${b}: ${Object.values(rates[b].at(-1)).map((x) => (x / 1e6).toFixed(2)).join(' ')} M/s`);
    });
  }
  console.log(`External tables, ${N.toLocaleString('en')} operations per compute: M/s, median of ${rounds} processes per build (2 runs each after a warm-up);`);
  console.log('in brackets, the time of this build (build 0) over that build\'s, less 1');
  console.log(`${''.padEnd(20)} ${dirs.map((_, b) => `build ${b}`.padStart(16)).join(' ')}`);
  for (const what of Object.keys(TABLE_CODES)) {
    const m = rates.map((runs) => median(runs.map((x) => x[what])));
    const cell = (x, b) => `${(x / 1e6).toFixed(2)}${b ? ` (${((m[b] / m[0] - 1) * 100).toFixed(0)}%)` : ''}`.padStart(16);
    console.log(`${what.padEnd(20)} ${m.map(cell).join(' ')}`);
  }
  dirs.forEach((dir, b) => console.log(`build ${b}: ${dir}`));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const option = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  if (option('rates')) console.log(JSON.stringify(await tableRates(option('rates'))));
  else if (option('against')) compareBuilds(option('against').split(','), Number(option('rounds') ?? 7));
  else console.log(table(await run({ quick: process.argv.includes('--quick') })));
}
