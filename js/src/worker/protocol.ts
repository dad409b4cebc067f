// The messages between a LuaWorker and its worker, and how values and errors cross (structured
// clone, with the few values it cannot carry given as markers).
import type { HostLimits } from '../host/limits.js';
import { LuaFloat, LuaFunction, TABLE_REF } from '../codec/codec.js';
import { LuaClosedError, LuaError, LuaErrorKind } from '../errors.js';
import type { LuaStats } from '../vm/lua.js';
import type { Change, ChangeBatch, Store, TablesState } from '../stores/types.js';

/** What the worker is asked to do: a method of its Lua VM, or of one of its tables. */
export type Op =
  | { op: 'compute'; code: string | Uint8Array; args: unknown[] }
  | { op: 'save' | 'flush' | 'saveImage' | 'exportState' | 'stats' | 'gc' | 'newTable' }
  | { op: 'setInstructionLimit'; limit: number }
  | { op: 'table'; id: number; method: 'get' | 'has' | 'delete'; key: unknown }
  | { op: 'table'; id: number; method: 'set'; key: unknown; value: unknown }
  | { op: 'table'; id: number; method: 'size' | 'keys' | 'entries' | 'toJS' };

/** The options a worker creates its VM with (what of Lua.create's options can cross). */
export interface WorkerInit {
  module: WebAssembly.Module;
  instructionLimit?: number;
  memoryAlias?: boolean;
  clock?: number;
  randomSeed?: number | bigint;
  autosave?: boolean;
  state?: Uint8Array;
  image?: Uint8Array;
  limits?: Partial<HostLimits>;
  outputLimit?: number;
}

/** A worker's store request to its parent (the store lives in the parent's thread). */
export type StoreRequest =
  | { kind: 'store'; id: number; op: 'load' }
  | { kind: 'store'; id: number; op: 'save'; batch: PackedBatch };
/** The parent's answer to a StoreRequest. */
export type StoreAnswer =
  | { kind: 'store'; id: number; ok: true; value?: PackedState }
  | { kind: 'store'; id: number; ok: false; error: WireError };

/** Parent to worker. */
export type ToWorker =
  | { kind: 'create'; init: WorkerInit }
  | { kind: 'call'; id: number; call: Op }
  | StoreAnswer;

/** Worker to parent. */
export type FromWorker =
  | { kind: 'created'; homeId: number }
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: WireError }
  | StoreRequest;

/**
 * The parent's store, seen from a worker (a LuaWorker's or the CLI's): each load and save is a
 * message; the parent owns the store, so closing it here does nothing.
 */
export class MessageStore implements Store {
  private next = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();

  constructor(private readonly post: (message: StoreRequest, transfer?: ArrayBuffer[]) => void) {}

  private ask(message: StoreRequest, transfer?: ArrayBuffer[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.set(message.id, { resolve, reject });
      this.post(message, transfer);
    });
  }

  /** Settles the request a StoreAnswer answers. */
  answer(message: StoreAnswer): void {
    const w = this.waiting.get(message.id);
    this.waiting.delete(message.id);
    if (message.ok) w?.resolve(message.value && unpackState(message.value));
    else w?.reject(errorFromWire(message.error));
  }

  load(): Promise<TablesState | undefined> {
    return this.ask({ kind: 'store', id: this.next++, op: 'load' }) as Promise<TablesState | undefined>;
  }

  async save(batch: ChangeBatch): Promise<void> {
    const packed = packBatch(batch);
    await this.ask({ kind: 'store', id: this.next++, op: 'save', batch: packed }, transferOf(packed));
  }

  async close(): Promise<void> {}
}

export type { LuaStats };

// {====== tables

// Stored entries cross packed: their keys as strings, their values in one buffer (transferred).
// Structured clone of a Map of 100,000 small Uint8Arrays takes about a second; this, milliseconds.

/** Entries (id, key, value or none) packed to cross: `transfer` lists the buffers to move. */
export interface PackedEntries {
  ids: Uint32Array;
  keys: string[];
  /** Where each value ends in `bytes`; 2^32 - 1 for none (a deleted key). */
  ends: Float64Array;
  bytes: Uint8Array;
}

export interface PackedState extends PackedEntries {
  homeId: number;
  nextId: number;
}

export interface PackedBatch extends PackedEntries {
  homeId: number;
  nextId: number;
  replace?: boolean;
}

const NONE = -1;

function pack(count: number, each: (visit: (id: number, key: string, value: Uint8Array | undefined) => void) => void): PackedEntries {
  const ids = new Uint32Array(count);
  const keys: string[] = new Array(count);
  const ends = new Float64Array(count);
  let size = 0;
  each((_id, _key, value) => (size += value?.length ?? 0));
  const bytes = new Uint8Array(size);
  let i = 0;
  let at = 0;
  each((id, key, value) => {
    ids[i] = id;
    keys[i] = key;
    if (value === undefined) {
      ends[i] = NONE;
    } else {
      bytes.set(value, at);
      at += value.length;
      ends[i] = at;
    }
    i++;
  });
  return { ids, keys, ends, bytes };
}

function unpack(p: PackedEntries, visit: (id: number, key: string, value: Uint8Array | undefined) => void): void {
  let start = 0;
  for (let i = 0; i < p.ids.length; i++) {
    const end = p.ends[i];
    if (end === NONE) {
      visit(p.ids[i], p.keys[i], undefined);
    } else {
      visit(p.ids[i], p.keys[i], p.bytes.slice(start, end)); // a copy: a view would keep the whole buffer alive
      start = end;
    }
  }
}

/** The buffers of packed entries, to transfer rather than copy. */
export function transferOf(p: PackedEntries): ArrayBuffer[] {
  return [p.ids.buffer, p.ends.buffer, p.bytes.buffer] as ArrayBuffer[];
}

export function packState(state: TablesState): PackedState {
  let count = 0;
  for (const t of state.tables.values()) count += t.size;
  const entries = pack(count, (visit) => {
    for (const [id, t] of state.tables) for (const [key, value] of t) visit(id, key, value);
  });
  return { homeId: state.homeId, nextId: state.nextId, ...entries };
}

export function unpackState(p: PackedState): TablesState {
  const tables: TablesState['tables'] = new Map();
  unpack(p, (id, key, value) => {
    let t = tables.get(id);
    if (!t) tables.set(id, (t = new Map()));
    t.set(key, value as Uint8Array);
  });
  return { homeId: p.homeId, nextId: p.nextId, tables };
}

export function packBatch(batch: ChangeBatch): PackedBatch {
  const entries = pack(batch.changes.length, (visit) => {
    for (const c of batch.changes) visit(c.id, c.key, c.value);
  });
  return { homeId: batch.homeId, nextId: batch.nextId, replace: batch.replace, ...entries };
}

export function unpackBatch(p: PackedBatch): ChangeBatch {
  const changes: Change[] = [];
  unpack(p, (id, key, value) => changes.push({ id, key, value }));
  const batch: ChangeBatch = { homeId: p.homeId, nextId: p.nextId, changes };
  if (p.replace) batch.replace = true;
  return batch;
}

// }======

// {====== errors

/** An error as it crosses: its class by name, its message, and what a LuaError carries. */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  kind?: LuaErrorKind;
  outputBytes?: Uint8Array;
  code?: unknown;
}

export function errorToWire(e: unknown): WireError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
  const wire: WireError = { name: e.name, message: e.message, stack: e.stack };
  if (e instanceof LuaError) {
    wire.kind = e.kind;
    wire.outputBytes = e.outputBytes;
  }
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') wire.code = code;
  return wire;
}

/**
 * The error again: a LuaError, TypeError, RangeError or LuaClosedError as itself; any other
 * error as an Error with the same name, message and code.
 */
export function errorFromWire(w: WireError): Error {
  let e: Error;
  if (w.name === 'LuaError' && w.kind !== undefined) e = new LuaError(w.message, w.kind, w.outputBytes ?? '');
  else if (w.name === 'LuaClosedError') e = new LuaClosedError();
  else if (w.name === 'TypeError') e = new TypeError(w.message);
  else if (w.name === 'RangeError') e = new RangeError(w.message);
  else {
    e = new Error(w.message);
    e.name = w.name;
  }
  if (w.code !== undefined) (e as { code?: unknown }).code = w.code;
  if (w.stack) e.stack = `${e.name}: ${e.message}\n    in the Lua worker:\n${w.stack.split('\n').slice(1).join('\n')}`;
  return e;
}

// }======

// {====== values

// What structured clone cannot carry crosses as a Set holding a tag and its data: no Lua value
// decodes to a Set, and a Set given to a table or a compute is refused before it is sent.
const TABLE = 'lua-home:table';
const FUNCTION = 'lua-home:function';
const FLOAT = 'lua-home:float';

/**
 * A value made ready to cross: `special` maps a value the clone cannot carry (a table view, a
 * LuaFunction, a LuaFloat) to its marker, or returns undefined for any other value. Arrays,
 * plain objects and Maps are copied (shared references and cycles kept); everything else is
 * left to structured clone.
 */
export function toWire(value: unknown, special: (v: object) => Set<unknown> | undefined): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const done = new Map<object, unknown>();
  const visit = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array) return v;
    const seen = done.get(v);
    if (seen !== undefined) return seen;
    const marker = special(v);
    if (marker !== undefined) return marker;
    if (Array.isArray(v)) {
      const out: unknown[] = new Array(v.length);
      done.set(v, out);
      for (let i = 0; i < v.length; i++) out[i] = visit(v[i]);
      return out;
    }
    if (v instanceof Map) {
      const out = new Map();
      done.set(v, out);
      for (const [k, x] of v) out.set(visit(k), visit(x));
      return out;
    }
    if (v instanceof Set) throw new TypeError('cannot send a Set to a Lua worker (a Lua value is never a Set)');
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return v; // left to structured clone (or refused by it)
    const out: Record<string, unknown> = {};
    done.set(v, out);
    for (const k of Object.keys(v)) out[k] = visit((v as Record<string, unknown>)[k]);
    return out;
  };
  return visit(value);
}

/** The markers of values that structured clone cannot carry as themselves. */
export const markers = {
  table: (id: number) => new Set<unknown>([TABLE, id]),
  function: (f: LuaFunction) => new Set<unknown>([FUNCTION, f.bytes]),
  float: (f: LuaFloat) => new Set<unknown>([FLOAT, f.value]),
};

/** Markers and values of the codec's own classes (what both sides treat alike). */
export function codecSpecial(v: object): Set<unknown> | undefined {
  if (v instanceof LuaFunction) return markers.function(v);
  if (v instanceof LuaFloat) return markers.float(v);
  return undefined;
}

/** Whether `v` is an object marked as a table reference (a TableView, or a LuaWorker's view). */
export function isTableRef(v: object): v is { id: number } {
  return (v as { [TABLE_REF]?: unknown })[TABLE_REF] !== undefined;
}

/**
 * A value that crossed, with its markers turned back into values: `table` makes the value of
 * a table marker (a view on this side).
 */
export function fromWire(value: unknown, table: (id: number) => unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  // What crossed may belong to another realm (Jest's test context): types are told by their tags.
  const done = new Map<object, unknown>();
  const visit = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) return v;
    const tag = Object.prototype.toString.call(v);
    if (tag === '[object Set]') {
      const [kind, data] = v as Set<unknown>;
      if (kind === TABLE) return table(data as number);
      if (kind === FUNCTION) return new LuaFunction(data as Uint8Array);
      if (kind === FLOAT) return new LuaFloat(data as number);
      throw new TypeError('a Set crossed to a Lua worker: it is not a Lua value');
    }
    const seen = done.get(v);
    if (seen !== undefined) return seen;
    // Filled in place: what crossed is a fresh copy nobody else holds.
    done.set(v, v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = visit(v[i]);
    } else if (tag === '[object Map]') {
      const map = v as Map<unknown, unknown>;
      const entries = [...map];
      map.clear();
      for (const [k, x] of entries) map.set(visit(k), visit(x));
    } else if (tag === '[object Object]') {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) o[k] = visit(o[k]);
    }
    return v;
  };
  return visit(value);
}

// }======
