// Finds, compiles and caches lua.wasm: from bytes, a WebAssembly.Module, a URL or a file path.
// The browser path uses fetch only; Node built-ins are imported lazily, on Node only.
import { defaultWasmUrl } from './default-wasm.js';

/** Where lua.wasm comes from. */
export type WasmSource = Uint8Array | ArrayBuffer | WebAssembly.Module | URL | string;

const compiled = new Map<string, Promise<WebAssembly.Module>>();
const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/** Compiles lua.wasm (cached per URL or path, so later VMs start fast). */
export function loadModule(source?: WasmSource): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return Promise.resolve(source);
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) return WebAssembly.compile(source as BufferSource);
  const where = source === undefined ? defaultWasmUrl() : source;
  const id = where instanceof URL ? where.href : where;
  let module = compiled.get(id);
  if (!module) {
    module = compileFrom(where);
    compiled.set(id, module);
    module.catch(() => compiled.delete(id)); // a failure is not cached
  }
  return module;
}

async function compileFrom(where: URL | string): Promise<WebAssembly.Module> {
  const url = where instanceof URL ? where : /^[a-z][a-z0-9+.-]*:\/\//i.test(where) ? new URL(where) : undefined;
  if (url && url.protocol !== 'file:') {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`lua-home: cannot fetch ${url.href}: HTTP ${response.status}`);
    if (typeof WebAssembly.compileStreaming === 'function' && response.headers.get('content-type') === 'application/wasm') {
      return WebAssembly.compileStreaming(response);
    }
    return WebAssembly.compile(await response.arrayBuffer());
  }
  if (!isNode) throw new Error(`lua-home: cannot read ${String(where)} outside Node; give a URL or the bytes`);
  const fsName = 'node:fs/promises'; // hidden from bundlers: this path runs on Node only
  const fs = (await import(/* @vite-ignore */ /* webpackIgnore: true */ fsName)) as typeof import('node:fs/promises');
  return WebAssembly.compile(await fs.readFile(url ?? where));
}
