// Lua ⇄ JavaScript calls, lua-home beside wasmoon, in µs per call: a JavaScript function called
// from Lua (100,000 calls in one chunk), a Lua function called from JavaScript (a handle's call()
// against wasmoon's function wrapper), an awaited async JavaScript function (computeAsync against
// wasmoon's doString with :await()), and what passing three arguments to a compute costs.
// Run by bench/run.mjs (--only=interop), or alone: node bench/interop.mjs [--quick].
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const require = createRequire(import.meta.url);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// µs per call: the median of `rounds` timings of `f`, which makes `calls` calls.
async function usPerCall(f, calls, rounds) {
  await f(); // warm-up
  const ts = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    await f();
    ts.push(((performance.now() - t) * 1000) / calls);
  }
  return median(ts);
}

function check(what, got, want) {
  if (String(got) !== String(want)) throw new Error(`interop bench: ${what} gave ${got}, expected ${want}`);
}

/** Measures every figure; returns them (µs per call) for `table` and results/latest.json. */
export async function run({ quick = false } = {}) {
  const { Lua } = await import(pathToFileURL(join(root, 'dist', 'esm', 'node.js')).href);
  const { LuaFactory } = require('wasmoon');
  const rounds = quick ? 3 : 7;
  const lua = await Lua.create();
  const wasmoon = await new LuaFactory().createEngine();
  const results = {};

  // A JavaScript function called from Lua: 100,000 calls inside one chunk.
  const N = 100_000;
  const add = (a, b) => a + b;
  lua.global.set('add', add);
  wasmoon.global.set('add', add);
  const loop = `local s = 0 for i = 1, ${N} do s = s + add(i, 1) end return s`;
  const sum = (N * (N + 1)) / 2 + N;
  check('lua-home add loop', lua.compute(loop).value, sum);
  check('wasmoon add loop', wasmoon.doStringSync(loop), sum);
  results.jsFromLua = {
    n: N,
    luaHomeUs: await usPerCall(() => lua.compute(loop), N, rounds),
    wasmoonUs: await usPerCall(() => wasmoon.doStringSync(loop), N, rounds),
  };

  // A Lua function called from JavaScript, one call at a time.
  const M = quick ? 20_000 : 100_000;
  const addLua = lua.compute('return function(a, b) return a + b end').value;
  wasmoon.doStringSync('function add_lua(a, b) return a + b end');
  const addWasmoon = wasmoon.global.get('add_lua');
  check('lua-home handle', addLua.call(2, 3).value, 5);
  check('wasmoon function', addWasmoon(2, 3), 5);
  results.luaFromJs = {
    n: M,
    luaHomeUs: await usPerCall(() => {
      for (let i = 0; i < M; i++) addLua.call(i, 1);
    }, M, rounds),
    wasmoonUs: await usPerCall(() => {
      for (let i = 0; i < M; i++) addWasmoon(i, 1);
    }, M, rounds),
  };

  // An async JavaScript function awaited from Lua: one chunk awaiting it K times.
  const K = quick ? 2_000 : 10_000;
  const later = (x) => Promise.resolve(x);
  lua.global.set('later', later);
  wasmoon.global.set('later', later);
  const awaitLoop = `local s = 0 for i = 1, ${K} do s = s + later(i) end return s`;
  const awaitLoopWasmoon = `local s = 0 for i = 1, ${K} do s = s + later(i):await() end return s`;
  const awaited = (K * (K + 1)) / 2;
  check('lua-home computeAsync', (await lua.computeAsync(awaitLoop)).value, awaited);
  check('wasmoon doString', await wasmoon.doString(awaitLoopWasmoon), awaited);
  results.asyncFromLua = {
    n: K,
    luaHomeUs: await usPerCall(() => lua.computeAsync(awaitLoop), K, rounds),
    wasmoonUs: await usPerCall(() => wasmoon.doString(awaitLoopWasmoon), K, rounds),
  };

  // Arguments: the same chunk, given three arguments and given none.
  const A = quick ? 50_000 : 200_000;
  const code = 'local a, b, c = ... return a';
  check('compute with arguments', lua.compute(code, 42, 'name', 3.5).value, 42);
  results.arguments = { n: A };
  // In turn, round by round: the machine's load moves both alike.
  const withArgs = [];
  const without = [];
  for (let r = 0; r < rounds; r++) {
    withArgs.push(await usPerCall(() => {
      for (let i = 0; i < A; i++) lua.compute(code, 42, 'name', 3.5);
    }, A, 1));
    without.push(await usPerCall(() => {
      for (let i = 0; i < A; i++) lua.compute(code);
    }, A, 1));
  }
  results.arguments.withArgsUs = median(withArgs);
  results.arguments.codeOnlyUs = median(without);

  lua.close();
  wasmoon.global.close();
  return results;
}

/** The figures as lines of text, lua-home beside wasmoon. */
export function table(results) {
  const us = (x) => `${x.toFixed(x >= 10 ? 1 : 2)} µs`;
  const row = (what, r) => `${what.padEnd(56)} ${us(r.luaHomeUs).padStart(10)} ${us(r.wasmoonUs).padStart(10)}  (${(r.wasmoonUs / r.luaHomeUs).toFixed(1)}x)`;
  const a = results.arguments;
  return [
    'Interop: µs per call (median), lua-home beside wasmoon (wasmoon\'s time over lua-home\'s in brackets)',
    `${''.padEnd(56)} ${'lua-home'.padStart(10)} ${'wasmoon'.padStart(10)}`,
    row(`JS function called from Lua (${results.jsFromLua.n.toLocaleString('en')} in one chunk)`, results.jsFromLua),
    row(`Lua function called from JS (handle.call / wasmoon fn)`, results.luaFromJs),
    row(`async JS function awaited from Lua (${results.asyncFromLua.n.toLocaleString('en')} awaits)`, results.asyncFromLua),
    `compute('local a, b, c = ... return a'): ${us(a.withArgsUs)} with 3 arguments (42, 'name', 3.5), ` +
      `${us(a.codeOnlyUs)} without: ${us(a.withArgsUs - a.codeOnlyUs)} for the arguments`,
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(table(await run({ quick: process.argv.includes('--quick') })));
}
