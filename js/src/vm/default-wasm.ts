// Where the package's own lua.wasm is: beside the package's JavaScript (dist/lua.wasm, two folders up).
// This is the ES module version; the CommonJS build replaces it with one based on __dirname.
export function defaultWasmUrl(): URL {
  // @ts-ignore: the CommonJS compile rejects import.meta; its output is replaced (build-package.mjs)
  return new URL('../../lua.wasm', import.meta.url);
}
