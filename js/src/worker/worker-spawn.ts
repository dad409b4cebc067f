// Starts the worker of a LuaWorker: a Node worker_threads Worker or a Web Worker, running
// worker-main.js from beside this file. This is the ES module version; the CommonJS build
// replaces it with one based on __dirname (scripts/build-package.mjs).
import type { Endpoint } from './endpoint.js';
import { nodeEndpoint, webEndpoint } from './endpoint.js';

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

export async function spawnWorker(): Promise<Endpoint> {
  if (isNode) {
    const name = 'node:worker_threads'; // hidden from bundlers: this path runs on Node only
    const { Worker } = (await import(/* @vite-ignore */ /* webpackIgnore: true */ name)) as typeof import('node:worker_threads');
    // @ts-ignore: the CommonJS compile rejects import.meta; its output is replaced (build-package.mjs)
    return nodeEndpoint(new Worker(new URL('./worker-main.js', import.meta.url)));
  }
  // Written out in full so that bundlers (Vite, webpack 5) see and bundle the worker script.
  // @ts-ignore: as above
  return webEndpoint(new Worker(new URL('./worker-main.js', import.meta.url), { type: 'module' }));
}
