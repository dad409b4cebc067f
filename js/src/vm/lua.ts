// The friendly VM: `Lua.create`, `compute`, typed results, and JavaScript access to _home.
import { BUFFER_SIZE, ERROR_KIND_CODES, LuaWasmExports, luaWasmExports, MAX_CODE_BYTES } from '../abi/abi.js';
import {
  decodeKey, decodeValue, decodeValues, encodeScalar, externalRef, fromLatin1, hostKey, isPlainObject, isWellFormed,
  LuaValue, TABLE_REF,
} from '../codec/codec.js';
import { LuaClosedError, LuaError, LuaErrorKind } from '../errors.js';
import { loadModule, WasmSource } from './loader.js';
import { hostFor, TimedTableHost } from './timeout.js';
import { HostTable, TableHost } from '../host/tables.js';
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
}

function describeValue(v: unknown): string {
  return v === null ? 'null' : typeof v === 'object' ? ((v as object).constructor?.name ?? 'object') : typeof v;
}

// The compiled module of each VM's host, to replace a broken instance synchronously.
const modules = new WeakMap<TableHost, WebAssembly.Module>();

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
  private lastClock = -1;
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
    this.host = host;
    this.buffer = exports.get_buffer_ptr();
    const c = options.clock;
    this.clock = typeof c === 'number' ? () => c : c;
    this.fixedClock = c !== undefined;
    this.store = options.store ?? new MemoryStore();
    this.autosave = options.autosave ?? false;
  }

  private static async instantiate(options: LuaOptions): Promise<{ exports: LuaWasmExports; host: TableHost }> {
    const module = await loadModule(options.wasm);
    const host = hostFor(options); // a TimedTableHost under timeoutMs
    modules.set(host, module);
    const instance = await WebAssembly.instantiate(module, { env: host.imports() as unknown as WebAssembly.ModuleImports });
    const exports = luaWasmExports(instance);
    host.attach(exports.memory);
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
    const memory = new Uint8Array(this.exports.memory.buffer);
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
    const instance = new WebAssembly.Instance(module, { env: this.host.imports() as unknown as WebAssembly.ModuleImports });
    const exports = luaWasmExports(instance);
    exports.set_memory_alias_enabled(this.options.memoryAlias === false ? 0 : 1);
    exports.set_hash_seed(hashSeed(this.options.randomSeed));
    if (exports.init() !== 0) throw new LuaError('lua.wasm could not create its VM', 'memory');
    exports.attach_memory_table(homeId);
    exports.sync_external_table_counter(nextId);
    exports.set_instruction_limit(this.instructionLimit);
    this.host.attach(exports.memory);
    this.host.forgetCursors();
    this.exports = exports;
    this.buffer = exports.get_buffer_ptr();
    this.lastClock = -1;
    this.broken = undefined;
    this.seed(this.options.randomSeed);
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

  private feedClock(): void {
    if (this.fixedClock) {
      const t = (this.clock as () => number)();
      this.exports.set_clock(t, 0);
      return;
    }
    const now = Date.now(); // one clock read per compute: os.clock has millisecond steps
    if (now === this.lastClock) return; // the VM has this time already
    this.lastClock = now;
    this.exports.set_clock(now / 1000, (now - this.started) / 1000);
  }

  /**
   * Runs a chunk of Lua. Returns its results and output; throws LuaError when it fails, and
   * then every external table is exactly as it was before the call.
   */
  compute(code: string | Uint8Array): ComputeResult {
    this.check();
    if (this.computing) {
      throw new LuaError('compute called while this VM is running a compute (from a callback such as clock); ' +
        'computes on one VM do not nest', 'input');
    }
    this.computing = true;
    try {
      return this.run(code);
    } finally {
      this.computing = false;
    }
  }

  private run(code: string | Uint8Array): ComputeResult {
    const { exports, host } = this;
    const mem = new Uint8Array(exports.memory.buffer);
    let len: number;
    if (typeof code === 'string') {
      len = writeCode(code, mem, this.buffer);
    } else {
      if (code.length > MAX_CODE_BYTES) len = code.length;
      else mem.set(code, this.buffer);
      len = code.length;
    }
    if (len > MAX_CODE_BYTES) {
      throw new LuaError(`code too long (${len} bytes; at most ${MAX_CODE_BYTES})`, 'input');
    }
    this.feedClock();
    host.begin();
    let n: number;
    try {
      n = exports.compute(this.buffer, len);
    } catch (e) {
      host.rollback();
      if (e instanceof RangeError && /call stack/i.test(e.message)) {
        // Out of JavaScript stack inside the module: its memory may be mid-change, so the
        // instance is replaced (now if the stack allows, else before the next use).
        this.broken = e;
        try { this.restart(); } catch { /* still too deep: at the next use */ }
        throw new LuaError('the JavaScript stack was too deep to run this compute; the VM was restarted: _home and every ' +
          'external table are as before it, other globals start afresh', 'host', '', { cause: e });
      }
      this.closed = true; // an exception through the module leaves it unusable (docs/ABI.md)
      throw new LuaError(`lua.wasm failed: ${e instanceof Error ? e.message : String(e)}`, 'host', '', { cause: e });
    }
    const late = host instanceof TimedTableHost && host.late(); // timeoutMs (vm/timeout.ts)
    if (n < 0 || late) {
      host.rollback();
      throw late ? host.timeoutError(n < 0 ? this.error(mem, n) : undefined) : this.error(mem, n);
    }
    host.commit();
    if (this.autosave) this.save().catch((e) => (this.autosaveError ??= e));
    if (n === 0) return { values: [], value: undefined, output: '', outputBytes: NO_BYTES, outputDropped: 0 };
    const outLen = mem[this.buffer] | (mem[this.buffer + 1] << 8) | (mem[this.buffer + 2] << 16) | (mem[this.buffer + 3] << 24);
    const output = outLen === 0 ? '' : decodeText(mem, this.buffer + 4, outLen);
    const outputBytes = outLen === 0 ? NO_BYTES : mem.slice(this.buffer + 4, this.buffer + 4 + outLen);
    const values = n > 4 + outLen ? decodeValues(mem, this.buffer + 4 + outLen, this.buffer + n, this.decodeOptions) : [];
    // Output is only ever cut when output and results together filled the buffer.
    const outputDropped = n > BUFFER_SIZE - 64 ? exports.get_output_dropped() : 0;
    return { values, value: values[0], output, outputBytes, outputDropped };
  }

  private error(mem: Uint8Array, n: number): LuaError {
    const msgLen = -n - 1;
    const message = decodeText(mem, this.buffer, msgLen);
    let output = NO_BYTES;
    if (msgLen + 4 <= BUFFER_SIZE) {
      const outLen = new DataView(mem.buffer).getUint32(this.buffer + msgLen, true);
      if (msgLen + 4 + outLen <= BUFFER_SIZE) output = mem.slice(this.buffer + msgLen + 4, this.buffer + msgLen + 4 + outLen);
    }
    const code = this.exports.get_error_kind() as keyof typeof ERROR_KIND_CODES;
    let kind = (ERROR_KIND_CODES[code] ?? 'runtime') as LuaErrorKind | 'none';
    if (kind === 'none') kind = 'runtime';
    const cause = this.host.error;
    return new LuaError(message, kind, output, cause === undefined ? undefined : { cause });
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
    return {
      bufferSize: mem.getUint32(this.buffer, true),
      heapUsed: mem.getUint32(this.buffer + 4, true),
      pages: mem.getUint32(this.buffer + 8, true),
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
