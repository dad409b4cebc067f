// Builds the npm package into dist/: ES modules (dist/esm), CommonJS (dist/cjs), type
// declarations (dist/types) and lua.wasm beside them (dist/lua.wasm).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const tsconfig = join(root, 'js', 'tsconfig.json');

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', tsconfig], { stdio: 'inherit' });
execFileSync(process.execPath, [tsc, '-p', tsconfig, '--module', 'commonjs', '--moduleResolution', 'node',
  '--outDir', join(dist, 'cjs')], { stdio: 'inherit' });
writeFileSync(join(dist, 'esm', 'package.json'), '{ "type": "module" }\n');
writeFileSync(join(dist, 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
// CommonJS has no import.meta: lua.wasm is found from __dirname instead.
writeFileSync(join(dist, 'cjs', 'vm', 'default-wasm.js'), `"use strict";
// Where the package's own lua.wasm is: beside the package's JavaScript (dist/lua.wasm).
Object.defineProperty(exports, "__esModule", { value: true });
exports.defaultWasmUrl = defaultWasmUrl;
function defaultWasmUrl() {
  return require("node:url").pathToFileURL(require("node:path").join(__dirname, "..", "..", "lua.wasm"));
}
`);
// The LuaWorker's worker script, likewise, from __dirname (CommonJS runs on Node only).
writeFileSync(join(dist, 'cjs', 'worker', 'worker-spawn.js'), `"use strict";
// Starts the worker of a LuaWorker: a Node worker_threads Worker running worker-main.js beside this file.
Object.defineProperty(exports, "__esModule", { value: true });
exports.spawnWorker = spawnWorker;
const endpoint_js_1 = require("./endpoint.js");
async function spawnWorker() {
  const { Worker } = require("node:worker_threads");
  return (0, endpoint_js_1.nodeEndpoint)(new Worker(require("node:path").join(__dirname, "worker-main.js")));
}
`);
mkdirSync(dist, { recursive: true });
copyFileSync(join(root, 'build', 'lua.wasm'), join(dist, 'lua.wasm'));
for (const flavor of ['esm', 'cjs']) {
  const cli = join(dist, flavor, 'cli', 'cli.js');
  if (existsSync(cli)) chmodSync(cli, 0o755);
}
