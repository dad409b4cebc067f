// Work-bounded steps (docs/ABI.md, "Steps"): over an adversarial corpus (bench/work-steps-corpus.json:
// every case of issue 14 and more), each case runs alone under an instruction limit of 1,000,000
// steps; the report is the wall time per step, beside a plain arithmetic loop. The goal: no case
// above 20x the arithmetic loop's nanoseconds per step, so that a limit bounds time.


// Run by bench/run.mjs (--only=steps), or alone: node bench/work-steps.mjs [--quick].
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
export const LIMIT = 1_000_000;

export async function run({ quick = false } = {}) {
  const { Lua, MemoryStore } = await import(pathToFileURL(join(root, 'dist', 'esm', 'node.js')).href);
  const corpus = JSON.parse(readFileSync(join(here, 'work-steps-corpus.json'), 'utf8'));
  const rounds = quick ? 2 : 5;
  // The interpreter loop is compiled by V8's optimizing tier only after it has run a while: warm
  // it up before the first measurement, or the baseline would measure the baseline compiler.
  const warm = await Lua.create({ instructionLimit: LIMIT });
  for (let i = 0; i < 20; i++) {
    try {
      warm.compute(corpus[0].code);
    } catch {
      /* the limit */
    }
  }
  warm.close();
  const cases = [];
  for (const c of corpus) {
    const store = new MemoryStore();
    if (c.setup) {
      const s = await Lua.create({ store });
      s.compute(c.setup);
      await s.save();
      s.close();
    }
    const lua = await Lua.create({ instructionLimit: LIMIT, store });
    let best = Infinity;
    let kind = 'none';
    let steps = 0;
    for (let r = 0; r < rounds + 1; r++) { // the first round warms the code up
      const t = performance.now();
      try {
        lua.compute(c.code);
      } catch (e) {
        kind = e.kind;
      }
      const ms = performance.now() - t;
      if (r > 0) best = Math.min(best, ms);
      steps = lua.stats().steps;
    }
    cases.push({ name: c.name, kind, steps, ms: best, nsPerStep: (best * 1e6) / steps });
    lua.close();
  }
  const base = cases[0].nsPerStep;
  for (const c of cases) c.ratio = c.nsPerStep / base;
  const worst = cases.reduce((a, c) => (c.ratio > a.ratio ? c : a));
  return { limit: LIMIT, cases, baseNsPerStep: base, worst: { name: worst.name, ratio: worst.ratio, nsPerStep: worst.nsPerStep } };
}

export function table(r) {
  const lines = [`Work-bounded steps: each case alone under instructionLimit ${r.limit.toLocaleString('en')} (best of the rounds)`];
  lines.push(`${'case'.padEnd(46)} ${'ends'.padEnd(7)} ${'ms'.padStart(8)} ${'ns/step'.padStart(8)}  vs arithmetic`);
  for (const c of r.cases) {
    lines.push(`${c.name.padEnd(46)} ${c.kind.padEnd(7)} ${c.ms.toFixed(1).padStart(8)} ${c.nsPerStep.toFixed(2).padStart(8)}  ${c.ratio.toFixed(1)}x`);
  }
  lines.push(`worst: ${r.worst.name}, ${r.worst.nsPerStep.toFixed(1)} ns/step = ${r.worst.ratio.toFixed(1)}x the arithmetic loop (goal: within 20x)`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(table(await run({ quick: process.argv.includes('--quick') })));
}
