// LuaWorker: a Lua VM in a worker (Node worker_threads or a Web Worker) that can always be
// stopped. The API of Lua, asynchronous; a compute past its timeout terminates the worker, and a
// new one resumes from the store as of the last save. The store stays in this thread.
import { TABLE_REF } from '../codec/codec.js';
import type { LuaValue } from '../codec/codec.js';
import { LuaClosedError, LuaError } from '../errors.js';
import { loadModule } from '../vm/loader.js';
import type { ComputeResult, LuaOptions, LuaStats } from '../vm/lua.js';
import { MemoryStore } from '../stores/memory.js';
import type { Store } from '../stores/types.js';
import { checkTimeoutMs, timeoutError } from '../vm/timeout.js';
import type { Endpoint } from './endpoint.js';
import {
  codecSpecial, errorFromWire, errorToWire, FromWorker, fromWire, isTableRef, markers, Op, packState, toWire, transferOf, unpackBatch,
  WorkerInit,
} from './protocol.js';
import { spawnWorker } from './worker-spawn.js';

/** The options of Lua.create that can reach a worker, and the timeout of its computes. */
export interface LuaWorkerOptions extends Omit<LuaOptions, 'clock'> {
  /** A fixed clock (seconds since 1970); a clock function cannot be called from the worker. */
  clock?: number;
  /**
   * Milliseconds a compute may run (0 or absent: no limit); past it the worker is terminated,
   * the compute rejects with a LuaError of kind 'timeout', and the VM restarts from its store.
   */
  timeoutMs?: number;
}

/** Per-call options of `computeWith`. */
export interface ComputeOptions {
  /** This compute's timeout, instead of the worker's (0: none). */
  timeoutMs?: number;
}

type JsKey = string | number | bigint | boolean | Uint8Array;

interface Pending {
  id: number;
  call: Op;
  timeoutMs: number;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  timer?: ReturnType<typeof setTimeout>;
}

const WHO = 'LuaWorker.create';

function describeValue(v: unknown): string {
  return v === null ? 'null' : typeof v === 'object' ? ((v as object).constructor?.name ?? 'object') : typeof v;
}

// The options of the wrong type, as TypeErrors naming them (the worker would say "Lua.create").
function checkOptions(options: LuaWorkerOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${WHO} options must be an object, got ${describeValue(options)}`);
  const o = options as Record<string, unknown>;
  const want = (name: string, ok: boolean, what: string) => {
    if (o[name] !== undefined && !ok) throw new TypeError(`${WHO}: option '${name}' must be ${what}, got ${describeValue(o[name])}`);
  };
  want('instructionLimit', typeof o.instructionLimit === 'number', 'a number');
  want('memoryAlias', typeof o.memoryAlias === 'boolean', 'a boolean');
  want('clock', typeof o.clock === 'number', typeof o.clock === 'function'
    ? 'a number (a clock function cannot be called from the worker)' : 'a number');
  want('randomSeed', typeof o.randomSeed === 'number' || typeof o.randomSeed === 'bigint', 'a number or a bigint');
  const store = o.store as Partial<Store> | undefined;
  want('store', typeof store === 'object' && store !== null && typeof store.load === 'function' && typeof store.save === 'function',
    'a Store (an object with load and save methods)');
  want('autosave', typeof o.autosave === 'boolean', 'a boolean');
  want('state', o.state instanceof Uint8Array, 'a Uint8Array (from exportState())');
  want('image', o.image instanceof Uint8Array, 'a Uint8Array (from saveImage())');
  want('limits', typeof o.limits === 'object' && o.limits !== null, 'an object of limits');
  want('outputLimit', typeof o.outputLimit === 'number', 'a number');
  // What cannot cross to the worker thread is refused, never silently dropped.
  for (const name of ['functions', 'stdout', 'stderr', 'stdin', 'modules', 'lineOutput']) {
    if (o[name] !== undefined) {
      throw new TypeError(`${WHO}: option '${name}' is not supported by a LuaWorker (JavaScript functions and streams ` +
        'cannot cross to its thread); use a Lua in this thread, with timeoutMs for a best-effort deadline');
    }
  }
  checkTimeoutMs(o.timeoutMs, WHO);
}

function checkCode(code: unknown): void {
  if (typeof code !== 'string' && !(code instanceof Uint8Array)) {
    throw new TypeError(`compute: the code must be a string or a Uint8Array, got ${describeValue(code)}`);
  }
}

/**
 * A view of one external table of a LuaWorker's VM: the methods of TableView, asynchronous.
 * Values cross by structured clone; tables inside them come back as views of the worker.
 */
export class WorkerTableView implements AsyncIterable<[JsKey, LuaValue]> {
  readonly [TABLE_REF] = true;

  constructor(private readonly worker: LuaWorker, readonly id: number) {}

  /** @internal Whether this view belongs to `worker`. */
  belongsTo(worker: LuaWorker): boolean {
    return this.worker === worker;
  }

  private call(method: 'get' | 'has' | 'delete' | 'size' | 'keys' | 'entries' | 'toJS', key?: JsKey): Promise<never> {
    return this.worker.call({ op: 'table', id: this.id, method, key } as Op) as Promise<never>;
  }

  get(key: JsKey): Promise<LuaValue> {
    return this.call('get', key);
  }

  has(key: JsKey): Promise<boolean> {
    return this.call('has', key);
  }

  /** Stores `value` (objects, arrays and Maps become new external tables); undefined deletes. */
  async set(key: JsKey, value: unknown): Promise<this> {
    await this.worker.call({ op: 'table', id: this.id, method: 'set', key, value });
    return this;
  }

  delete(key: JsKey): Promise<boolean> {
    return this.call('delete', key);
  }

  /** The number of entries (a method: it asks the worker). */
  size(): Promise<number> {
    return this.call('size');
  }

  keys(): Promise<JsKey[]> {
    return this.call('keys');
  }

  entries(): Promise<[JsKey, LuaValue][]> {
    return this.call('entries');
  }

  async *[Symbol.asyncIterator](): AsyncIterableIterator<[JsKey, LuaValue]> {
    yield* await this.entries();
  }

  /** A plain JavaScript copy of the table and every table it reaches (as TableView.toJS()). */
  toJS(): Promise<unknown> {
    return this.call('toJS');
  }
}

export class LuaWorker {
  /** Where `_home` is kept; it lives in this thread, and the worker reaches it by messages. */
  readonly store: Store;
  /** The timeout of computes (0: none); `computeWith` sets one per call. */
  readonly timeoutMs: number;
  private init: WorkerInit;
  private endpoint: Endpoint | undefined;
  private homeId = 0;
  private nextId = 1;
  private queue: Pending[] = [];
  private current: Pending | undefined;
  private restarting: Promise<void> | undefined;
  private broken: unknown = undefined; // why the worker could not be restarted
  private closed = false;
  private saved = false; // a save reached the store: a restart starts from it, not from state or image
  private storeWork: Promise<unknown> = Promise.resolve(); // the store's calls, one after another
  private restartCount = 0;

  private constructor(options: LuaWorkerOptions, init: WorkerInit) {
    this.store = options.store ?? new MemoryStore();
    this.timeoutMs = checkTimeoutMs(options.timeoutMs, WHO);
    this.init = init;
  }

  /**
   * Starts a worker with a Lua VM, restoring `_home` from `image`, `state` or the store (as
   * Lua.create does). lua.wasm is compiled here once and shared with every worker it starts.
   */
  static async create(options: LuaWorkerOptions = {}): Promise<LuaWorker> {
    checkOptions(options);
    const module = await loadModule(options.wasm);
    const { instructionLimit, memoryAlias, clock, randomSeed, autosave, state, image, limits, outputLimit } = options;
    const init: WorkerInit = { module, instructionLimit, memoryAlias, clock, randomSeed, autosave, state, image, limits, outputLimit };
    const worker = new LuaWorker(options, init);
    await worker.start();
    return worker;
  }

  /** How many times the worker was replaced (after a timeout, or after it failed). */
  get restarts(): number {
    return this.restartCount;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // {====== the worker's life

  // Starts a worker and its VM; resolves once the VM is ready.
  private async start(): Promise<void> {
    const ep = await spawnWorker();
    this.endpoint = ep;
    let created = false;
    const ready = new Promise<void>((resolve, reject) => {
      ep.listen(
        (m) => {
          if (ep !== this.endpoint) return; // a worker already let go
          if (m.kind === 'created') {
            created = true;
            this.homeId = m.homeId;
            resolve();
          } else if (m.kind === 'reply' && m.id === 0 && !m.ok) {
            reject(errorFromWire(m.error));
          } else {
            this.received(ep, m);
          }
        },
        (e) => {
          if (ep !== this.endpoint) return;
          if (created) this.failed(e);
          else reject(new LuaError(`the Lua worker failed to start: ${e.message}`, 'host', '', { cause: e })); // no retry
        },
      );
    });
    ep.hold(true);
    ep.post({ kind: 'create', init: this.init });
    try {
      await ready;
    } catch (e) {
      this.endpoint = undefined;
      await ep.terminate();
      throw e;
    } finally {
      ep.hold(false);
    }
  }

  // Replaces the worker: terminates it, and starts one from the store (as of the last save).
  private restart(): void {
    const ep = this.endpoint;
    this.endpoint = undefined;
    this.restartCount++;
    this.restarting = (async () => {
      await ep?.terminate();
      await this.storeWork; // a save under way finishes first: "the last save" includes it
      if (this.saved) this.init = { ...this.init, state: undefined, image: undefined };
      if (!this.closed) await this.start();
    })().then(
      () => {
        this.restarting = undefined;
        this.pump();
      },
      (e) => {
        this.restarting = undefined;
        this.broken = e;
        for (const p of this.queue.splice(0)) p.reject(this.brokenError());
      },
    );
  }

  private brokenError(): Error {
    const why = this.broken instanceof Error ? this.broken.message : String(this.broken);
    return new LuaError(`the Lua worker could not be restarted: ${why}`, 'host', '', { cause: this.broken });
  }

  // The worker died on its own (an uncaught error, an exit): the call under way fails; a new worker takes over.
  private failed(e: Error): void {
    const p = this.current;
    this.current = undefined;
    if (p) {
      clearTimeout(p.timer);
      p.reject(new LuaError(`the Lua worker failed: ${e.message}`, 'host', '', { cause: e }));
    }
    if (!this.closed) this.restart();
  }

  // A compute ran past its timeout: the worker is terminated, whatever it was doing.
  private expire(p: Pending): void {
    if (this.current !== p) return;
    this.current = undefined;
    p.reject(timeoutError(p.timeoutMs, '(its worker was terminated; the VM restarts from its store as of the last save)'));
    this.restart();
  }

  /**
   * Terminates the worker: a compute under way is stopped and rejects with LuaClosedError, as do
   * the calls waiting; any other call under way (a save) is finished first. The store is not
   * closed (it is the caller's).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new LuaClosedError());
    const p = this.current;
    if (p && p.call.op !== 'compute') {
      await new Promise<void>((done) => {
        const { resolve, reject } = p;
        p.resolve = (v) => (resolve(v), done());
        p.reject = (e) => (reject(e), done());
      });
    }
    const now = this.current;
    if (now) {
      this.current = undefined;
      clearTimeout(now.timer);
      now.reject(new LuaClosedError());
    }
    await this.restarting;
    const ep = this.endpoint;
    this.endpoint = undefined;
    await ep?.terminate();
  }

  // }======

  // {====== calls

  /** @internal Sends a call to the worker (one at a time: a call's timeout starts when it is sent). */
  call(op: Op, timeoutMs = 0): Promise<unknown> {
    if (this.closed) return Promise.reject(new LuaClosedError());
    if (this.broken !== undefined) return Promise.reject(this.brokenError());
    let wire: Op;
    try {
      wire = this.outgoing(op);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, call: wire, timeoutMs, resolve, reject });
      this.pump();
    });
  }

  // Values going to the worker: views of this worker become markers; other views are refused.
  private outgoing(op: Op): Op {
    const special = (v: object) => {
      if (isTableRef(v)) {
        if (v instanceof WorkerTableView && v.belongsTo(this)) return markers.table(v.id);
        throw new TypeError('cannot send a table view of another Lua VM (or an object posing as one) to this Lua worker: ' +
          'a view belongs to its VM; copy it with toJS() first');
      }
      if (typeof v === 'function') throw new TypeError('cannot send a function to a Lua worker');
      return codecSpecial(v);
    };
    const wire = (v: unknown) => {
      if (typeof v === 'function' || typeof v === 'symbol') throw new TypeError(`cannot send a ${typeof v} to a Lua worker`);
      return toWire(v, special);
    };
    if (op.op === 'compute') return { ...op, args: op.args.map(wire) };
    if (op.op === 'table' && 'key' in op) {
      const out = { ...op, key: wire(op.key) } as Op & { value?: unknown };
      if (op.method === 'set') out.value = wire(op.value);
      return out;
    }
    return op;
  }

  private pump(): void {
    const ep = this.endpoint;
    if (this.current || this.restarting || !ep || this.queue.length === 0) return;
    const p = this.queue.shift() as Pending;
    this.current = p;
    ep.hold(true);
    try {
      ep.post({ kind: 'call', id: p.id, call: p.call });
    } catch (e) {
      this.current = undefined; // a value structured clone cannot carry: nothing was sent
      p.reject(e);
      this.settled();
      return;
    }
    if (p.timeoutMs > 0) p.timer = setTimeout(() => this.expire(p), p.timeoutMs);
  }

  private settled(): void {
    if (this.queue.length === 0) this.endpoint?.hold(false);
    this.pump();
  }

  // A message of the worker (not its creation).
  private received(ep: Endpoint, m: FromWorker): void {
    if (m.kind === 'store') {
      this.storeCall(ep, m);
      return;
    }
    if (m.kind !== 'reply') return;
    const p = this.current;
    if (!p || p.id !== m.id) return; // the answer to a call already given up
    this.current = undefined;
    clearTimeout(p.timer);
    if (m.ok) {
      try {
        p.resolve(this.incoming(p.call, m.value));
      } catch (e) {
        p.reject(e);
      }
    } else {
      p.reject(errorFromWire(m.error));
    }
    this.settled();
  }

  // The worker's store calls, one after another; the answer goes back to that worker (if it lives).
  private storeCall(ep: Endpoint, m: Extract<FromWorker, { kind: 'store' }>): void {
    const work = this.storeWork.then(async () => {
      if (m.op === 'load') {
        const state = await this.store.load();
        return state && packState(state);
      }
      await this.store.save(unpackBatch(m.batch));
      this.saved = true;
      return undefined;
    });
    this.storeWork = work.catch(() => undefined);
    work.then(
      (value) => {
        if (ep === this.endpoint) ep.post({ kind: 'store', id: m.id, ok: true, value }, value && transferOf(value));
      },
      (e) => {
        if (ep === this.endpoint) ep.post({ kind: 'store', id: m.id, ok: false, error: errorToWire(e) });
      },
    );
  }

  // Values coming back: table markers become views of this worker, and results get `value`.
  private incoming(call: Op, value: unknown): unknown {
    const view = (id: number) => new WorkerTableView(this, id);
    if (call.op === 'compute') {
      const r = value as { values: unknown[]; output: string; outputBytes: Uint8Array; outputDropped: number };
      const values = fromWire(r.values, view) as LuaValue[];
      return { values, value: values[0], output: r.output, outputBytes: r.outputBytes, outputDropped: r.outputDropped };
    }
    if (call.op === 'newTable') return view(value as number);
    return fromWire(value, view);
  }

  // }======

  // {====== the API of Lua, asynchronous

  /**
   * Runs a chunk of Lua in the worker, under the worker's timeoutMs. Resolves to its results;
   * rejects with LuaError when it fails (kind 'timeout' when it ran past its timeout: then the
   * worker was terminated and the VM restarted from its store, as of the last save).
   */
  compute(code: string | Uint8Array, ...args: unknown[]): Promise<ComputeResult> {
    return this.computeWith({}, code, ...args);
  }

  /** `compute`, with options for this call only: `{ timeoutMs }` (0: none) instead of the worker's. */
  computeWith(options: ComputeOptions, code: string | Uint8Array, ...args: unknown[]): Promise<ComputeResult> {
    try {
      if (typeof options !== 'object' || options === null) throw new TypeError(`computeWith: options must be an object, got ${describeValue(options)}`);
      const ms = options.timeoutMs === undefined ? this.timeoutMs : checkTimeoutMs(options.timeoutMs, 'computeWith');
      checkCode(code);
      return this.call({ op: 'compute', code, args }, ms) as Promise<ComputeResult>;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Saves what changed since the last save (as Lua.save). */
  save(): Promise<void> {
    return this.call({ op: 'save' }) as Promise<void>;
  }

  /** Waits for saves under way (autosave); rejects with the error of a failed autosave. */
  flush(): Promise<void> {
    return this.call({ op: 'flush' }) as Promise<void>;
  }

  /** The whole VM as a compressed image (as Lua.saveImage; `LuaWorker.create({ image })` resumes it). */
  saveImage(): Promise<Uint8Array> {
    return this.call({ op: 'saveImage' }) as Promise<Uint8Array>;
  }

  /** The tables reachable from `_home`, as bytes (as Lua.exportState). */
  exportState(): Promise<Uint8Array> {
    return this.call({ op: 'exportState' }) as Promise<Uint8Array>;
  }

  stats(): Promise<LuaStats> {
    return this.call({ op: 'stats' }) as Promise<LuaStats>;
  }

  /** A full collection in the VM and the host (as Lua.gc); resolves to the tables dropped. */
  gc(): Promise<number> {
    return this.call({ op: 'gc' }) as Promise<number>;
  }

  /** Sets the instruction limit of later computes (0: none); a restarted VM keeps it. */
  async setInstructionLimit(limit: number): Promise<void> {
    await this.call({ op: 'setInstructionLimit', limit });
    this.init = { ...this.init, instructionLimit: limit };
  }

  /** A view of `_home`. */
  get home(): WorkerTableView {
    if (this.closed) throw new LuaClosedError();
    return new WorkerTableView(this, this.homeId);
  }

  /** A view of external table `id`; an id this VM did not give out rejects its calls with RangeError. */
  table(id: number): WorkerTableView {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 0xffffffff) {
      throw new RangeError(`table(${String(id)}): table ids are integers from 1 to 2^32-1`);
    }
    return new WorkerTableView(this, id);
  }

  /** Creates a new, empty external table in the VM. */
  newTable(): Promise<WorkerTableView> {
    return this.call({ op: 'newTable' }) as Promise<WorkerTableView>;
  }

  // }======
}
