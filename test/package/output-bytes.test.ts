// Output is bytes: print and io.write may write any bytes, and they reach JavaScript and the
// CLI's stdout exactly (`output` stays the text form, for compatibility).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lua, LuaError } from '../../js/src/node';

const BINARY = Uint8Array.of(0x80, 0xff, 0x41, 0x00, 0xc3, 0x0a);
const WRITE_BINARY = 'io.write("\\128\\255A\\0\\195\\n")';

describe('outputBytes', () => {
  it('a compute gives the exact bytes its chunk wrote', async () => {
    const lua = await Lua.create();
    const r = lua.compute(`${WRITE_BINARY} print("\\255") return 1`);
    expect(r.outputBytes).toEqual(Uint8Array.of(...BINARY, 0xff, 0x0a));
    expect(r.output).toBe('\uFFFD\uFFFDA\0\uFFFD\n\uFFFD\n'); // the text form, as before
    expect(lua.compute('return 1').outputBytes).toEqual(new Uint8Array(0));
    expect(lua.compute('x = 1').outputBytes).toEqual(new Uint8Array(0));
    expect(lua.compute('').outputBytes).toEqual(new Uint8Array(0));
  });

  it('a failed compute gives the exact bytes in LuaError.outputBytes', async () => {
    const lua = await Lua.create();
    let error: unknown;
    try {
      lua.compute(`${WRITE_BINARY} error("after")`);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LuaError);
    expect((error as LuaError).outputBytes).toEqual(BINARY);
    expect((error as LuaError).output).toBe('\uFFFD\uFFFDA\0\uFFFD\n');
  });

  it('the bytes of one compute are not changed by the next', async () => {
    const lua = await Lua.create();
    const first = lua.compute(WRITE_BINARY).outputBytes;
    lua.compute('io.write("xxxxxxxx")');
    expect(first).toEqual(BINARY);
  });
});

describe('the CLI writes output bytes exactly', () => {
  const cli = join(__dirname, '..', '..', 'dist', 'cjs', 'cli', 'cli.js');
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lua-home-bytes-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[]) => spawnSync(process.execPath, [cli, '--no-state', ...args], { cwd: dir });

  it('from -e code, and before an error', () => {
    const ok = run(['-e', WRITE_BINARY]);
    expect(ok.status).toBe(0);
    expect(new Uint8Array(ok.stdout)).toEqual(BINARY);
    const failed = run(['-e', `${WRITE_BINARY} error("boom")`]);
    expect(failed.status).toBe(1);
    expect(new Uint8Array(failed.stdout)).toEqual(BINARY);
    expect(failed.stderr.toString()).toContain('boom');
  });

  it('from a script file whose string literals hold raw bytes', () => {
    writeFileSync(join(dir, 'raw.lua'), Buffer.concat([Buffer.from('#!/usr/bin/env lua-home\nio.write("'), Buffer.from([0x80, 0xff]), Buffer.from('A")\n')]));
    const r = run(['raw.lua']);
    expect(r.stderr.toString()).toBe('');
    expect(new Uint8Array(r.stdout)).toEqual(Uint8Array.of(0x80, 0xff, 0x41));
  });
});
