// Under Jest (CommonJS, no import.meta) the package's default lua.wasm is the one in build/.
// The real default (dist/lua.wasm found beside the package) is tested from an `npm pack`
// tarball in test/package/pack.test.ts, for the ES module and the CommonJS entries.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export function defaultWasmUrl(): URL {
  return pathToFileURL(join(__dirname, '..', '..', 'build', 'lua.wasm'));
}
