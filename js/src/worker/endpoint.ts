// One side of a LuaWorker's channel, the same over Node worker_threads and Web Workers.
import type { Worker as NodeWorker } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './protocol.js';

export interface Endpoint {
  post(message: ToWorker, transfer?: ArrayBuffer[]): void;
  /** `message` for each message; `failed` once, when the worker dies on its own (an uncaught error, an exit). */
  listen(message: (m: FromWorker) => void, failed: (e: Error) => void): void;
  /** Stops the worker (at once, whatever it runs); resolves when it is gone. */
  terminate(): Promise<void>;
  /** Whether the worker keeps a Node process alive (only while a call is under way). */
  hold(held: boolean): void;
}

export function nodeEndpoint(worker: NodeWorker): Endpoint {
  let terminating = false;
  worker.unref();
  return {
    post: (m, transfer) => worker.postMessage(m, transfer),
    listen(message, failed) {
      worker.on('message', message);
      worker.on('error', (e) => failed(e instanceof Error ? e : new Error(String(e))));
      worker.on('exit', (code) => {
        if (!terminating) failed(new Error(`the worker exited (code ${code})`));
      });
    },
    async terminate() {
      terminating = true;
      await worker.terminate();
    },
    hold: (held) => (held ? worker.ref() : worker.unref()),
  };
}

export function webEndpoint(worker: Worker): Endpoint {
  return {
    post: (m, transfer) => worker.postMessage(m, transfer ?? []),
    listen(message, failed) {
      worker.onmessage = (e) => message(e.data as FromWorker);
      worker.onerror = (e) => {
        e.preventDefault();
        failed(new Error(e.message || 'the worker failed'));
      };
      worker.onmessageerror = () => failed(new Error('a message from the worker could not be read'));
    },
    async terminate() {
      worker.terminate();
    },
    hold: () => undefined,
  };
}
