// The build: the pinned Emscripten, a rebuild that does no work, Lua's sources verified, the port
// layer checked against them, and a build id that names everything that shapes the module.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const wasm = join(root, 'build', 'lua.wasm');
const env = { ...process.env, NODE_PATH: '/usr/share/nodejs' };
const source = readFileSync(join(root, 'lua', 'SOURCE'), 'utf8');
const field = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(source)![1];
const pristine = join(root, 'lua', `lua-${field('version')}`, 'src');

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

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

  it('has a build id that changes with the compiler version string', () => {
    dir = mkdtempSync(join(tmpdir(), 'lua-home-id-'));
    const src = join(dir, 'a.c');
    writeFileSync(src, 'int x;\n');
    const id = (compiler: string) => {
      const out = join(dir!, `${compiler.length}-${compiler.replace(/\W/g, '')}.h`);
      execFileSync('cmake', [`-DOUT=${out}`, '-DFLAGS=-O2', `-DCOMPILER=${compiler}`, `-DSOURCES=${src}`, '-P', join(root, 'cmake', 'build_id.cmake')]);
      return /LH_BUILD_ID (0x[0-9a-f]+)ULL/.exec(readFileSync(out, 'utf8'))![1];
    };
    const a = id('emcc (Emscripten gcc/clang-like replacement) 3.1.6 ()');
    expect(id('emcc (Emscripten gcc/clang-like replacement) 3.1.6 ()')).toBe(a);
    expect(id('emcc (Emscripten gcc/clang-like replacement) 3.1.7 ()')).not.toBe(a);
    // and the build really passes it: CMakeLists.txt gives build_id.cmake the compiler's version
    expect(readFileSync(join(root, 'CMakeLists.txt'), 'utf8')).toMatch(/-DCOMPILER=\$\{LH_EMCC_VERSION\}/);
  });
});

describe('the Lua version', () => {
  it('is named in one file, lua/SOURCE (docs aside), and is the one DESIGN.md pins', () => {
    expect(field('tarball')).toBe(`lua5.4_${field('version')}.orig.tar.gz`);
    expect(field('sha256')).toBe('9fbf5e28ef86c69858f6d3d34eccc32e911c1a28b4120ff3e84aaa70cfbf1e30');
    const files = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).trim().split('\n')
      .filter((f) => !f.endsWith('.md') && existsSync(join(root, f)));
    const naming = files.filter((f) => readFileSync(join(root, f), 'latin1').includes(field('version')));
    expect(naming).toEqual(['lua/SOURCE']);
  });
});

describe('lua/fetch.sh', () => {
  // A copy of the script and its cache in a temporary directory, with a PATH that has no
  // apt-get: it can only use the cache, and touches nothing outside the copy.
  const tools = ['bash', 'dirname', 'sed', 'awk', 'sha256sum', 'cat', 'mkdir', 'rm', 'tar', 'gzip', 'mv', 'mktemp', 'cp'];
  const tarball = field('tarball');

  function setUp(sourceText: string): string {
    dir = mkdtempSync(join(tmpdir(), 'lua-home-fetch-'));
    const lua = join(dir, 'lua');
    mkdirSync(join(lua, 'cache'), { recursive: true });
    copyFileSync(join(root, 'lua', 'fetch.sh'), join(lua, 'fetch.sh'));
    writeFileSync(join(lua, 'SOURCE'), sourceText);
    copyFileSync(join(root, 'lua', 'cache', tarball), join(lua, 'cache', tarball));
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

  it('extracts verified sources, unpatched', () => {
    const lua = setUp(source);
    const r = run(lua);
    expect(r.status).toBe(0);
    const out = join(lua, `lua-${field('version')}`);
    expect(readFileSync(join(out, 'src', 'lvm.c'), 'utf8')).toBe(readFileSync(join(pristine, 'lvm.c'), 'utf8'));
    expect(existsSync(join(out, '.lua-home-verified'))).toBe(true);
  });

  it('refuses a tarball whose SHA-256 does not match, and extracts nothing', () => {
    const lua = setUp(source.replace(/^sha256=9fbf5e28/m, 'sha256=00000000'));
    const r = run(lua);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${tarball} does not match its SHA-256 in lua/SOURCE`);
    expect(existsSync(join(lua, `lua-${field('version')}`))).toBe(false);
    expect(existsSync(join(lua, 'cache', tarball))).toBe(false); // refused, removed
  });
});

describe('the port layer', () => {
  const port = (src: string) => {
    const out = join(dir!, 'out');
    return spawnSync('cmake', [`-DLUA_SRC=${src}`, `-DLUA_PORT_SRC=${out}`, '-P', join(root, 'cmake', 'lua_port.cmake')], { encoding: 'utf8' });
  };
  const doctored = (file: string, from: string, to: string) => {
    dir = mkdtempSync(join(tmpdir(), 'lua-home-port-'));
    const src = join(dir, 'src');
    cpSync(pristine, src, { recursive: true });
    const text = readFileSync(join(src, file), 'utf8');
    expect(text).toContain(from);
    writeFileSync(join(src, file), text.replace(from, to));
    return src;
  };

  it('applies its edits to the pristine sources', () => {
    dir = mkdtempSync(join(tmpdir(), 'lua-home-port-'));
    const r = port(pristine);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(readFileSync(join(dir, 'out', 'lstrlib.c'), 'utf8')).toContain('lh_pattern_step(ms->matchdepth-- == 0)');
    expect(readFileSync(join(dir, 'out', 'lapi.c'), 'utf8')).toBe(readFileSync(join(pristine, 'lapi.c'), 'utf8'));
  });

  it('stops the configure with a named message when an edit no longer applies', () => {
    const r = port(doctored('lgc.c', 'L->allowhook = 0;  /* stop debug hooks during GC metamethod */', 'L->allowhook = 0;'));
    expect(r.status).not.toBe(0);
    expect(r.stderr.replace(/\s+/g, ' ')).toContain('lua-home port: finalizer-hooks: expected this text once in lgc.c, found it 0 times');
  });

  it('stops the configure with a named message when an internal it reads has changed', () => {
    const r = port(doctored('lstate.h', 'StkIdRel top;  /* first free slot in the stack */', 'StkId top;  /* first free slot in the stack */'));
    expect(r.status).not.toBe(0);
    expect(r.stderr.replace(/\s+/g, ' ')).toContain('lua-home port: stack-pointers: lstate.h no longer has');
  });

  it('is the only C++ that includes Lua\'s private headers; every other file says it uses the public API', () => {
    const publicHeaders = new Set(['lua.h', 'lauxlib.h', 'lualib.h', 'luaconf.h']);
    const luaHeaders = new Set(readdirSync(pristine).filter((f) => f.endsWith('.h')));
    const cpp = join(root, 'cpp');
    const files = [...readdirSync(cpp).map((f) => join(cpp, f)), ...readdirSync(join(cpp, 'port')).map((f) => join(cpp, 'port', f))]
      .filter((f) => /\.(cpp|h|c)$/.test(f));
    const reaching: string[] = [];
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/#include "([^"]+)"/g)) {
        if (luaHeaders.has(m[1]) && !publicHeaders.has(m[1])) reaching.push(`${f.slice(root.length + 1)}: ${m[1]}`);
      }
      if (f.endsWith('.cpp') && !f.includes('/port/') && !f.endsWith('wasi_stubs.cpp')) {
        expect([f, /Public API only/.test(text)]).toEqual([f, true]);
      }
    }
    expect(reaching.every((r) => r.startsWith('cpp/port/port.cpp:'))).toBe(true);
    expect(reaching.length).toBeGreaterThan(0);
  });
});
