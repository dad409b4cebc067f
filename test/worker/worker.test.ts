// LuaWorker on Node (worker_threads): computes that run past their timeout are stopped by
// terminating the worker, and the next compute runs on the VM restored from its store.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lua, LuaClosedError, LuaError, LuaFunction, LuaWorker, MemoryStore, Store, WorkerTableView } from '../../js/src/index';
import { NodeFileStore } from '../../js/src/node';
import { ensureBuiltPackage } from '../support/built-package';
import { installPackedPackage } from '../support/packed-package';

const LOOPS = {
  'while true do end': 'while true do end',
  'a string.rep loop': 'local n = 0 while true do local s = string.rep("ab", 100000) n = n + #s end',
};

let dir: string;
const open: LuaWorker[] = [];

async function worker(options: Parameters<typeof LuaWorker.create>[0] = {}): Promise<LuaWorker> {
  const w = await LuaWorker.create(options);
  open.push(w);
  return w;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a failure');
}

beforeAll(() => {
  ensureBuiltPackage();
  dir = mkdtempSync(join(tmpdir(), 'lua-home-worker-'));
}, 120_000);

afterEach(async () => {
  for (const w of open.splice(0)) await w.close();
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a LuaWorker', () => {
  it('computes as Lua does: values, output, tables and views', async () => {
    const w = await worker();
    const r = await w.compute('_home.t = { 1, 2 } print("hi") return 1, "two", { a = 3 }, 2^63, _home.t');
    expect(r.values.slice(0, 4)).toEqual([1, 'two', { a: 3 }, 2 ** 63]);
    expect(r.value).toBe(1);
    expect(r.output).toBe('hi\n');
    expect(r.outputBytes).toEqual(new TextEncoder().encode('hi\n'));
    const t = r.values[4] as unknown as WorkerTableView;
    expect(t).toBeInstanceOf(WorkerTableView);
    expect(await t.toJS()).toEqual([1, 2]);
    expect((await w.compute('return math.maxinteger')).value).toBe(2n ** 63n - 1n);
  });

  for (const [name, loop] of Object.entries(LOOPS)) {
    it(`stops ${name} with timeoutMs and comes back from a NodeFileStore as of the last save`, async () => {
      const state = join(dir, name.replace(/\W/g, '-'));
      const store = new NodeFileStore(state);
      const w = await worker({ store, timeoutMs: 300 });
      await w.compute('_home.n = 1 _home.list = { "a", "b" }');
      await w.save();
      await w.compute('_home.n = 2'); // not saved: lost with the worker
      const t = performance.now();
      const e = await failure(w.compute(`_home.n = 3 ${loop}`));
      expect(e).toBeInstanceOf(LuaError);
      expect((e as LuaError).kind).toBe('timeout');
      expect(e.message).toMatch(/timed out.*timeoutMs \(300 ms\)/);
      expect(performance.now() - t).toBeLessThan(10_000);
      expect(w.restarts).toBe(1);
      const r = await w.compute('_home.n = _home.n + 10 return _home.n, #_home.list');
      expect(r.values).toEqual([11, 2]);
      await w.save();
      await w.close();
      await store.close();
      // The store reopens (in another store object, as another process would) with the last save.
      const again = new NodeFileStore(state);
      const lua = await Lua.create({ store: again });
      expect(lua.home.get('n')).toBe(11);
      lua.close();
      await again.close();
    });

    it(`stops ${name} with timeoutMs and comes back from a MemoryStore as of the last save`, async () => {
      const store = new MemoryStore();
      const w = await worker({ store, timeoutMs: 300 });
      await w.compute('_home.n = 1');
      await w.save();
      await w.compute('_home.n = 2 x = "a global"');
      expect((await failure(w.compute(loop)) as LuaError).kind).toBe('timeout');
      expect((await w.compute('return _home.n, x')).values).toEqual([1, undefined]);
      expect(w.store).toBe(store);
    });
  }

  it('comes back with what autosave saved, and from the state it started with when nothing was saved', async () => {
    const w = await worker({ autosave: true, timeoutMs: 300 });
    await w.compute('_home.n = 1');
    await w.compute('_home.n = 2');
    expect((await failure(w.compute('while true do end')) as LuaError).kind).toBe('timeout');
    expect((await w.compute('return _home.n')).value).toBe(2);

    const origin = await Lua.create();
    origin.home.set('from', 'state');
    const v = await worker({ state: origin.exportState(), timeoutMs: 300 });
    await v.compute('_home.from = "changed, unsaved"');
    expect((await failure(v.compute('while true do end')) as LuaError).kind).toBe('timeout');
    expect(await v.home.get('from')).toBe('state');
  });

  it('saves reach the store whole: deletions, nested tables, bytes, and a save replacing the store\'s contents', async () => {
    const store = new MemoryStore();
    const seed = await Lua.create({ store });
    seed.home.set('old', 'from the store');
    await seed.save();
    const origin = await Lua.create();
    origin.home.set('a', 1);
    origin.home.set('gone', 2);
    const w = await worker({ store, state: origin.exportState(), timeoutMs: 300 });
    await w.save(); // replaces what the store held
    await w.compute('_home.gone = nil _home.t = { x = { y = "deep" } } _home.b = "\\0\\255"');
    await w.save();
    expect((await failure(w.compute('while true do end')) as LuaError).kind).toBe('timeout');
    expect(await w.home.toJS()).toEqual({ a: 1, t: { x: { y: 'deep' } }, b: new Uint8Array([0, 255]) });
    const saved = await store.load();
    expect(saved && [...saved.tables.values()].reduce((n, t) => n + t.size, 0)).toBe(5); // a, t, b; x; y
  });

  it('takes a timeout per call with computeWith, instead of the worker\'s', async () => {
    const w = await worker();
    expect(w.timeoutMs).toBe(0);
    const e = await failure(w.computeWith({ timeoutMs: 200 }, 'while true do end'));
    expect((e as LuaError).kind).toBe('timeout');
    expect(e.message).toContain('(200 ms)');
    expect((await w.computeWith({ timeoutMs: 5000 }, 'return 7')).value).toBe(7);

    const slow = 'local x = 0 for i = 1, 3e7 do x = x + i end return x';
    const v = await worker({ timeoutMs: 20 });
    expect((await failure(v.compute(slow)) as LuaError).kind).toBe('timeout');
    expect((await v.computeWith({ timeoutMs: 0 }, slow)).value).toBe(450000015000000);
    expect(v.restarts).toBe(1);
  });

  it('keeps the kinds and output of failed computes, without a restart', async () => {
    const w = await worker({ timeoutMs: 5000, instructionLimit: 100_000 });
    await w.compute('kept = "a global"');
    const kinds: Record<string, string> = {
      'print("before") error("boom")': 'runtime',
      'return +': 'syntax',
      'while true do end': 'limit',
      'local s = ("x"):rep(1e8)': 'memory', // (building memory bit by bit is charged as steps: the limit comes first)
      'return "\uD800"': 'input', // a lone surrogate: not Unicode
    };
    for (const [code, kind] of Object.entries(kinds)) {
      const e = await failure(w.compute(code));
      expect(e).toBeInstanceOf(LuaError);
      expect([code.slice(0, 20), (e as LuaError).kind]).toEqual([code.slice(0, 20), kind]);
    }
    const e = (await failure(w.compute('print("before") error("boom")'))) as LuaError;
    expect(e.message).toBe('[string "print("before") error("boom")"]:1: boom');
    expect(e.output).toBe('before\n');
    expect(w.restarts).toBe(0);
    expect((await w.compute('return kept')).value).toBe('a global');
  });

  it('rejects every later call with a host LuaError when the VM cannot come back from its store', async () => {
    const inner = new MemoryStore();
    let loads = 0;
    const store: Store = {
      load: async () => {
        if (++loads > 1) throw new Error('the disk is gone');
        return inner.load();
      },
      save: (batch) => inner.save(batch),
      close: async () => undefined,
    };
    const w = await worker({ store, timeoutMs: 200 });
    const pending = [w.compute('while true do end'), w.compute('return 1')];
    expect((await failure(pending[0]) as LuaError).kind).toBe('timeout');
    for (const e of [await failure(pending[1]), await failure(w.compute('return 2'))]) {
      expect(e).toBeInstanceOf(LuaError);
      expect((e as LuaError).kind).toBe('host');
      expect(e.message).toBe('the Lua worker could not be restarted: the disk is gone');
    }
  });

  it('stops a compute when closed, terminating the worker; later calls reject with LuaClosedError', async () => {
    const w = await LuaWorker.create();
    const running = failure(w.compute('while true do end'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await w.close();
    expect(await running).toBeInstanceOf(LuaClosedError);
    expect(w.isClosed).toBe(true);
    expect(await failure(w.compute('return 1'))).toBeInstanceOf(LuaClosedError);
    expect(await failure(w.stats())).toBeInstanceOf(LuaClosedError);
    await w.close(); // again: nothing
  });

  it('serves the rest of the API: save, stats, gc, images, state, instruction limit', async () => {
    const w = await worker({ randomSeed: 1, clock: 1e9 });
    expect(await w.stats()).toMatchObject({ bufferSize: 65536, pages: 32 });
    await w.compute('_home.x = 1 g = "global" ext.table()');
    expect(await w.gc()).toBeGreaterThanOrEqual(0);
    expect((await w.compute('return os.time()')).value).toBe(1e9);
    const image = await w.saveImage();
    const state = await w.exportState();
    const fromImage = await worker({ image });
    expect((await fromImage.compute('return g, _home.x')).values).toEqual(['global', 1]);
    const fromState = await worker({ state });
    expect((await fromState.compute('return g, _home.x')).values).toEqual([undefined, 1]);
    await w.setInstructionLimit(1000);
    expect((await failure(w.compute('while true do end')) as LuaError).kind).toBe('limit');
    await w.flush();
  });

  it('reads and writes tables through async views; values cross by structured clone', async () => {
    const w = await worker();
    await w.home.set('config', { level: 3, tags: ['a', 'b'], m: new Map([[1, 'one']]) });
    expect(await w.home.get('config')).toBeInstanceOf(WorkerTableView);
    expect(await w.compute('return _home.config.level, #_home.config.tags, _home.config.m[1]')).toMatchObject({ values: [3, 2, 'one'] });
    expect(await w.home.toJS()).toEqual({ config: { level: 3, tags: ['a', 'b'], m: ['one'] } });
    expect(await w.home.has('config')).toBe(true);
    expect(await w.home.size()).toBe(1);
    expect(await w.home.keys()).toEqual(['config']);
    const t = await w.newTable();
    await t.set(1, 'x');
    await w.home.set('t', t); // a view of this worker: a reference
    expect((await w.compute('return _home.t[1]')).value).toBe('x');
    await w.compute('_home.f = function(a) return a * 2 end');
    const f = await w.home.get('f');
    expect(f).toBeInstanceOf(LuaFunction);
    await w.home.set('g', f);
    expect((await w.compute('return _home.g(21)')).value).toBe(42);
    const entries: unknown[] = [];
    for await (const [k] of w.home) entries.push(k);
    expect(entries.sort()).toEqual(['config', 'f', 'g', 't']);
    expect(await w.home.delete('t')).toBe(true);

    const other = await worker();
    await expect(other.home.set('x', t)).rejects.toThrow(TypeError);
    const lua = await Lua.create();
    await expect(w.home.set('x', lua.home)).rejects.toThrow(/another Lua VM/);
    await expect(w.home.set('x', new Set([1]))).rejects.toThrow(TypeError);
    await expect(w.home.set('x', () => 1)).rejects.toThrow(TypeError);
    expect(await failure(w.table(999).get('a'))).toBeInstanceOf(RangeError);
    expect(() => w.table(0)).toThrow(RangeError);
  });

  it('refuses options of the wrong type with TypeErrors naming them', async () => {
    await expect(LuaWorker.create({ clock: () => 1 } as never)).rejects.toThrow(/'clock' must be a number \(a clock function/);
    await expect(LuaWorker.create({ timeoutMs: '5' } as never)).rejects.toThrow(TypeError);
    await expect(LuaWorker.create({ timeoutMs: -5 })).rejects.toThrow(RangeError);
    await expect(LuaWorker.create({ store: {} as Store })).rejects.toThrow(/'store' must be a Store/);
    await expect(LuaWorker.create({ instructionLimit: 'x' } as never)).rejects.toThrow(TypeError);
    await expect(LuaWorker.create(null as never)).rejects.toThrow(TypeError);
    const w = await worker();
    await expect(w.compute(42 as never)).rejects.toThrow(TypeError);
    await expect(w.computeWith({ timeoutMs: 'x' } as never, 'return 1')).rejects.toThrow(TypeError);
    await expect(w.computeWith(null as never, 'return 1')).rejects.toThrow(TypeError);
    // A store that fails to load makes create reject with its error.
    const broken: Store = { load: async () => { throw new Error('no disk'); }, save: async () => undefined, close: async () => undefined };
    await expect(LuaWorker.create({ store: broken })).rejects.toThrow('no disk');
    // What cannot cross to the worker's thread is refused, not silently dropped.
    await expect(LuaWorker.create({ functions: { f: () => 1 } })).rejects.toThrow(/'functions' is not supported by a LuaWorker/);
    await expect(LuaWorker.create({ stdout: () => undefined })).rejects.toThrow(/'stdout' is not supported/);
  });

  it('takes the host quotas (limits) and outputLimit to its thread', async () => {
    const w = await worker({ limits: { hostBytes: 10_000 }, outputLimit: 10 });
    await expect(w.compute('_home.x = string.rep("a", 20000)')).rejects.toMatchObject({ kind: 'quota' });
    expect((await w.compute('io.write("0123456789abc") return 1')).outputDropped).toBe(3);
    expect((await w.stats()).limits.hostBytes).toBe(10_000);
    await w.close();
  });
});

describe('a LuaWorker from the packed package', () => {
  let project: string;
  const node = (file: string) => JSON.parse(execFileSync(process.execPath, [file], { cwd: project, encoding: 'utf8', timeout: 60_000 }));

  beforeAll(() => {
    project = installPackedPackage('lua-home-pack-worker-');
  }, 180_000);

  afterAll(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it('works as an ES module: a timeout, and the next compute on the state of the last save', () => {
    writeFileSync(join(project, 'esm.mjs'), `
      import { LuaWorker, LuaError } from 'lua-home';
      import { NodeFileStore } from 'lua-home/node';
      const store = new NodeFileStore('esm-state');
      const w = await LuaWorker.create({ store, timeoutMs: 300 });
      await w.compute('_home.n = 1');
      await w.save();
      let kind;
      try { await w.compute('_home.n = 2 while true do end'); } catch (e) { kind = e instanceof LuaError && e.kind; }
      const n = (await w.compute('return _home.n')).value;
      await w.close();
      await store.close();
      console.log(JSON.stringify([kind, n, w.restarts]));
    `);
    expect(node('esm.mjs')).toEqual(['timeout', 1, 1]);
  });

  it('works as CommonJS, and an idle LuaWorker does not keep the process alive', () => {
    writeFileSync(join(project, 'cjs.cjs'), `
      const { LuaWorker, LuaError } = require('lua-home');
      (async () => {
        const w = await LuaWorker.create({ timeoutMs: 300 });
        await w.compute('_home.n = 1');
        await w.save();
        let kind;
        try { await w.computeWith({ timeoutMs: 100 }, 'while true do end'); } catch (e) { kind = e instanceof LuaError && e.kind; }
        console.log(JSON.stringify([kind, (await w.compute('return _home.n')).value]));
        // not closed: the process still ends
      })();
    `);
    expect(node('cjs.cjs')).toEqual(['timeout', 1]);
  });

  it('has TypeScript types that a strict project compiles against', () => {
    writeFileSync(join(project, 'typed.ts'), `
      import { LuaWorker, LuaError, WorkerTableView, type ComputeResult, type LuaWorkerOptions, type LuaErrorKind } from 'lua-home';
      export async function run(): Promise<number> {
        const options: LuaWorkerOptions = { timeoutMs: 100, instructionLimit: 1000, clock: 0 };
        const w: LuaWorker = await LuaWorker.create(options);
        const r: ComputeResult = await w.computeWith({ timeoutMs: 50 }, 'return 1');
        const kind: LuaErrorKind = 'timeout';
        const view: WorkerTableView = w.home;
        await view.set('k', [1, 2]);
        await w.close();
        return r.values.length + kind.length + (await w.stats()).heapUsed + (new LuaError('m', kind).kind === 'timeout' ? 1 : 0);
      }
    `);
    const tsc = join(__dirname, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--target', 'es2022', '--lib', 'es2022,dom', '--types', 'node', '--typeRoots', join(__dirname, '..', '..', 'node_modules', '@types'), 'typed.ts'],
    { cwd: project, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('the README', () => {
  it('LuaWorker example runs as shown, twice (_home survives in the state directory)', () => {
    const root = join(__dirname, '..', '..');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const start = readme.indexOf('\n## Stopping any compute: LuaWorker and timeoutMs\n');
    expect(start).toBeGreaterThan(0);
    const code = /```js\n([\s\S]*?)```/.exec(readme.slice(start))?.[1] as string;
    const project = mkdtempSync(join(tmpdir(), 'lua-home-readme-worker-'));
    try {
      mkdirSync(join(project, 'node_modules'));
      symlinkSync(root, join(project, 'node_modules', 'lua-home'), 'dir'); // this repository, as installed
      writeFileSync(join(project, 'example.mjs'), code);
      const run = () => execFileSync(process.execPath, ['example.mjs'], { cwd: project, encoding: 'utf8', timeout: 60_000 });
      expect(run()).toBe('1 1 1\n');
      expect(run()).toBe('2 2 1\n');
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
