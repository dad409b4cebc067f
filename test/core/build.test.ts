// The build: the pinned Emscripten, a rebuild that does no work, Lua's sources verified.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const wasm = join(root, 'build', 'lua.wasm');
const env = { ...process.env, NODE_PATH: '/usr/share/nodejs' };

describe('the build', () => {
  it('is pinned to the Emscripten that is installed (emsdk-version.txt matches emcc --version)', () => {
    const pinned = readFileSync(join(root, 'emsdk-version.txt'), 'utf8').trim();
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    const version = execFileSync('emcc', ['--version'], { encoding: 'utf8', env }).split('\n')[0];
    expect(version).toMatch(new RegExp(` ${pinned.replace(/\./g, '\\.')}[ (]`));
  });

  it('does no work when rebuilt with nothing changed (lua.wasm untouched, nothing compiled)', () => {
    const build = () => execFileSync('cmake', ['--build', 'build'], { cwd: root, encoding: 'utf8', env });
    build(); // up to date from here on, whatever state the tree was in
    const before = statSync(wasm).mtimeMs;
    const out = build();
    expect(out).not.toMatch(/Building|Linking|Computing the build id|Re-running CMake|fetch\.sh/);
    expect(out).toContain('Built target lua');
    expect(statSync(wasm).mtimeMs).toBe(before);
  });
});

describe('lua/fetch.sh', () => {
  // A copy of the script and its cache in a temporary directory, with a PATH that has no
  // apt-get and no curl: it can only use the cache, and touches nothing outside the copy.
  let dir: string | undefined;
  const sums = readFileSync(join(root, 'lua', 'SHA256SUMS'), 'utf8');
  const tools = ['bash', 'dirname', 'grep', 'sed', 'awk', 'sha256sum', 'cat', 'mkdir', 'rm', 'tar', 'gzip', 'patch', 'mv', 'id', 'mktemp', 'ls', 'head', 'cp'];

  function setUp(sumsText: string): string {
    dir = mkdtempSync(join(tmpdir(), 'lua-home-fetch-'));
    const lua = join(dir, 'lua');
    mkdirSync(join(lua, 'cache'), { recursive: true });
    for (const f of ['fetch.sh', 'patches.txt']) copyFileSync(join(root, 'lua', f), join(lua, f));
    writeFileSync(join(lua, 'SHA256SUMS'), sumsText);
    for (const line of sums.trim().split('\n')) {
      const file = line.split(/\s+/)[1];
      copyFileSync(join(root, 'lua', 'cache', file), join(lua, 'cache', file));
    }
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    for (const t of tools) {
      const where = execFileSync('bash', ['-c', `command -v ${t}`], { encoding: 'utf8' }).trim();
      symlinkSync(where, join(bin, t));
    }
    return lua;
  }
  const run = (lua: string) =>
    spawnSync(join(dir!, 'bin', 'bash'), [join(lua, 'fetch.sh')], { encoding: 'utf8', env: { PATH: join(dir!, 'bin') } });
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('pins the tarball DESIGN.md names', () => {
    expect(sums).toMatch(/^164c7849653b80ae67bec4b7473b884bf5cc8d2dca05653475ec2ed27b9ebf61 {2}lua-5\.4\.4\.tar\.gz$/m);
    expect(sums.trim().split('\n')).toHaveLength(3); // the tarball and the two CVE patches
  });

  it('extracts and patches verified sources', () => {
    const lua = setUp(sums);
    const r = run(lua);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(existsSync(join(lua, 'lua-5.4.4', 'src', 'lvm.c'))).toBe(true);
    expect(existsSync(join(lua, 'lua-5.4.4', '.lua-home-verified'))).toBe(true);
  });

  it('refuses a tarball whose SHA-256 does not match, and extracts nothing', () => {
    const wrong = sums.replace(/^164c7849/m, '00000000');
    const lua = setUp(wrong);
    const r = run(lua);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('lua-5.4.4.tar.gz does not match its SHA-256 in lua/SHA256SUMS');
    expect(existsSync(join(lua, 'lua-5.4.4'))).toBe(false);
    expect(existsSync(join(lua, 'cache', 'lua-5.4.4.tar.gz'))).toBe(false); // refused, removed
  });
});
