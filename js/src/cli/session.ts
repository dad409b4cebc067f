// The CLI's VM, seen from the main thread: a worker thread (cli-worker.ts) that runs one job at a
// time, and that `interrupt()` stops at once. _home's store lives here; a stopped worker is
// replaced by one that resumes from the store, as of the last completed chunk.
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import type { Store } from '../stores/types.js';
import { errorFromWire, errorToWire, packState, transferOf, unpackBatch } from '../worker/protocol.js';
import type { CliWorkerInit, FromCliWorker, Job, JobResult } from './protocol.js';

/** A job stopped by interrupt() (Ctrl-C). */
export class InterruptedError extends Error {
  constructor() {
    super('interrupted!');
    this.name = 'InterruptedError';
  }
}

/** os.exit(code) ran: the program ends with `code`. */
export class ExitRequest extends Error {
  constructor(readonly code: number) {
    super(`os.exit(${code})`);
    this.name = 'ExitRequest';
  }
}

const TERMINATE_WAIT_MS = 500; // a worker blocked in a read is let go after this long

// cli-worker.js sits beside this file in the CommonJS build, which is the one `lua-home` runs.
function workerScript(): string {
  if (typeof __dirname === 'undefined') throw new Error('the lua-home command runs from the CommonJS build (dist/cjs/cli/cli.js)');
  return join(__dirname, 'cli-worker.js');
}

interface Running {
  id: number;
  resolve(r: JobResult): void;
  reject(e: unknown): void;
}

export class Session {
  private worker: Worker | undefined;
  private nextId = 1;
  private running: Running | undefined;
  private storeWork: Promise<unknown> = Promise.resolve();
  /** Set when stdout or stderr went away (lua would die of SIGPIPE). */
  brokenPipe = false;
  /** The Lua release the VM runs (as '5.4.x', from get_lua_version). */
  release = '';

  constructor(private readonly store: Store, private readonly init: CliWorkerInit) {}

  /** Starts a worker and its VM (restoring _home from the store). */
  async start(): Promise<void> {
    const worker = new Worker(workerScript());
    this.worker = worker;
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (m: FromCliWorker) => {
        if (worker !== this.worker) return;
        if (m.kind === 'created') {
          this.release = m.release;
          resolve();
        }
        else if (m.kind === 'failed') reject(errorFromWire(m.error));
        else this.received(worker, m);
      });
      worker.on('error', (e) => {
        if (worker !== this.worker) return;
        reject(e);
        this.fail(e);
      });
      worker.on('exit', (code) => {
        if (worker !== this.worker) return;
        const e = new Error(`the VM's worker exited (code ${code})`);
        reject(e);
        this.fail(e);
      });
      worker.postMessage({ kind: 'create', init: this.init });
    });
  }

  /** Runs a job; rejects with InterruptedError when interrupt() stopped it, ExitRequest after os.exit. */
  run(job: Job): Promise<JobResult> {
    const worker = this.worker;
    if (!worker) return Promise.reject(new Error('the VM is not running'));
    if (this.running) return Promise.reject(new Error('the VM is running a job already'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.running = { id, resolve, reject };
      worker.postMessage({ kind: 'job', id, job });
    });
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Stops the job under way (the worker is terminated); `restart` starts a new worker from the store. */
  async interrupt(restart: boolean): Promise<void> {
    const running = this.running;
    this.running = undefined;
    await this.stopWorker();
    await this.storeWork; // a save the worker sent completes: it belongs to a completed chunk
    running?.reject(new InterruptedError());
    if (restart) await this.start();
  }

  /** Ends the worker; the store stays open (the caller's). */
  async close(): Promise<void> {
    await this.stopWorker();
    await this.storeWork;
  }

  private async stopWorker(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    worker.unref();
    await Promise.race([worker.terminate(), new Promise((r) => setTimeout(r, TERMINATE_WAIT_MS).unref())]);
  }

  private fail(e: Error): void {
    this.worker = undefined;
    const running = this.running;
    this.running = undefined;
    running?.resolve({ ok: false, error: { message: `the VM's worker failed: ${e.message}`, traceback: '', kind: 'host' } });
  }

  private received(worker: Worker, m: FromCliWorker): void {
    if (m.kind === 'done') {
      const running = this.running;
      if (!running || running.id !== m.id) return;
      this.running = undefined;
      if (m.result.exit !== undefined) running.reject(new ExitRequest(m.result.exit));
      else running.resolve(m.result);
    } else if (m.kind === 'store') {
      const work = this.storeWork.then(async () => {
        if (m.op === 'load') {
          const state = await this.store.load();
          return state && packState(state);
        }
        await this.store.save(unpackBatch(m.batch));
        return undefined;
      });
      this.storeWork = work.catch(() => undefined);
      work.then(
        (value) => {
          if (worker === this.worker) worker.postMessage({ kind: 'store', id: m.id, ok: true, value }, value ? transferOf(value) : []);
        },
        (e) => {
          if (worker === this.worker) worker.postMessage({ kind: 'store', id: m.id, ok: false, error: errorToWire(e) });
        },
      );
    } else if (m.kind === 'broken-pipe') {
      this.brokenPipe = true;
    }
  }
}
