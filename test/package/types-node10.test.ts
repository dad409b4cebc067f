// The packed types resolve without `exports` too: a TypeScript project on moduleResolution node10
// (the default of `module: commonjs`) finds `lua-home/node` and `lua-home/postgres` through
// `typesVersions`, and the resolutions that read `exports` still find them there.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
let project: string;

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'lua-home-types-'));
  execFileSync(npm, ['pack', '--pack-destination', project, '--silent'], { cwd: root, encoding: 'utf8' });
  const tarball = readdirSync(project).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack made no tarball');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'types-test', version: '1.0.0', private: true }));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const types = ['@types/node', '@types/pg'].map((name) => `${name}@${pkg.devDependencies[name]}`);
  execFileSync(npm, ['install', `./${tarball}`, 'pg@8', ...types, '--prefer-offline', '--no-audit', '--no-fund', '--silent'],
    { cwd: project, encoding: 'utf8' });
  writeFileSync(join(project, 'consumer.ts'), `
    import { Lua, LuaError, multi, type ComputeResult, type LuaFunctionHandle } from 'lua-home';
    import { NodeFileStore } from 'lua-home/node';
    import { PostgresStore, type PostgresStoreOptions } from 'lua-home/postgres';
    export async function run(options: PostgresStoreOptions): Promise<number> {
      const lua: Lua = await Lua.create({ store: new NodeFileStore('s'), functions: { two: () => multi(1, 2) } });
      const r: ComputeResult = lua.compute('return ...', 1);
      const f = lua.global.get('f') as LuaFunctionHandle;
      const store: PostgresStore = new PostgresStore(options);
      return r.values.length + f.call().values.length + new LuaError('m', 'limit').kind.length + (store ? 1 : 0);
    }
  `);
}, 180_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

function compile(resolution: string, module: string): string {
  const r = spawnSync(process.execPath, [tsc, '--strict', '--noEmit', '--module', module, '--moduleResolution', resolution,
    '--target', 'es2022', '--lib', 'es2022,dom', '--types', 'node', 'consumer.ts'],
  { cwd: project, encoding: 'utf8' });
  return `${r.status} ${r.stdout}${r.stderr}`.trim();
}

describe('the packed types', () => {
  it('map every subpath entry with types in exports through typesVersions', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const mapped = pkg.typesVersions['*'];
    for (const [path, entry] of Object.entries(pkg.exports as Record<string, unknown>)) {
      const types = typeof entry === 'object' && entry !== null ? (entry as { types?: string }).types : undefined;
      if (path === '.' || types === undefined) continue;
      expect(mapped[path.slice(2)]).toEqual([types]);
    }
  });

  it.each([
    ['node10', 'commonjs'],
    ['node16', 'node16'],
    ['nodenext', 'nodenext'],
    ['bundler', 'esnext'],
  ])('compile a consumer of lua-home, lua-home/node and lua-home/postgres under moduleResolution %s', (resolution, module) => {
    expect(compile(resolution, module)).toBe('0');
  });
});
