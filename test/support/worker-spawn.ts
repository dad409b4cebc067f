// Under Jest (CommonJS, no import.meta) a LuaWorker's worker runs the built package's script,
// dist/cjs/worker/worker-main.js (test/support/built-package.ts builds it when it is stale).
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Endpoint, nodeEndpoint } from '../../js/src/worker/endpoint';

export async function spawnWorker(): Promise<Endpoint> {
  return nodeEndpoint(new Worker(join(__dirname, '..', '..', 'dist', 'cjs', 'worker', 'worker-main.js')));
}
