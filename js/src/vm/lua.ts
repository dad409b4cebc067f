// The friendly VM: `Lua.create`, `compute`, typed results, and JavaScript access to _home.
import {
  BUFFER_SIZE, CHANNEL_CLOCK, CHANNEL_LINE_OUTPUT, CHANNEL_ON, ERROR_KIND_CODES, LuaWasmExports, luaWasmExports, MAX_CODE_BYTES, RUN_ASYNC,
  RUN_KEPT_ARGS, RUN_LOAD_ONLY, RUN_NAMED, RUN_SERVED_CODE, SUSPENDED,
} from '../abi/abi.js';
import { answer, ChannelHandlers, HostChannel, pending, STATUS_ABSENT, STATUS_ERROR, STATUS_KEPT, STATUS_OK, STATUS_RAISE } from './channel.js';
import { LuaFunctionHandle, Multiple, OutputSink, StdinSource, toSink, toStdin } from './interop.js';
import {
  decodeKey, decodeValue, decodeValues, encodePassed, encodePassedInto, encodeScalar, externalRef, fromLatin1, hostKey, isPlainObject, isWellFormed,
  LuaValue, PassOptions, referencedTable, TABLE_REF, TAG_CHANNEL, TableRef,
} from '../codec/codec.js';
import { LuaClosedError, LuaError, LuaErrorKind } from '../errors.js';
import { loadModule, WasmSource } from './loader.js';
import { hostFor, TimedTableHost } from './timeout.js';
import { HostTable, TableHost } from '../host/tables.js';
import { DEFAULT_LIMITS, HostLimits, MAX_TABLES } from '../host/limits.js';
import { keyOf, valueOf } from '../host/table.js';
import { crc32, decodeState, encodeState, ImageBuildError, Reader, Writer } from '../stores/format.js';
import { MemoryStore } from '../stores/memory.js';
import { IMAGE_MAGIC, IMAGE_VERSION, inflateImage } from '../stores/image.js';
import { ChangeBatch, dropUnreachable, Store, TablesState } from '../stores/types.js';

export interface LuaOptions {
  /** lua.wasm: bytes, a compiled module, a URL or a path. Default: the package's own. */
  wasm?: WasmSource;
  /**
   * The steps one compute may take (loop iterations, jumps, calls, returns: one to a few VM
   * instructions each; docs/ABI.md); 0 or absent: no limit. A limit costs no speed.
   */
  instructionLimit?: number;
  /** Whether `Memory` aliases `_home` (default true). */
  memoryAlias?: boolean;
  /**
   * The clock Lua sees (os.time, os.date, os.clock). Default: real time. A number (seconds since
   * 1970) or a function returning one gives deterministic runs; os.clock then counts from 0.
   */
  clock?: number | (() => number);
  /** math.randomseed and the string-hash seed (so `pairs` order) of the VM. Default: random. */
  randomSeed?: number | bigint;
  /** Where `_home` is kept (default: a MemoryStore). Its saved state is restored. */
  store?: Store;
  /** Save after every successful compute (`await lua.flush()` waits for it). */
  autosave?: boolean;
  /**
   * A state from `exportState()` to start from (instead of the store's). It replaces what the
   * store holds at the next save: from then on the store holds exactly this VM's state.
   */
  state?: Uint8Array;
  /** A VM image from `saveImage()`: resumes the whole VM (globals, closures, coroutines). */
  image?: Uint8Array;
  /**
   * JavaScript functions to give the VM as globals (name → function; dotted names nest:
   * 'api.add'). A VM resumed from an image gets its host functions back by these names.
   */
  functions?: Record<string, (...args: never[]) => unknown>;
  /**
   * Quotas on what this VM's scripts may make the host hold (HostLimits; each defaults to
   * DEFAULT_LIMITS). A write that would cross one fails in Lua with an error pcall can catch;
   * uncaught, the compute fails with a LuaError of kind 'quota' and is rolled back.
   */
  limits?: Partial<HostLimits>;
  /**
   * Where print, io.write and io.stdout go, as the compute runs: a function receiving bytes, or
   * a writable stream (Node's process.stdout). Default: collected into each result's `output`.
   */
  stdout?: OutputSink;
  /** Where io.stderr goes (a function or a writable stream). Default: as stdout. */
  stderr?: OutputSink;
  /** What io.read and io.lines read: a string, bytes, or a function (max) => bytes or string, empty or null at the end. Default: empty. */
  stdin?: StdinSource;
  /**
   * What require finds (after package.preload): an object of module name → source, or a loader
   * (name) => source | undefined (a Promise under computeAsync). Chunk names are '@name.lua'.
   */
  modules?: Record<string, string | Uint8Array> | ((name: string, path: string) => unknown);
  /** Bytes of output one result collects when there is no `stdout` (default 16 MiB); the rest is counted in `outputDropped`. */
  outputLimit?: number;
  /** stdout is sent at every newline (a terminal) rather than in 8 KB blocks. */
  lineOutput?: boolean;
  /**
   * Milliseconds a compute may run (0 or absent: no limit). Best effort in this thread: checked
   * when the compute reaches the host (external-table operations) and when it ends; a late
   * compute fails with kind 'timeout' and is rolled back (vm/timeout.ts). LuaWorker always stops it.
   */
  timeoutMs?: number;
}

/** What a successful compute returns. */
export interface ComputeResult {
  /** Every value the chunk returned, in order. */
  readonly values: LuaValue[];
  /** The first of them (undefined when none). */
  readonly value: LuaValue;
  /** What print and io.write wrote, as text (bytes that are not UTF-8 read as U+FFFD). */
  readonly output: string;
  /** What print and io.write wrote: the exact bytes. */
  readonly outputBytes: Uint8Array;
  /** Bytes of output that did not fit and were dropped. */
  readonly outputDropped: number;
}

export interface LuaStats {
  /** Size of the I/O buffer (65536). */
  bufferSize: number;
  /** Lua heap bytes in use, from the allocator. */
  heapUsed: number;
  /** Pages of linear memory (32). */
  pages: number;
  /** Steps the last compute took, charges for work included (docs/ABI.md, "Steps"); against instructionLimit. */
  steps: number;
  /** Bytes the VM's external tables count against limits.hostBytes. */
  hostBytes: number;
  /** External tables the VM has, against limits.tables. */
  tables: number;
  /** Host bytes the last compute held for its rollback, against limits.computeBytes. */
  computeBytes: number;
  /** The limits in force. */
  limits: HostLimits & { instructionLimit: number };
}

type JsKey = string | number | bigint | boolean | Uint8Array;

/** A view of one external table in the host: read and write it without running Lua. */
export class TableView implements Iterable<[JsKey, LuaValue]> {
  readonly [TABLE_REF] = true;

  constructor(private readonly lua: Lua, readonly id: number) {}

  /** @internal Whether this view belongs to `lua`. */
  belongsTo(lua: Lua): boolean {
    return this.lua === lua;
  }

  private map() {
    return this.lua.host.tables.get(this.id);
  }

  /** The value under `key` (undefined when absent). */
  get(key: JsKey): LuaValue {
    const v = this.map()?.get(hostKey(key));
    return v === undefined ? undefined : this.lua.decode(v);
  }

  has(key: JsKey): boolean {
    return this.map()?.has(hostKey(key)) ?? false;
  }

  /** Stores `value` (objects, arrays and Maps become new external tables); undefined deletes. */
  set(key: JsKey, value: unknown): this {
    this.lua.checkOpen();
    const k = hostKey(key);
    this.lua.host.write(this.id, keyOf(k), value === undefined || value === null ? undefined : valueOf(this.lua.encode(value)));
    return this;
  }

  delete(key: JsKey): boolean {
    this.lua.checkOpen();
    const k = hostKey(key);
    const had = this.map()?.has(k) ?? false;
    if (had) this.lua.host.write(this.id, keyOf(k), undefined);
    return had;
  }

  get size(): number {
    return this.map()?.size ?? 0;
  }

  *keys(): IterableIterator<JsKey> {
    for (const k of this.map()?.keys() ?? []) yield decodeKey(fromLatin1(k));
  }

  *entries(): IterableIterator<[JsKey, LuaValue]> {
    for (const [k, v] of this.map() ?? []) yield [decodeKey(fromLatin1(k)), this.lua.decode(v)];
  }

  [Symbol.iterator](): IterableIterator<[JsKey, LuaValue]> {
    return this.entries();
  }

  /**
   * A plain JavaScript copy: arrays for keys 1..n, objects for string keys, Maps otherwise;
   * nested tables copied too (a table met again, as in a cycle, is the same JS object).
   */
  toJS(): unknown {
    return this.lua.tableToJS(this.id);
  }

  /** JSON.stringify gives the table's contents (as toJS()), never the VM behind the view. */
  toJSON(): unknown {
    return this.toJS();
  }

  [Symbol.for('nodejs.util.inspect.custom')](depth: number, options: { stylize?: unknown }, inspect: (v: unknown, o: unknown) => string): string {
    if (this.lua.isClosed) return `TableView #${this.id} (VM closed)`;
    return `TableView #${this.id} ${typeof inspect === 'function' ? inspect(this.toJS(), { ...options, depth: Math.min(depth, 2) }) : ''}`;
  }
}

/** Every u32 table id was handed out: no new external table can be made. */
export class TableIdsExhaustedError extends RangeError {
  constructor(message = 'external table ids are exhausted (2^32 - 1 tables)') {
    super(message);
    this.name = 'TableIdsExhaustedError';
  }
}

// Each option of Lua.create of the wrong type is a TypeError that names it (before it is used).
function checkOptions(options: LuaOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Lua.create options must be an object, got ${describeValue(options)}`);
  const o = options as Record<keyof LuaOptions, unknown>;
  const want = (name: keyof LuaOptions, ok: boolean, what: string) => {
    if (o[name] !== undefined && !ok) throw new TypeError(`Lua.create: option '${name}' must be ${what}, got ${describeValue(o[name])}`);
  };
  want('instructionLimit', typeof o.instructionLimit === 'number', 'a number');
  want('memoryAlias', typeof o.memoryAlias === 'boolean', 'a boolean');
  want('clock', typeof o.clock === 'number' || typeof o.clock === 'function', 'a number or a function');
  want('randomSeed', typeof o.randomSeed === 'number' || typeof o.randomSeed === 'bigint', 'a number or a bigint');
  const store = o.store as Partial<Store> | undefined;
  want('store', typeof store === 'object' && store !== null && typeof store.load === 'function' && typeof store.save === 'function',
    'a Store (an object with load and save methods)');
  want('autosave', typeof o.autosave === 'boolean', 'a boolean');
  want('state', o.state instanceof Uint8Array, 'a Uint8Array (from exportState())');
  want('image', o.image instanceof Uint8Array, 'a Uint8Array (from saveImage())');
  const functions = (v: unknown, depth: number): boolean => typeof v === 'function' ||
    (depth < 8 && typeof v === 'object' && v !== null && isPlainObject(v) && Object.values(v).every((f) => functions(f, depth + 1)));
  want('functions', typeof o.functions === 'object' && o.functions !== null && functions(o.functions, 0),
    'an object of functions (or of objects of functions, as api.add)');
  const sink = (v: unknown) => typeof v === 'function' || (typeof v === 'object' && v !== null && typeof (v as { write?: unknown }).write === 'function');
  want('stdout', sink(o.stdout), 'a function or a writable stream');
  want('stderr', sink(o.stderr), 'a function or a writable stream');
  want('stdin', typeof o.stdin === 'string' || o.stdin instanceof Uint8Array || typeof o.stdin === 'function', 'a string, a Uint8Array or a function');
  want('modules', typeof o.modules === 'function' || (typeof o.modules === 'object' && o.modules !== null), 'an object of sources or a loader function');
  want('outputLimit', typeof o.outputLimit === 'number' && Number.isInteger(o.outputLimit) && (o.outputLimit as number) >= 0, 'a non-negative integer');
  want('lineOutput', typeof o.lineOutput === 'boolean', 'a boolean');
  want('limits', typeof o.limits === 'object' && o.limits !== null && isPlainObject(o.limits), 'an object of limits');
  if (typeof o.limits === 'object' && o.limits !== null) {
    for (const [name, value] of Object.entries(o.limits)) {
      if (!(name in DEFAULT_LIMITS)) throw new TypeError(`Lua.create: unknown limit '${name}' (the limits are ${Object.keys(DEFAULT_LIMITS).join(', ')})`);
      const max = name === 'tables' ? MAX_TABLES : Number.MAX_SAFE_INTEGER;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
        throw new TypeError(`Lua.create: limits.${name} must be an integer from 0 to ${max.toLocaleString('en')}, got ${describeValue(value)}`);
      }
    }
  }
  for (const name of Object.keys(o)) {
    if (!KNOWN_OPTIONS.has(name)) {
      const near = [...KNOWN_OPTIONS].find((k) => k.toLowerCase() === name.toLowerCase());
      throw new TypeError(`Lua.create: unknown option '${name}'${near ? ` (did you mean '${near}'?)` : ''}`);
    }
  }
}

const KNOWN_OPTIONS = new Set([
  'wasm', 'instructionLimit', 'memoryAlias', 'clock', 'randomSeed', 'store', 'autosave', 'state', 'image', 'timeoutMs',
  'functions', 'stdout', 'stderr', 'stdin', 'modules', 'outputLimit', 'lineOutput', 'limits',
]);

/** Checks compute's code argument: a TypeError naming it. */
function checkCode(code: unknown, where: string): asserts code is string | Uint8Array {
  if (typeof code !== 'string' && !(code instanceof Uint8Array)) {
    throw new TypeError(`${where}: code must be a string or a Uint8Array, got ${describeValue(code)}`);
  }
}

// The VM a channel's operations reach (set once the Lua object exists).
class Relay implements ChannelHandlers {
  lua: Lua | undefined;
  write(stream: number, bytes: Uint8Array) { (this.lua as Lua).channelWrite(stream, bytes); }
  read(max: number) { return (this.lua as Lua).channelRead(max); }
  call(id: number, mem: Uint8Array, at: number, end: number, out: number, room: number) {
    return (this.lua as Lua).channelCall(id, mem, at, end, out, room);
  }
  module(name: string, path: string) { return (this.lua as Lua).channelModule(name, path); }
  clock() { return (this.lua as Lua).channelClock(); }
  result(piece: Uint8Array) { (this.lua as Lua).channelResult(piece); }
}

function describeValue(v: unknown): string {
  return v === null ? 'null' : typeof v === 'object' ? ((v as object).constructor?.name ?? 'object') : typeof v;
}

// The compiled module of each VM's host, to replace a broken instance synchronously.
const modules = new WeakMap<TableHost, WebAssembly.Module>();
// The host channel of each VM's host, and the relay to its VM.
const channels = new WeakMap<TableHost, { channel: HostChannel; relay: Relay }>();

export class Lua {
  /** The raw exports, for who needs to drop down a layer. */
  exports: LuaWasmExports;
  /** The external-table host (JavaScript Maps). */
  readonly host: TableHost;

  private closed = false;
  private computing = false;
  // Set when a compute ran out of JavaScript stack: the instance is replaced before the next use.
  private broken: unknown = undefined;
  private instructionLimit = 0;
  private readonly options: LuaOptions;
  private readonly clock: (() => number) | undefined;
  private readonly fixedClock: boolean;
  private readonly started = Date.now();
  private buffer: number;
  // Views by id, held weakly: a view lives as long as its user keeps it.
  private views = new Map<number, WeakRef<TableView>>();
  private readonly viewsGone = new FinalizationRegistry<number>((id) => {
    if (this.views.get(id)?.deref() === undefined) this.views.delete(id);
  });
  /** Where `_home` is saved. */
  readonly store: Store;
  private readonly autosave: boolean;
  private saving: Promise<void> = Promise.resolve();
  private autosaveError: unknown = undefined;
  // Started from a state or image, not from the store: every save is a whole-state batch that
  // replaces the store's contents, until one of them has succeeded.
  private replacing = false;

  private constructor(exports: LuaWasmExports, host: TableHost, options: LuaOptions) {
    checkOptions(options);
    this.options = options;
    this.exports = exports;
    this.viewMemory();
    this.host = host;
    this.buffer = exports.get_buffer_ptr();
    const c = options.clock;
    this.clock = typeof c === 'number' ? () => c : c;
    this.fixedClock = c !== undefined;
    this.store = options.store ?? new MemoryStore();
    this.autosave = options.autosave ?? false;
    const link = channels.get(host) as { channel: HostChannel; relay: Relay };
    this.channel = link.channel;
    link.relay.lua = this;
    this.stdout = options.stdout === undefined ? undefined : toSink(options.stdout);
    this.stderr = options.stderr === undefined ? this.stdout : toSink(options.stderr);
    this.stdin = toStdin(options.stdin);
    this.outputLimit = options.outputLimit ?? 16 * 1024 * 1024;
    this.openChannel();
  }

  private openChannel(): void {
    this.exports.set_host_channel(CHANNEL_ON | CHANNEL_CLOCK | (this.options.lineOutput ? CHANNEL_LINE_OUTPUT : 0));
  }

  // {====== interop state (docs/ABI.md, "The host channel")

  private readonly channel: HostChannel;
  private readonly stdout: ((bytes: Uint8Array) => void) | undefined;
  private readonly stderr: ((bytes: Uint8Array) => void) | undefined;
  private readonly stdin: (max: number) => Uint8Array;
  private readonly outputLimit: number;
  // The first exception a stdout or stderr sink threw during this compute.
  private sinkFailure: { stream: string; error: unknown } | undefined = undefined;
  private output: Uint8Array[] = [];
  private outputSize = 0;
  private outputCut = 0;
  private resultPieces: Uint8Array[] = [];
  // Host functions: id → function, function → id, id → the name it was given by (images).
  private hostFunctions = new Map<number, (...args: never[]) => unknown>();
  private hostFunctionIds = new Map<(...args: never[]) => unknown, number>();
  private hostFunctionNames = new Map<number, string>();
  private nextHostFunction = 1;
  private naming: string | undefined; // global.set(name, ...) running: host functions are named after it
  // Handles: id → the JavaScript object (weakly; a collected one releases its handle).
  private handles = new Map<number, WeakRef<LuaFunctionHandle>>();
  private readonly handlesGone = new FinalizationRegistry<number>((id) => {
    if (this.handles.get(id)?.deref() !== undefined) return; // a newer object for the same handle
    this.handles.delete(id);
    if (!this.closed && this.broken === undefined) this.exports.release_handle(id);
  });
  // Promises of host functions under an async compute, by id.
  private promises = new Map<number, Promise<unknown>>();
  private nextPromise = 1;
  private asyncNow = false; // a computeAsync is running (or suspended)
  private queue: Promise<unknown> = Promise.resolve();
  private hostDepth = 0; // host functions running now
  private lastThrown: { error: unknown; text: string } | undefined;

  private readonly passOptions = {
    hostFunction: (fn: (...args: never[]) => unknown, path: string) => {
      let id = this.hostFunctionIds.get(fn);
      if (id === undefined) {
        id = this.nextHostFunction++;
        this.hostFunctionIds.set(fn, id);
        this.hostFunctions.set(id, fn);
      }
      // 'argument #2.twice' of SET_GLOBAL is global 'api.twice'
      if (this.naming !== undefined && path.startsWith(SET_GLOBAL_VALUE)) this.hostFunctionNames.set(id, this.naming + path.slice(SET_GLOBAL_VALUE.length));
      return id;
    },
    handle: (v: object) => {
      if (!(v instanceof LuaFunctionHandle)) return undefined;
      if (!v.belongsTo(this)) throw new TypeError('cannot pass a Lua function of another VM: a handle belongs to its VM');
      return v.handleId();
    },
    tableRef: (v: TableRef) => referencedTable(this.reference(v)),
  };

  private readonly passDecode = {
    table: (id: number) => this.view(id),
    handle: (id: number) => this.handleFor(id),
    hostFunction: (id: number) => this.hostFunctions.get(id) as LuaValue,
  };

  private handleFor(id: number): LuaFunctionHandle {
    const known = this.handles.get(id)?.deref();
    if (known) return known;
    const h = new LuaFunctionHandle(this, id);
    this.handles.set(id, new WeakRef(h));
    this.handlesGone.register(h, id, h);
    return h;
  }

  /** @internal Releases a handle now. */
  releaseHandle(h: LuaFunctionHandle, id: number): void {
    this.handlesGone.unregister(h);
    if (this.handles.get(id)?.deref() === h) this.handles.delete(id);
    if (!this.closed && this.broken === undefined) this.exports.release_handle(id);
  }

  /** How many Lua functions the VM holds for JavaScript handles. */
  get handleCount(): number {
    this.check();
    return this.exports.get_handle_count();
  }

  /** @internal */
  channelWrite(stream: number, bytes: Uint8Array): void {
    const sink = stream === 2 ? this.stderr : this.stdout;
    if (sink) {
      if (this.sinkFailure !== undefined) return; // the compute fails at its end (finish)
      try {
        sink(bytes);
      } catch (e) {
        this.sinkFailure = { stream: stream === 2 ? 'stderr' : 'stdout', error: e };
      }
      return;
    }
    const room = this.outputLimit - this.outputSize;
    if (bytes.length > room) {
      this.outputCut += bytes.length - Math.max(room, 0);
      bytes = bytes.subarray(0, Math.max(room, 0));
    }
    if (bytes.length === 0) return;
    this.output.push(bytes);
    this.outputSize += bytes.length;
  }

  /** @internal */
  channelRead(max: number): Uint8Array {
    return this.stdin(max);
  }

  /** @internal */
  channelResult(piece: Uint8Array): void {
    this.resultPieces.push(piece);
  }

  /** @internal A call of host function `id` from Lua: the answer for the module. */
  channelCall(id: number, mem: Uint8Array, at: number, end: number, out: number, room: number): number | Uint8Array {
    const fn = this.hostFunctions.get(id);
    if (!fn) {
      return answer(STATUS_ERROR, encodeOne(`the host has no function ${id} (a VM resumed from an image gets its ` +
        `functions back from Lua.create({ image, functions }))`, this.passOptions));
    }
    let result: unknown;
    this.hostDepth++;
    try {
      // Decoded (copied) before the function runs: a call back into Lua reuses this memory.
      const values = end - at > 4 ? decodeValues(mem, at + 4, end, this.passDecode) : NO_VALUES;
      result = fn(...(values as never[]));
    } catch (e) {
      this.lastThrown = { error: e, text: e instanceof Error ? e.message : String(e) };
      return thrownAnswer(e, this.passOptions);
    } finally {
      this.hostDepth--;
    }
    if (isThenable(result)) return pending(this.keepPromise(result));
    try {
      return answerReturned(result, this.passOptions, this.memBytes(), this.memData, out, room);
    } catch (e) {
      const text = `a host function returned a value Lua cannot take: ${(e as Error).message}`;
      return answer(STATUS_ERROR, encodeOne(text, this.passOptions));
    }
  }

  private keepPromise(p: PromiseLike<unknown>): number {
    const id = this.nextPromise++;
    const promise = Promise.resolve(p);
    promise.catch(() => undefined); // answered to Lua (or dropped with a sync compute's error)
    this.promises.set(id, promise);
    return id;
  }

  /** @internal require: the source of a module, from `modules`. */
  channelModule(name: string, path: string): Uint8Array {
    const modules = this.options.modules;
    if (modules === undefined) return answer(STATUS_ABSENT, textEncoder.encode(`\n\tno module '${name}' (this VM has no modules)`));
    let found: unknown;
    try {
      found = typeof modules === 'function' ? modules(name, path) : Object.prototype.hasOwnProperty.call(modules, name) ? modules[name] : undefined;
    } catch (e) {
      return answer(STATUS_ERROR, textEncoder.encode(e instanceof Error ? e.message : String(e)));
    }
    if (isThenable(found)) {
      const id = this.keepPromise(Promise.resolve(found).then((source) => {
        if (source === undefined || source === null) return new Multiple([]);
        return new Multiple([this.channel.serve(moduleSource(name, source)), chunkName(name)]);
      }));
      return pending(id);
    }
    if (found === undefined || found === null) return answer(STATUS_ABSENT, textEncoder.encode(`\n\tno module '${name}' in modules`));
    let source: Uint8Array;
    try {
      source = moduleSource(name, found);
    } catch (e) {
      return answer(STATUS_ERROR, textEncoder.encode((e as Error).message));
    }
    const chunk = textEncoder.encode(chunkName(name));
    const out = new Uint8Array(4 + chunk.length);
    new DataView(out.buffer).setUint32(0, this.channel.serve(source), true);
    out.set(chunk, 4);
    return answer(STATUS_OK, out);
  }

  /** Reads and writes the VM's global variables from JavaScript. */
  readonly global = {
    /** The value of global `name` (a Lua function comes back as a callable handle). */
    get: (name: string): LuaValue => {
      if (typeof name !== 'string') throw new TypeError(`lua.global.get: name must be a string, got ${describeValue(name)}`);
      return this.compute('return _ENV[...]', name).value;
    },
    /** Sets global `name`: plain values copied, table views by reference, functions callable from Lua. */
    set: (name: string, value: unknown): void => {
      if (typeof name !== 'string') throw new TypeError(`lua.global.set: name must be a string, got ${describeValue(name)}`);
      this.naming = name;
      try {
        this.compute(SET_GLOBAL, name, value);
      } finally {
        this.naming = undefined;
      }
    },
  };

  // }======

  private static async instantiate(options: LuaOptions): Promise<{ exports: LuaWasmExports; host: TableHost }> {
    const module = await loadModule(options.wasm);
    const host = hostFor(options); // a TimedTableHost under timeoutMs
    modules.set(host, module);
    const relay = new Relay();
    const channel = new HostChannel(relay);
    channels.set(host, { channel, relay });
    const instance = await WebAssembly.instantiate(module, { env: channel.wrap(host.imports()) as unknown as WebAssembly.ModuleImports });
    const exports = luaWasmExports(instance);
    host.attach(exports.memory);
    channel.attach(exports.memory);
    return { exports, host };
  }

  /**
   * Creates a VM (compiling lua.wasm once per source; later VMs reuse the module), restoring
   * `_home` from `image`, `state` or the store, in that order of preference.
   */
  static async create(options: LuaOptions = {}): Promise<Lua> {
    checkOptions(options);
    if (options.image) return Lua.fromImage(options);
    const { exports, host } = await Lua.instantiate(options);
    exports.set_memory_alias_enabled(options.memoryAlias === false ? 0 : 1);
    exports.set_hash_seed(hashSeed(options.randomSeed));
    if (exports.init() !== 0) throw new LuaError('lua.wasm could not create its VM', 'memory');
    const lua = new Lua(exports, host, options);
    lua.setInstructionLimit(options.instructionLimit ?? 0);
    lua.seed(options.randomSeed);
    if (options.state) {
      const { state } = decodeState(options.state, 'the exported state');
      dropUnreachable(state);
      lua.restoreTables(state);
      host.trackChanges();
      lua.replacing = true; // the store receives all of it, and only it, at the next save
    } else {
      const saved = await lua.store.load();
      if (saved) lua.restoreTables(saved);
      host.trackChanges();
    }
    for (const [name, fn] of Object.entries(options.functions ?? {})) lua.global.set(name, fn);
    return lua;
  }

  private restoreTables(state: TablesState): void {
    this.host.load(state.tables);
    this.exports.attach_memory_table(state.homeId);
    // Ids are never reused: past every table restored, and 0 ("exhausted") stays exhausted.
    let next = state.nextId >>> 0;
    for (const id of [state.homeId, ...state.tables.keys()]) if (next !== 0 && id >= next) next = id === 0xffffffff ? 0 : id + 1;
    this.exports.sync_external_table_counter(next);
    if (next === 0 && this.exports.get_external_table_counter() !== 0) {
      throw new TableIdsExhaustedError('this lua.wasm cannot restore a state whose table ids are exhausted (it needs sync_external_table_counter(0))');
    }
  }

  // {====== persistence

  /**
   * Saves what changed since the last save, as one atomic batch. Saves run one after another;
   * a failed save keeps its changes for the next one.
   */
  save(): Promise<void> {
    this.check();
    // The batch is what changed up to now (one compute's changes never straddle two batches);
    // it is written after the saves already under way.
    let changes = this.host.takeChanges();
    const replace = this.replacing;
    if (replace) changes = allChanges(this.currentState()); // the whole state, until one such save succeeds
    const batch: ChangeBatch = { homeId: this.exports.get_memory_table_id() >>> 0, nextId: this.exports.get_external_table_counter() >>> 0, changes, replace };
    const run = async () => {
      try {
        await this.store.save(batch);
        if (replace) this.replacing = false;
      } catch (e) {
        if (!replace) this.host.restoreChanges(changes); // written again (with their newest values) next time
        throw e;
      }
    };
    this.saving = this.saving.then(run, run);
    return this.saving;
  }

  /**
   * Saves like save(), and hands the store a VM image of this same moment with the batch
   * (`store.save(batch, { image })`): a store that keeps images (PostgresStore, FileVmStore) keeps
   * both in one step, so the image is never older than the tables. LuaPool evicts with it.
   */
  saveWithImage(): Promise<void> {
    this.check();
    const image = this.saveImage(); // its bytes are taken now, before any await
    image.catch(() => undefined); // its failure is the save's, reported below
    let changes = this.host.takeChanges();
    const replace = this.replacing;
    if (replace) changes = allChanges(this.currentState());
    const batch: ChangeBatch = { homeId: this.exports.get_memory_table_id() >>> 0, nextId: this.exports.get_external_table_counter() >>> 0, changes, replace };
    const run = async () => {
      try {
        await this.store.save(batch, { image: await image });
        if (replace) this.replacing = false;
      } catch (e) {
        if (!replace) this.host.restoreChanges(changes);
        throw e;
      }
    };
    this.saving = this.saving.then(run, run);
    return this.saving;
  }

  /** Waits for saves under way (autosave); throws the error of a failed autosave. */
  async flush(): Promise<void> {
    await this.saving.catch(() => undefined);
    const e = this.autosaveError;
    this.autosaveError = undefined;
    if (e !== undefined) throw e;
  }

  /** The tables reachable from `_home`, as versioned, checksummed bytes (`Lua.create({ state })`). */
  exportState(): Uint8Array {
    this.check();
    const state = this.currentState();
    dropUnreachable(state);
    return encodeState(state);
  }

  private currentState(): TablesState {
    return {
      homeId: this.exports.get_memory_table_id() >>> 0,
      nextId: this.exports.get_external_table_counter() >>> 0,
      tables: this.host.snapshot(),
    };
  }

  /**
   * The whole VM (its 2 MiB of memory: globals, closures, coroutines) and its external tables,
   * compressed. `Lua.create({ image })` resumes it exactly, with the same build of lua.wasm.
   */
  async saveImage(): Promise<Uint8Array> {
    this.check();
    const w = new Writer();
    w.latin1(IMAGE_MAGIC);
    w.u32(IMAGE_VERSION);
    const id = this.exports.get_build_id();
    w.u32(Number(BigInt.asUintN(32, id)));
    w.u32(Number(BigInt.asUintN(32, id >> 32n)));
    // The host functions the VM holds, by the names they were given (reattached by name).
    w.u32(this.nextHostFunction);
    w.u32(this.hostFunctionNames.size);
    for (const [fid, name] of this.hostFunctionNames) {
      w.u32(fid);
      const bytes = textEncoder.encode(name);
      w.u32(bytes.length);
      w.bytes(bytes);
    }
    const memory = this.memBytes();
    w.u32(memory.length);
    w.bytes(memory);
    w.bytes(encodeState(this.currentState()));
    return compress(w.finish());
  }

  private static async fromImage(options: LuaOptions): Promise<Lua> {
    const bytes = await inflateImage(options.image as Uint8Array);
    const r = new Reader(bytes, 'the VM image');
    r.magic(IMAGE_MAGIC);
    if (bytes.length < 28) r.fail('truncated');
    if (crc32(bytes, 0, bytes.length - 4) !== new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 4, true)) {
      r.fail('checksum mismatch');
    }
    const version = r.u32();
    if (version !== IMAGE_VERSION) r.fail(`image version ${version} (this build reads ${IMAGE_VERSION})`);
    const lo = BigInt(r.u32());
    const hi = BigInt(r.u32());
    const nextHostFunction = r.u32();
    const names = new Map<number, string>();
    for (let i = r.u32(); i > 0; i--) {
      const fid = r.u32();
      names.set(fid, textDecoder.decode(r.bytes_(r.u32())));
    }
    const { exports, host } = await Lua.instantiate(options);
    const build = BigInt.asUintN(64, exports.get_build_id());
    if (((hi << 32n) | lo) !== build) {
      throw new ImageBuildError(((hi << 32n) | lo).toString(16).padStart(16, '0'), build.toString(16).padStart(16, '0'));
    }
    const size = r.u32();
    const memory = new Uint8Array(exports.memory.buffer);
    if (size !== memory.length) r.fail(`memory of ${size} bytes, this module has ${memory.length}`);
    memory.set(r.bytes_(size));
    const { state } = decodeState(bytes.subarray(r.at, bytes.length - 4), 'the VM image');
    const lua = new Lua(exports, host, options);
    lua.nextHostFunction = nextHostFunction;
    const given = flatFunctions(options.functions ?? {});
    for (const [fid, name] of names) {
      lua.hostFunctionNames.set(fid, name);
      const fn = given.get(name);
      if (fn) {
        lua.hostFunctions.set(fid, fn);
        lua.hostFunctionIds.set(fn, fid);
      }
    }
    host.load(state.tables);
    host.trackChanges();
    lua.replacing = true; // the image's tables replace the store's contents at the next save
    if (options.instructionLimit !== undefined) lua.setInstructionLimit(options.instructionLimit);
    return lua;
  }

  // }======

  private check(): void {
    if (this.closed) throw new LuaClosedError();
    if (this.broken !== undefined) this.restart();
  }

  /**
   * Replaces an instance that a JavaScript stack overflow went through (its memory may be
   * inconsistent) by a fresh one on the same host tables: `_home` and every external table are
   * as before the failed compute; Lua globals outside `_home` start afresh (docs/ABI.md).
   */
  private restart(): void {
    const old = this.exports;
    const homeId = old.get_memory_table_id() >>> 0;
    const nextId = old.get_external_table_counter() >>> 0;
    const module = modules.get(this.host) as WebAssembly.Module;
    const instance = new WebAssembly.Instance(module, { env: this.channel.wrap(this.host.imports()) as unknown as WebAssembly.ModuleImports });
    const exports = luaWasmExports(instance);
    this.channel.attach(exports.memory);
    exports.set_memory_alias_enabled(this.options.memoryAlias === false ? 0 : 1);
    exports.set_hash_seed(hashSeed(this.options.randomSeed));
    if (exports.init() !== 0) throw new LuaError('lua.wasm could not create its VM', 'memory');
    exports.attach_memory_table(homeId);
    exports.sync_external_table_counter(nextId);
    exports.set_instruction_limit(this.instructionLimit);
    this.host.attach(exports.memory);
    this.host.forgetCursors();
    this.exports = exports;
    this.viewMemory();
    this.buffer = exports.get_buffer_ptr();
    this.broken = undefined;
    this.seed(this.options.randomSeed);
    this.openChannel();
    this.handles.clear(); // the old instance's handles are gone with it
    for (const [name, fn] of Object.entries(this.options.functions ?? {})) this.global.set(name, fn);
  }

  /** @internal Throws LuaClosedError once the VM is closed (table views write through it). */
  checkOpen(): void {
    this.check();
  }

  /** Sets the instruction limit of later computes (0: none). */
  setInstructionLimit(limit: number): void {
    this.check();
    if (!Number.isInteger(limit) || limit < 0 || limit > 0xffffffff) {
      throw new RangeError(`instructionLimit must be an integer from 0 to 2^32-1, got ${limit}`);
    }
    this.exports.set_instruction_limit(limit);
    this.instructionLimit = limit;
  }

  private seed(seed: number | bigint | undefined): void {
    let a: bigint;
    let b = 0n;
    if (seed === undefined) {
      const r = new BigInt64Array(2);
      globalThis.crypto.getRandomValues(r);
      [a, b] = [r[0], r[1]];
    } else {
      a = BigInt.asIntN(64, BigInt(seed));
    }
    this.exports.set_random_seed(a, b);
  }

  /** @internal The clock of a compute, asked at its first reading (os.time, os.date, os.clock). */
  channelClock(): [unixSeconds: number, cpuSeconds: number] {
    if (this.fixedClock) {
      try {
        return [(this.clock as () => number)(), 0];
      } catch (e) {
        this.lastThrown = { error: e, text: e instanceof Error ? e.message : String(e) }; // the LuaError's cause
        throw e;
      }
    }
    const now = Date.now(); // os.clock has millisecond steps
    return [now / 1000, (now - this.started) / 1000];
  }

  /**
   * Runs a chunk of Lua. Returns its results and output; throws LuaError when it fails, and
   * then every external table is exactly as it was before the call.
   */
  compute(code: string | Uint8Array, ...args: unknown[]): ComputeResult {
    checkCode(code, 'lua.compute');
    this.check();
    this.checkIdle('compute');
    this.computing = true;
    try {
      return this.finish(this.start(code, args, undefined, 0));
    } finally {
      this.computing = false;
    }
  }

  /**
   * Runs a chunk that may call asynchronous host functions (and modules): Lua waits for each
   * Promise as if the call were synchronous. Computes on one VM run one after another.
   */
  computeAsync(code: string | Uint8Array, ...args: unknown[]): Promise<ComputeResult> {
    try {
      checkCode(code, 'lua.computeAsync');
    } catch (e) {
      return Promise.reject(e); // a Promise-returning method never throws
    }
    return this.enqueue(() => this.start(code, args, undefined, RUN_ASYNC));
  }

  /**
   * Compiles a chunk without running it: a Lua function handle to call. `chunkname` is Lua's
   * (load's): '@script.lua' makes messages read 'script.lua:4: ...'; default: the code itself.
   * Code that does not compile is a LuaError of kind 'syntax'.
   */
  load(code: string | Uint8Array, chunkname?: string): LuaFunctionHandle {
    checkCode(code, 'lua.load');
    if (chunkname !== undefined && (typeof chunkname !== 'string' || chunkname.includes('\0'))) {
      throw new TypeError(`lua.load: chunkname must be a string without NUL bytes, got ${describeValue(chunkname)}`);
    }
    this.check();
    this.checkIdle('load');
    this.computing = true;
    try {
      const name = chunkname ?? (typeof code === 'string' ? code : textDecoder.decode(code)).slice(0, 60);
      return this.finish(this.start(code, [], name, RUN_LOAD_ONLY)).value as LuaFunctionHandle;
    } finally {
      this.computing = false;
    }
  }

  /** @internal Calls the Lua function behind handle `id` (LuaFunctionHandle.call). */
  callHandle(id: number, args: unknown[], async: boolean): ComputeResult | Promise<ComputeResult> {
    this.check();
    if (this.computing && this.hostDepth > 0) {
      // From a host function: the call runs inside the compute (its limit and transaction).
      if (async) throw new LuaError('callAsync from inside a host function: use call (the outer compute waits for promises)', 'input');
      const argLen = this.placeArgs(args);
      const n = this.exports.call(id, this.buffer, argLen, this.argFlags);
      if (n < 0) throw this.error(this.memBytes(), n);
      return this.results(this.memBytes(), n, false);
    }
    if (async) {
      return this.enqueue(() => {
        const argLen = this.placeArgs(args);
        return this.begin(() => this.exports.call(id, this.buffer, argLen, RUN_ASYNC | this.argFlags));
      });
    }
    this.checkIdle('call');
    this.computing = true;
    try {
      const argLen = this.placeArgs(args);
      this.reset();
      let n: number;
      try {
        n = this.exports.call(id, this.buffer, argLen, this.argFlags);
      } catch (e) {
        throw this.lost(e);
      }
      return this.finish(n);
    } finally {
      this.computing = false;
    }
  }

  // The module's memory as bytes, one view kept (the memory never grows; a new instance after
  // a restart has another buffer).
  private memView = new Uint8Array(0);
  private memData = new DataView(new ArrayBuffer(0));
  private memBytes(): Uint8Array {
    if (this.memView.byteLength === 0) this.viewMemory();
    return this.memView;
  }

  private viewMemory(): void {
    this.memView = new Uint8Array(this.exports.memory.buffer);
    this.memData = new DataView(this.exports.memory.buffer);
  }

  private checkIdle(what: string): void {
    if (this.computing && this.hostDepth > 0) {
      throw new LuaError(`${what} called from inside a host function: computes on one VM do not nest (call a Lua function handle instead)`, 'input');
    }
    if (this.computing) {
      throw new LuaError(`${what} called while this VM is running a compute (from a callback such as clock); ` +
        'computes on one VM do not nest', 'input');
    }
    if (this.asyncNow) {
      throw new LuaError(`${what} called while a computeAsync is running on this VM: await it, or use computeAsync (which waits its turn)`, 'input');
    }
  }

  // Async computes one after another: each starts when the one before has ended.
  private enqueue(start: () => number): Promise<ComputeResult> {
    const run = async () => {
      this.check();
      if (this.computing) await Promise.resolve(); // a sync compute under way cannot be awaited; it ends first
      this.checkIdle('computeAsync');
      this.asyncNow = true;
      try {
        let n: number;
        this.computing = true; // as in settle: host functions may call handles back meanwhile
        try {
          n = start();
        } finally {
          this.computing = false;
        }
        while (n === SUSPENDED) n = await this.settle();
        return this.finish(n);
      } finally {
        this.asyncNow = false;
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  // Waits for the Promise the compute waits for and resumes it with the outcome.
  private async settle(): Promise<number> {
    const mem = () => this.memBytes();
    const id = new DataView(this.exports.memory.buffer).getUint32(this.buffer, true);
    const promise = this.promises.get(id);
    this.promises.delete(id);
    let reply: Uint8Array;
    try {
      if (!promise) throw new Error(`the compute waits for an unknown promise ${id}`);
      reply = answerReturned(await promise, this.passOptions);
    } catch (e) {
      this.lastThrown = { error: e, text: e instanceof Error ? e.message : String(e) };
      reply = thrownAnswer(e, this.passOptions);
    }
    if (this.closed) throw new LuaClosedError();
    if (reply.length > BUFFER_SIZE) {
      // Too large for the buffer: the host keeps it, and the module takes it whole (status 5).
      this.channel.keep(reply);
      const kept = new Uint8Array(5);
      kept[0] = STATUS_KEPT;
      new DataView(kept.buffer).setUint32(1, reply.length, true);
      reply = kept;
    }
    mem().set(reply, this.buffer);
    this.computing = true;
    try {
      return this.guard(() => this.exports.resume(this.buffer, reply.length));
    } finally {
      this.computing = false;
    }
  }

  // Encodes a call's arguments into the buffer, or, when they do not fit, keeps them for the
  // module to take; returns their length, and sets argFlags (0, or RUN_KEPT_ARGS).
  private argFlags = 0;
  private placeArgs(args: readonly unknown[]): number {
    const placed = encodePassedInto(args, this.passOptions, this.memBytes(), this.memData, this.buffer, BUFFER_SIZE);
    if (typeof placed === 'number') {
      this.argFlags = 0;
      return placed;
    }
    this.channel.keep(placed);
    this.argFlags = RUN_KEPT_ARGS;
    return placed.length;
  }

  // Starts a chunk: code in the buffer (or served in pieces), arguments after it.
  private start(code: string | Uint8Array, args: unknown[], name: string | undefined, flags: number): number {
    const mem = this.memBytes();
    if (name !== undefined) {
      const text = typeof code === 'string' ? textEncoder.encode(code) : code;
      code = concatBytes([textEncoder.encode(name), new Uint8Array(1), text]);
      flags |= RUN_NAMED;
    }
    let len = typeof code === 'string' ? writeCode(code, mem, this.buffer) : code.length;
    if (typeof code !== 'string' && len <= MAX_CODE_BYTES) mem.set(code, this.buffer);
    // The arguments go straight after the code when they fit there (then argBytes is their length).
    const argBytes = args.length === 0 ? undefined : len > MAX_CODE_BYTES ? encodePassed(args, this.passOptions)
      : encodePassedInto(args, this.passOptions, mem, this.memData, this.buffer + len, BUFFER_SIZE - len);
    if (typeof argBytes === 'number') return this.begin(() => this.exports.run(this.buffer, len, this.buffer + len, argBytes, flags));
    let served = 0;
    if (len > MAX_CODE_BYTES || (argBytes && len + argBytes.length > BUFFER_SIZE)) {
      // Too large for the buffer (beside the arguments): served to the module in pieces.
      const bytes = typeof code !== 'string' ? code : len > MAX_CODE_BYTES ? textEncoder.encode(code) : mem.slice(this.buffer, this.buffer + len);
      served = this.channel.serve(bytes);
      len = 0;
    }
    let argLen = 0;
    let argFlags = 0;
    if (argBytes && argBytes.length > BUFFER_SIZE - len) {
      this.channel.keep(argBytes);
      argLen = argBytes.length;
      argFlags = RUN_KEPT_ARGS;
    } else if (argBytes) {
      mem.set(argBytes, this.buffer + len);
      argLen = argBytes.length;
    }
    if (!served && !argBytes && flags === 0) return this.begin(() => this.exports.compute(this.buffer, len));
    if (served) flags |= RUN_SERVED_CODE;
    flags |= argFlags;
    return this.begin(() => this.exports.run(served || this.buffer, len, this.buffer + len, argLen, flags));
  }

  // The start of a compute or top-level call: transaction and collectors, then the call.
  private begin(enter: () => number): number {
    this.reset();
    return this.guard(enter);
  }

  // A compute's collectors and transaction, made ready.
  private reset(): void {
    if (this.output.length !== 0) this.output = [];
    this.outputSize = 0;
    this.outputCut = 0;
    if (this.resultPieces.length !== 0) this.resultPieces = [];
    this.lastThrown = undefined;
    this.sinkFailure = undefined;
    this.host.begin();
  }

  // Calls into the module; an exception through it ends the compute (and maybe the VM).
  private guard(enter: () => number): number {
    try {
      return enter();
    } catch (e) {
      throw this.lost(e);
    }
  }

  // What an exception through the module does: the compute is rolled back and the VM restarted
  // (out of JavaScript stack) or closed; the error to throw.
  private lost(e: unknown): LuaError {
    this.host.rollback();
    this.channel.endCompute();
    if (e instanceof RangeError && /call stack/i.test(e.message)) {
      // Out of JavaScript stack inside the module: its memory may be mid-change, so the
      // instance is replaced (now if the stack allows, else before the next use).
      this.broken = e;
      try { this.restart(); } catch { /* still too deep: at the next use */ }
      return new LuaError('the JavaScript stack was too deep to run this compute; the VM was restarted: _home and every ' +
        'external table are as before it, other globals start afresh', 'host', '', { cause: e });
    }
    this.closed = true; // an exception through the module leaves it unusable (docs/ABI.md)
    return new LuaError(`lua.wasm failed: ${e instanceof Error ? e.message : String(e)}`, 'host', '', { cause: e });
  }

  // The end of a compute or top-level call: commit or roll back, then the result.
  private finish(n: number): ComputeResult {
    const { host } = this;
    const mem = this.memBytes();
    this.channel.endCompute();
    if (this.promises.size !== 0) this.promises.clear();
    const late = host instanceof TimedTableHost && host.late(); // timeoutMs (vm/timeout.ts)
    if (n < 0 || late) {
      host.rollback();
      throw late ? host.timeoutError(n < 0 ? this.error(mem, n) : undefined) : this.error(mem, n);
    }
    const failed = this.sinkFailure;
    if (failed !== undefined) {
      // Output the host could not take is never silently dropped: the compute fails, rolled back.
      host.rollback();
      this.takeOutput();
      const why = failed.error instanceof Error ? failed.error.message : String(failed.error);
      throw new LuaError(`the host failed to take the output (${failed.stream}): ${why}`, 'host', '', { cause: failed.error });
    }
    host.commit();
    if (this.autosave) this.save().catch((e) => (this.autosaveError ??= e));
    return this.results(mem, n, true);
  }

  private takeOutput(): Uint8Array {
    const parts = this.output;
    this.outputSize = 0;
    if (parts.length === 0) return NO_BYTES;
    this.output = [];
    if (parts.length === 1) return parts[0];
    return concatBytes(parts);
  }

  // The values of a result of n bytes in the buffer (the output before them, when captured).
  private results(mem: Uint8Array, n: number, top: boolean): ComputeResult {
    const collected = top ? this.takeOutput() : NO_BYTES;
    const dropped = top ? this.outputCut : 0;
    if (n === 0 && collected.length === 0) return { values: [], value: undefined, output: '', outputBytes: NO_BYTES, outputDropped: dropped };
    const outLen = n === 0 ? 0 : mem[this.buffer] | (mem[this.buffer + 1] << 8) | (mem[this.buffer + 2] << 16) | (mem[this.buffer + 3] << 24);
    let outputBytes = outLen === 0 ? collected : mem.slice(this.buffer + 4, this.buffer + 4 + outLen);
    if (outLen !== 0 && collected.length !== 0) outputBytes = concatBytes([collected, outputBytes]);
    const output = outputBytes.length === 0 ? '' : decodeText(outputBytes, 0, outputBytes.length);
    let values: LuaValue[] = [];
    const at = this.buffer + 4 + outLen;
    if (n > 4 + outLen) {
      if (n === 5 + outLen && mem[at] === TAG_CHANNEL) {
        const bytes = concatBytes(this.resultPieces);
        this.resultPieces = [];
        values = decodeValues(bytes, 0, bytes.length, this.passDecode);
      } else {
        values = decodeValues(mem, at, this.buffer + n, this.passDecode);
      }
    }
    // Output is only ever cut when output and results together filled the buffer.
    const outputDropped = dropped + (n > BUFFER_SIZE - 64 ? this.exports.get_output_dropped() : 0);
    return { values, value: values[0], output, outputBytes, outputDropped };
  }

  private error(mem: Uint8Array, n: number): LuaError {
    const msgLen = -n - 1;
    const message = decodeText(mem, this.buffer, msgLen);
    let output: Uint8Array = NO_BYTES;
    let traceback = '';
    let value: LuaValue = message;
    const view = new DataView(mem.buffer);
    let at = this.buffer + msgLen;
    const end = this.buffer + BUFFER_SIZE;
    if (at + 4 <= end) {
      const outLen = view.getUint32(at, true);
      if (at + 4 + outLen <= end) output = mem.slice(at + 4, at + 4 + outLen);
      at += 4 + outLen;
      // Additive (the host channel's module): the traceback, then the error object.
      if (at + 4 <= end) {
        const tbLen = view.getUint32(at, true);
        if (at + 4 + tbLen <= end) traceback = decodeText(mem, at + 4, tbLen);
        at += 4 + tbLen;
        if (at + 4 <= end) {
          const valueLen = view.getUint32(at, true);
          if (valueLen > 0 && at + 4 + valueLen <= end) {
            try {
              value = decodeValues(mem, at + 4, at + 4 + valueLen, this.passDecode)[0];
            } catch {
              value = message;
            }
          }
        }
      }
    }
    const collected = this.takeOutput();
    if (collected.length !== 0) output = output.length === 0 ? collected : concatBytes([collected, output]);
    const code = this.exports.get_error_kind() as keyof typeof ERROR_KIND_CODES;
    let kind = (ERROR_KIND_CODES[code] ?? 'runtime') as LuaErrorKind | 'none';
    if (kind === 'none') kind = 'runtime';
    let cause = this.host.error;
    if (cause === undefined && kind === 'quota') cause = this.host.refusal;
    const thrown = this.lastThrown;
    if (cause === undefined && thrown !== undefined && message.endsWith(thrown.text)) cause = thrown.error; // a JS exception, uncaught in Lua
    return new LuaError(message, kind, output, { cause, traceback, value });
  }

  /** The table bound to `_home`. */
  get home(): TableView {
    this.check();
    return this.table(this.exports.get_memory_table_id());
  }

  /**
   * A view of external table `id`: an id this VM gave out (an integer from 1 to 2^32-1 below
   * the table counter). Any other id is a RangeError: it names no table of this VM.
   */
  table(id: number): TableView {
    const why = this.badTableId(id);
    if (why !== undefined) throw new RangeError(`lua.table(${String(id)}): ${why}`);
    return this.view(id);
  }

  // Why `id` is not the id of an external table of this VM (undefined when it is).
  private badTableId(id: unknown): string | undefined {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 0xffffffff) {
      return 'table ids are integers from 1 to 2^32-1';
    }
    const next = this.exports.get_external_table_counter() >>> 0; // 0: every id was given out
    if (next !== 0 && id >= next) return `this VM has not created table ${id} yet (its next table id is ${next})`;
    return undefined;
  }

  /** @internal The view of an id the host itself holds (a reference in a value); cached weakly. */
  view(id: number): TableView {
    const cached = this.views.get(id)?.deref();
    if (cached) return cached;
    const v = new TableView(this, id);
    this.views.set(id, new WeakRef(v));
    this.viewsGone.register(v, id);
    return v;
  }

  /** @internal How many views the cache holds (alive or not yet swept). */
  get cachedViews(): number {
    return this.views.size;
  }

  /** Creates a new, empty external table (as `ext.table()` does in Lua). */
  newTable(): TableView {
    this.check();
    const id = this.exports.get_external_table_counter() >>> 0;
    if (id === 0) throw new TableIdsExhaustedError();
    if (id === 0xffffffff) {
      // The last id: the counter becomes 0, "exhausted" (a lua.wasm that cannot say so keeps
      // the id for ext.table(), which can).
      this.exports.sync_external_table_counter(0);
      if (this.exports.get_external_table_counter() !== 0) throw new TableIdsExhaustedError();
      return this.table(id);
    }
    this.exports.sync_external_table_counter(id + 1);
    return this.table(id);
  }

  stats(): LuaStats {
    this.check();
    const mem = new DataView(this.exports.memory.buffer);
    // The three u32 go into the I/O buffer, which is free between computes.
    this.exports.get_memory_stats(this.buffer);
    const { host } = this;
    return {
      bufferSize: mem.getUint32(this.buffer, true),
      heapUsed: mem.getUint32(this.buffer + 4, true),
      pages: mem.getUint32(this.buffer + 8, true),
      steps: this.exports.get_steps_used(),
      hostBytes: host.hostBytes,
      tables: host.tables.size,
      computeBytes: host.computeBytes,
      limits: {
        hostBytes: host.limits.hostBytes, tables: host.limits.tables, computeBytes: host.limits.computeBytes,
        instructionLimit: this.options.instructionLimit ?? 0,
      },
    };
  }

  /**
   * A full garbage collection in the VM, then in the host: external tables that neither `_home`
   * nor anything alive in the VM can reach are dropped from the host's Maps. Returns how many.
   */
  gc(): number {
    this.check();
    this.exports.run_gc();
    const max = BUFFER_SIZE / 4;
    const n = this.exports.get_live_tables(this.buffer, max);
    if (n > max) return 0; // more live proxies than the buffer lists: keep everything
    const view = new DataView(this.exports.memory.buffer, this.buffer, n * 4);
    const roots = [this.exports.get_memory_table_id()];
    for (let i = 0; i < n; i++) roots.push(view.getUint32(i * 4, true));
    return this.host.collect(roots);
  }

  /** Releases the VM; any later call throws LuaClosedError. The host's tables stay readable. */
  close(): void {
    this.closed = true;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // {====== values (used by table views)

  private readonly decodeOptions = { table: (id: number) => this.view(id) };

  /** @internal */
  decode(bytes: Uint8Array): LuaValue {
    return decodeValue(bytes, this.decodeOptions);
  }

  /**
   * @internal Encodes a JavaScript value; objects, arrays and Maps become new external tables
   * (without recursion: any depth), table views of this VM references. A view of another VM,
   * or anything else marked as a table reference, is a TypeError: its id means nothing here.
   */
  encode(value: unknown): Uint8Array {
    const seen = new Map<object, number>(); // shared references and cycles stay so
    const pending: [object, number][] = [];
    const encodeOne = (v: unknown): Uint8Array => {
      if (typeof v === 'object' && v !== null && (v as { [TABLE_REF]?: unknown })[TABLE_REF] !== undefined) return this.reference(v);
      if (v instanceof LuaFunctionHandle) return this.dumpHandle(v);
      const scalar = encodeScalar(v);
      if (scalar) return scalar;
      const object = v as object;
      let id = seen.get(object);
      if (id === undefined) {
        id = this.newTable().id;
        seen.set(object, id);
        pending.push([object, id]);
      }
      return externalRef(id);
    };
    const root = encodeOne(value);
    while (pending.length !== 0) {
      const [object, id] = pending.pop() as [object, number];
      const put = (k: unknown, v: unknown) => {
        if (v === undefined || v === null) return;
        this.host.write(id, keyOf(hostKey(k)), valueOf(encodeOne(v)));
      };
      if (Array.isArray(object)) object.forEach((v, i) => put(i + 1, v));
      else if (object instanceof Map) for (const [k, v] of object) put(k, v);
      else if (isPlainObject(object)) for (const k of Object.keys(object)) put(k, object[k]);
      else throw new TypeError(`cannot store a ${describeValue(object)} in an external table`);
    }
    return root;
  }

  // Tag 05 for a handle's function, as Lua stores it (only functions whose one upvalue is _ENV).
  private dumpHandle(h: LuaFunctionHandle): Uint8Array {
    const id = this.passOptions.handle(h) as number;
    this.check();
    const n = this.exports.dump_handle(id);
    const mem = this.memBytes();
    if (n < 0) throw new TypeError(`cannot store this Lua function: ${decodeText(mem, this.buffer, -n - 1)}`);
    const bytes = new Uint8Array(n);
    bytes.set(mem.subarray(this.buffer, this.buffer + n));
    return bytes;
  }

  // Tag 07 for a view of this VM; a view of another VM (or a lookalike) is refused.
  private reference(v: object): Uint8Array {
    if (!(v instanceof TableView) || !v.belongsTo(this)) {
      throw new TypeError('cannot store a table view of another Lua VM (or an object posing as one): ' +
        'a view belongs to its VM; copy it with toJS() first');
    }
    const why = this.badTableId(v.id);
    if (why !== undefined) throw new TypeError(`cannot store a view of table ${String(v.id)}: ${why}`);
    return externalRef(v.id);
  }

  /**
   * @internal A plain JavaScript copy of table `id` and every table it reaches (without
   * recursion: any depth). A table met again, as in a cycle, is the same JS object.
   */
  tableToJS(id: number): unknown {
    const made = new Map<number, unknown>();
    const pending: [number, JsKey[], unknown][] = [];
    const copyOf = (tid: number): unknown => {
      const done = made.get(tid);
      if (done !== undefined) return done;
      const keys: JsKey[] = [];
      for (const k of this.host.tables.get(tid)?.keys() ?? []) keys.push(decodeKey(fromLatin1(k)));
      const n = keys.length;
      const isArray = n > 0 && keys.every((k) => typeof k === 'number' && Number.isInteger(k) && k >= 1 && k <= n);
      const isObject = !isArray && keys.every((k) => typeof k === 'string');
      const result: unknown = isArray ? new Array(n) : isObject ? {} : new Map();
      made.set(tid, result);
      pending.push([tid, keys, result]);
      return result;
    };
    const root = copyOf(id);
    while (pending.length !== 0) {
      const [tid, keys, result] = pending.pop() as [number, JsKey[], unknown];
      const map = this.host.tables.get(tid) ?? new HostTable();
      let i = 0;
      for (const bytes of map.values()) {
        const k = keys[i++];
        const decoded = this.decode(bytes);
        const v = decoded instanceof TableView ? copyOf(decoded.id) : decoded;
        if (Array.isArray(result)) result[(k as number) - 1] = v;
        else if (result instanceof Map) result.set(k, v);
        else Object.defineProperty(result, k as string, { value: v, enumerable: true, writable: true, configurable: true });
      }
    }
    return root;
  }

  // }======
}

/**
 * The string-hash seed of a new VM: random, unless `randomSeed` asks for a deterministic VM (then
 * derived from it, so that `pairs` order repeats too).
 */
function hashSeed(seed: number | bigint | undefined): number {
  if (seed === undefined) return globalThis.crypto.getRandomValues(new Uint32Array(1))[0];
  const s = BigInt.asUintN(64, BigInt(seed));
  return Number(BigInt.asUintN(32, (s ^ (s >> 32n)) * 0x9e3779b1n));
}

const NO_BYTES = new Uint8Array(0);

const SET_GLOBAL = 'local k, v = ... _ENV[k] = v';
const SET_GLOBAL_VALUE = 'argument #2';

// Dotted names of nested functions ('api.add') as global.set records them.
function flatFunctions(functions: Record<string, unknown>): Map<string, (...args: never[]) => unknown> {
  const out = new Map<string, (...args: never[]) => unknown>();
  const walk = (v: unknown, path: string, depth: number) => {
    if (typeof v === 'function') out.set(path, v as (...args: never[]) => unknown);
    else if (depth < 8 && typeof v === 'object' && v !== null && isPlainObject(v)) {
      for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], `${path}.${k}`, depth + 1);
    }
  };
  for (const [name, v] of Object.entries(functions)) walk(v, name, 0);
  return out;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

// One value without the count (an error answer).
function encodeOne(v: unknown, options: PassOptions): Uint8Array {
  return encodePassed([v], options).subarray(4);
}

const NO_VALUES: unknown[] = [];
// The answer (status 0, then the values) for what a host function returned, or its promise
// settled with: undefined is no value, multi(...) several.
function answerReturned(v: unknown, options: PassOptions): Uint8Array;
function answerReturned(v: unknown, options: PassOptions, into: Uint8Array, intoView: DataView, at: number, room: number): number | Uint8Array;
function answerReturned(v: unknown, options: PassOptions, into?: Uint8Array, intoView?: DataView, at = 0, room = 0): number | Uint8Array {
  const values = v === undefined ? NO_VALUES : v instanceof Multiple ? v.values : [v];
  return encodePassedInto(values, options, into, intoView, at, room, 'result', STATUS_OK);
}

// What a host function threw, as Lua's error object: a message (errors) or the value itself.
// The answer for a host function that threw: a Lua error that passed out through it (a nested call)
// is raised again as it was; anything else becomes an error with the caller's position.
function thrownAnswer(e: unknown, options: PassOptions): Uint8Array {
  if (e instanceof LuaError && e.value !== undefined) {
    try {
      return answer(STATUS_RAISE, encodeOne(e.value, options));
    } catch { /* the message below */ }
  }
  return answer(STATUS_ERROR, encodeThrown(e, options));
}

function encodeThrown(e: unknown, options: PassOptions): Uint8Array {
  if (e instanceof Error || typeof e !== 'object' || e === null) return encodeOne(e instanceof Error ? e.message : String(e), options);
  try {
    return encodeOne(e, options);
  } catch {
    return encodeOne(String(e), options);
  }
}

// A module's chunk name: errors read 'mylib.lua:2: ...' ('a.b' is 'a/b.lua').
function chunkName(name: string): string {
  return `@${name.replace(/\./g, '/')}.lua`;
}

function moduleSource(name: string, source: unknown): Uint8Array {
  if (typeof source === 'string') return textEncoder.encode(source);
  if (source instanceof Uint8Array) return source;
  throw new TypeError(`module '${name}': the loader gave a ${describeValue(source)}, not a source (a string or bytes)`);
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function allChanges(state: TablesState) {
  const changes = [];
  for (const [id, t] of state.tables) for (const key of t.keys()) changes.push({ id, key, value: t.get(key) });
  return changes;
}

async function pipe(bytes: Uint8Array, transform: GenericTransformStream): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(transform as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const compress = (bytes: Uint8Array) => pipe(bytes, new CompressionStream('gzip'));

const textDecoder = new TextDecoder();

function decodeText(mem: Uint8Array, at: number, len: number): string {
  if (len < 64) {
    let s = '';
    for (let i = 0; i < len; i++) {
      const c = mem[at + i];
      if (c > 0x7f) return textDecoder.decode(mem.subarray(at, at + len));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return textDecoder.decode(mem.subarray(at, at + len));
}

const textEncoder = new TextEncoder();

// Writes code as UTF-8 at `at`; returns its byte length (which may exceed the buffer: then
// nothing meaningful was written and the caller refuses the code).
function writeCode(code: string, mem: Uint8Array, at: number): number {
  if (code.length <= 256) {
    let i = 0;
    for (; i < code.length; i++) {
      const c = code.charCodeAt(i);
      if (c > 0x7f) break;
      mem[at + i] = c;
    }
    if (i === code.length) return i;
  }
  if (!isWellFormed(code)) {
    throw new LuaError('the code has a lone surrogate: it is not valid Unicode (pass the code as bytes instead)', 'input');
  }
  if (code.length * 3 <= MAX_CODE_BYTES) {
    return textEncoder.encodeInto(code, mem.subarray(at, at + MAX_CODE_BYTES)).written;
  }
  const bytes = textEncoder.encode(code);
  if (bytes.length <= MAX_CODE_BYTES) mem.set(bytes, at);
  return bytes.length;
}
