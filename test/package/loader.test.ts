// The loader: lua.wasm as bytes, a WebAssembly.Module, a URL or a file path; the module cache.
import { readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Lua, loadModule } from '../../js/src/node';

const wasmPath = join(__dirname, '..', '..', 'build', 'lua.wasm');
const wasmBytes = readFileSync(wasmPath);

async function answer(lua: Lua): Promise<unknown> {
  return lua.compute('return 6 * 7, _VERSION').values;
}

describe('Lua.create({ wasm })', () => {
  let server: Server;
  let base: string;
  let requests = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      if (req.url === '/lua.wasm') {
        res.writeHead(200, { 'content-type': 'application/wasm' });
        res.end(wasmBytes);
      } else if (req.url === '/octets/lua.wasm') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(wasmBytes);
      } else {
        res.writeHead(404);
        res.end('not here');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('takes the bytes (Uint8Array and ArrayBuffer)', async () => {
    expect(await answer(await Lua.create({ wasm: new Uint8Array(wasmBytes) }))).toEqual([42, 'Lua 5.4']);
    const ab = wasmBytes.buffer.slice(wasmBytes.byteOffset, wasmBytes.byteOffset + wasmBytes.byteLength);
    expect(await answer(await Lua.create({ wasm: ab }))).toEqual([42, 'Lua 5.4']);
  });

  it('takes a compiled WebAssembly.Module', async () => {
    const module = new WebAssembly.Module(wasmBytes);
    expect(await answer(await Lua.create({ wasm: module }))).toEqual([42, 'Lua 5.4']);
  });

  it('takes a file path and a file: URL', async () => {
    expect(await answer(await Lua.create({ wasm: wasmPath }))).toEqual([42, 'Lua 5.4']);
    expect(await answer(await Lua.create({ wasm: pathToFileURL(wasmPath) }))).toEqual([42, 'Lua 5.4']);
    expect(await answer(await Lua.create({ wasm: pathToFileURL(wasmPath).href }))).toEqual([42, 'Lua 5.4']);
  });

  it('fetches an http URL (streaming when served as application/wasm, and when not)', async () => {
    expect(await answer(await Lua.create({ wasm: new URL('/lua.wasm', base) }))).toEqual([42, 'Lua 5.4']);
    expect(await answer(await Lua.create({ wasm: `${base}/octets/lua.wasm` }))).toEqual([42, 'Lua 5.4']);
  });

  it('finds its own lua.wasm by default', async () => {
    expect(await answer(await Lua.create())).toEqual([42, 'Lua 5.4']);
  });

  it('compiles a URL or path once, so later VMs reuse the module', async () => {
    const url = new URL('/lua.wasm', base);
    const before = requests;
    const a = await loadModule(url);
    const b = await loadModule(url);
    const c = await loadModule(url.href);
    expect(a).toBe(b);
    expect(a).toBe(c);
    expect(requests - before).toBeLessThanOrEqual(1);
    expect(await loadModule(wasmPath)).toBe(await loadModule(wasmPath));
    expect(await loadModule()).toBe(await loadModule());
  });

  it('gives clear errors for a missing file, an HTTP error and bytes that are not lua.wasm', async () => {
    await expect(Lua.create({ wasm: join(__dirname, 'no-such.wasm') })).rejects.toThrow(/no-such\.wasm/);
    await expect(Lua.create({ wasm: `${base}/missing.wasm` })).rejects.toThrow(/cannot fetch .*missing\.wasm: HTTP 404/);
    await expect(Lua.create({ wasm: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]) })).rejects.toThrow(/lua\.wasm|export|import/i);
    await expect(Lua.create({ wasm: new Uint8Array([1, 2, 3]) })).rejects.toThrow(WebAssembly.CompileError);
    // A failure is not cached: the same path works once the file is there.
    expect(await answer(await Lua.create({ wasm: wasmPath }))).toEqual([42, 'Lua 5.4']);
  });

  it('keeps many VMs in one process independent', async () => {
    const vms = await Promise.all(Array.from({ length: 20 }, () => Lua.create()));
    vms.forEach((lua, i) => lua.compute(`x = ${i} _home.who = ${i}`));
    vms.forEach((lua, i) => {
      expect(lua.compute('return x, _home.who').values).toEqual([i, i]);
      expect(lua.home.get('who')).toBe(i);
    });
    expect(() => vms[3].compute('_home.who = "changed" error("only this one fails")')).toThrow('only this one fails');
    vms[4].close();
    expect(vms[3].home.get('who')).toBe(3);
    expect(vms[5].compute('return _home.who').value).toBe(5);
  });
});
