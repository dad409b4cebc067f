// The package as users get it: `npm pack`, installed into a fresh project, used through its ES
// module and CommonJS entries, its types and its `lua-home` bin.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let project: string;

function node(file: string): string {
  return execFileSync(process.execPath, [file], { cwd: project, encoding: 'utf8' });
}

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'lua-home-pack-'));
  execFileSync(npm, ['pack', '--pack-destination', project, '--silent'], { cwd: root, encoding: 'utf8' });
  const tarball = readdirSync(project).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack made no tarball');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'pack-test', version: '1.0.0', private: true }));
  execFileSync(npm, ['install', `./${tarball}`, '--prefer-offline', '--no-audit', '--no-fund', '--silent'], { cwd: project, encoding: 'utf8' });
}, 120_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships the built JavaScript, the types and lua.wasm, and nothing of the sources', () => {
    const installed = join(project, 'node_modules', 'lua-home');
    for (const f of ['dist/lua.wasm', 'dist/esm/index.js', 'dist/cjs/index.js', 'dist/types/index.d.ts', 'dist/types/node.d.ts', 'dist/cjs/cli/cli.js', 'README.md', 'docs/ABI.md']) {
      expect(existsSync(join(installed, f))).toBe(true);
    }
    for (const f of ['js', 'cpp', 'test', 'build', 'lua']) expect(existsSync(join(installed, f))).toBe(false);
  });

  it('works as an ES module, finding its own lua.wasm', () => {
    writeFileSync(join(project, 'esm.mjs'), `
      import { Lua, LuaError } from 'lua-home';
      import { NodeFileStore } from 'lua-home/node';
      const lua = await Lua.create();
      const r = lua.compute('print("hi") return 1, "two"');
      let kind;
      try { lua.compute('error("x")'); } catch (e) { kind = e instanceof LuaError && e.kind; }
      console.log(JSON.stringify([r.values, r.output, kind, typeof NodeFileStore]));
    `);
    expect(JSON.parse(node('esm.mjs'))).toEqual([[1, 'two'], 'hi\n', 'runtime', 'function']);
  });

  it('works as CommonJS, finding its own lua.wasm', () => {
    writeFileSync(join(project, 'cjs.cjs'), `
      const { Lua } = require('lua-home');
      const { NodeFileStore } = require('lua-home/node');
      Lua.create().then((lua) => {
        lua.home.set('n', 41);
        console.log(JSON.stringify([lua.compute('_home.n = _home.n + 1 return _home.n').value, typeof NodeFileStore]));
      });
    `);
    expect(JSON.parse(node('cjs.cjs'))).toEqual([42, 'function']);
  });

  it('has TypeScript types that a strict project compiles against', () => {
    writeFileSync(join(project, 'typed.ts'), `
      import { Lua, LuaError, type ComputeResult, type LuaErrorKind } from 'lua-home';
      import { NodeFileStore } from 'lua-home/node';
      export async function run(): Promise<number> {
        const lua: Lua = await Lua.create({ instructionLimit: 1000, clock: 0, randomSeed: 1, store: new NodeFileStore('s') });
        const r: ComputeResult = lua.compute('return 1');
        const kind: LuaErrorKind = new LuaError('m', 'limit').kind;
        lua.home.set('k', [1, 2]);
        return r.values.length + kind.length + lua.stats().heapUsed;
      }
    `);
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--target', 'es2022', '--lib', 'es2022,dom', '--types', 'node', '--typeRoots', join(root, 'node_modules', '@types'), 'typed.ts'],
    { cwd: project, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('has the lua-home/postgres entry, as ES module, CommonJS and types, once pg is installed beside it', () => {
    execFileSync(npm, ['install', 'pg@8', '--prefer-offline', '--no-audit', '--no-fund', '--silent'], { cwd: project, encoding: 'utf8' });
    writeFileSync(join(project, 'pg.mjs'), `
      import { PostgresStore, LeaseHeldError, Lua } from 'lua-home/postgres';
      const store = new PostgresStore({ connectionString: 'postgresql://x@%2Fnowhere/db', vm: 'a' });
      console.log(JSON.stringify([typeof PostgresStore, typeof LeaseHeldError, typeof Lua, store.vm]));
    `);
    expect(JSON.parse(node('pg.mjs'))).toEqual(['function', 'function', 'function', 'a']);
    writeFileSync(join(project, 'pg.cjs'), `
      const { PostgresStore, LeaseLostError } = require('lua-home/postgres');
      console.log(JSON.stringify([typeof PostgresStore, typeof LeaseLostError]));
    `);
    expect(JSON.parse(node('pg.cjs'))).toEqual(['function', 'function']);
    expect(existsSync(join(project, 'node_modules', 'lua-home', 'dist', 'types', 'postgres.d.ts'))).toBe(true);
  });

  it('installs the lua-home command', () => {
    const bin = join(project, 'node_modules', '.bin', 'lua-home');
    const out = execFileSync(bin, ['--no-state', '-e', 'print(_VERSION, 2^10)'], { cwd: project, encoding: 'utf8' });
    expect(out).toBe('Lua 5.4\t1024.0\n');
  });
});
