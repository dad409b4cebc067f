// The messages between a LuaWorker and its worker, and how values and errors cross (structured
// clone, with the few values it cannot carry given as markers).
import { LuaFloat, LuaFunction, TABLE_REF } from '../codec/codec.js';
import { LuaClosedError, LuaError, LuaErrorKind } from '../errors.js';
import type { LuaStats } from '../vm/lua.js';
import type { ChangeBatch, TablesState } from '../stores/types.js';

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
}

/** Parent to worker. */
export type ToWorker =
  | { kind: 'create'; init: WorkerInit }
  | { kind: 'call'; id: number; call: Op }
  | { kind: 'store'; id: number; ok: true; value?: TablesState }
  | { kind: 'store'; id: number; ok: false; error: WireError };

/** Worker to parent. */
export type FromWorker =
  | { kind: 'created'; homeId: number }
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: WireError }
  | { kind: 'store'; id: number; op: 'load' }
  | { kind: 'store'; id: number; op: 'save'; batch: ChangeBatch };

export type { LuaStats };

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
