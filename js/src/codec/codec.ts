// The value codec of lua.wasm (docs/ABI.md) and the mapping between Lua and JavaScript values.
import { LuaDecodeError } from '../errors.js';

export const TAG_NIL = 0x00;
export const TAG_BOOLEAN = 0x01;
export const TAG_INTEGER = 0x02;
export const TAG_FLOAT = 0x03;
export const TAG_STRING = 0x04;
export const TAG_FUNCTION = 0x05;
export const TAG_EXTERNAL = 0x07;
export const TAG_TABLE = 0x08;
/** Results continue in the host channel (too large for the I/O buffer). */
export const TAG_CHANNEL = 0x09;
/** A Lua function held for the host: u32 handle (host channel only). */
export const TAG_HANDLE = 0x0a;
/** A host function: u32 id (host channel only). */
export const TAG_HOST_FUNCTION = 0x0b;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

/** A Lua float, for JavaScript values that must reach Lua as floats (`3.0`, not `3`). */
export class LuaFloat {
  constructor(readonly value: number) {}
  valueOf(): number {
    return this.value;
  }
}

/** A persisted Lua function: its bytecode payload as the codec carries it (tag 05). */
export class LuaFunction {
  constructor(readonly bytes: Uint8Array) {}
}

/** A Lua function held as a handle (vm/interop.ts: LuaFunctionHandle). */
export interface LuaFunctionRef {
  call(...args: unknown[]): unknown;
  callAsync(...args: unknown[]): Promise<unknown>;
  release(): void;
}

/** A reference to an external table, as decoded; the VM turns it into a table view. */
export interface TableRef {
  readonly id: number;
}

/** What a Lua value becomes in JavaScript (see README, "Values between Lua and JavaScript"). */
export type LuaValue =
  | undefined
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | LuaFunction
  | LuaFunctionRef
  | ((...args: never[]) => unknown)
  | LuaFloat
  | LuaValue[]
  | { [key: string]: LuaValue }
  | Map<LuaValue, LuaValue>
  | TableRef;

// {====== strings

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** Bytes to a string when they are valid UTF-8, else the bytes themselves (never corrupted). */
export function bytesToLua(bytes: Uint8Array): string | Uint8Array {
  if (bytes.length < 64) {
    let ascii = true;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] > 0x7f) ascii = false;
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes.slice();
  }
}

/** A string as UTF-8 bytes (fast for short ASCII). */
export function utf8Bytes(s: string): Uint8Array {
  if (s.length < 64) {
    const out = new Uint8Array(s.length);
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      out[i] = c;
    }
    if (i === s.length) return out;
  }
  if (!isWellFormed(s)) {
    // TextEncoder would silently turn a lone surrogate into U+FFFD: refuse instead.
    const at = [...s].findIndex((c) => c.length === 1 && c.charCodeAt(0) >= 0xd800 && c.charCodeAt(0) <= 0xdfff);
    throw new TypeError(`the string has a lone surrogate (at code point ${at}): it is not valid Unicode; pass a Uint8Array for raw bytes`);
  }
  return encoder.encode(s);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const nativeWellFormed = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed;
export const isWellFormed = (s: string): boolean => (nativeWellFormed ? nativeWellFormed.call(s) : !LONE_SURROGATE.test(s));

/** Bytes as a latin1 string: one char per byte, the 1:1 form of keys in the host's Maps. */
export function latin1(bytes: Uint8Array): string {
  if (bytes.length < 4096) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let s = '';
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096) as unknown as number[]);
  }
  return s;
}

/** The bytes of a latin1 string. */
export function fromLatin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// }======

// {====== decoding

export interface DecodeOptions {
  /** Makes table references into views (the VM passes its own). */
  table?: (id: number) => LuaValue;
  /** Makes a handle (tag 0A) into a callable Lua function (the VM passes its own). */
  handle?: (id: number) => LuaValue;
  /** The host function behind an id (tag 0B). */
  hostFunction?: (id: number) => LuaValue;
}

/** Decodes values from `bytes[start, end)` (results of a compute). */
export function decodeValues(bytes: Uint8Array, start: number, end: number, options: DecodeOptions = {}): LuaValue[] {
  if (end - start === 9 && bytes[start] === TAG_INTEGER) return [integerAt(bytes, start + 1)]; // the usual
  const reader = new Reader(bytes, start, end, options);
  const values: LuaValue[] = [];
  while (reader.at < end) values.push(reader.value(0));
  return values;
}

function integerAt(b: Uint8Array, at: number): number | bigint {
  const lo = (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
  const hi = b[at + 4] | (b[at + 5] << 8) | (b[at + 6] << 16) | (b[at + 7] << 24); // signed
  if ((hi === 0 && lo >= 0) || (hi === -1 && lo !== 0)) return hi * 4294967296 + lo; // |n| < 2^32
  const n = (BigInt(hi) << 32n) | BigInt(lo);
  return n >= -MAX_SAFE && n <= MAX_SAFE ? Number(n) : n;
}

/** Decodes exactly one value that fills all of `bytes` (an external table's value). */
export function decodeValue(bytes: Uint8Array, options: DecodeOptions = {}): LuaValue {
  const reader = new Reader(bytes, 0, bytes.length, options);
  const value = reader.value(0);
  if (reader.at !== bytes.length) throw new LuaDecodeError(`value has ${bytes.length - reader.at} trailing bytes`);
  return value;
}

const MAX_DEPTH = 1000;

// A float64 read through one shared scratch (no DataView per value).
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

class Reader {
  at: number;

  constructor(private bytes: Uint8Array, start: number, private end: number, private options: DecodeOptions) {
    this.at = start;
    if (start < 0 || end > bytes.length || start > end) throw new LuaDecodeError('range outside the bytes');
  }

  private need(n: number): void {
    if (this.end - this.at < n) throw new LuaDecodeError(`value truncated at byte ${this.at}`);
  }

  private u32(): number {
    this.need(4);
    const b = this.bytes;
    const at = this.at;
    this.at = at + 4;
    return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
  }

  value(depth: number): LuaValue {
    if (depth > MAX_DEPTH) throw new LuaDecodeError('tables nested too deeply');
    this.need(1);
    const tag = this.bytes[this.at++];
    switch (tag) {
      case TAG_NIL:
        return undefined;
      case TAG_BOOLEAN: {
        this.need(1);
        const b = this.bytes[this.at++];
        if (b > 1) throw new LuaDecodeError(`bad boolean byte ${b}`);
        return b === 1;
      }
      case TAG_INTEGER: {
        this.need(8);
        const n = integerAt(this.bytes, this.at);
        this.at += 8;
        return n;
      }
      case TAG_FLOAT: {
        this.need(8);
        for (let i = 0; i < 8; i++) f64Bytes[i] = this.bytes[this.at + i];
        this.at += 8;
        return f64[0];
      }
      case TAG_STRING: {
        const n = this.u32();
        this.need(n);
        const s = bytesToLua(this.bytes.subarray(this.at, this.at + n));
        this.at += n;
        return s;
      }
      case TAG_FUNCTION: {
        const n = this.u32();
        this.need(n);
        const f = new LuaFunction(this.bytes.slice(this.at, this.at + n));
        this.at += n;
        return f;
      }
      case TAG_EXTERNAL: {
        const id = this.u32();
        if (id === 0) throw new LuaDecodeError('table reference to id 0');
        return this.options.table ? this.options.table(id) : { id };
      }
      case TAG_TABLE:
        return this.table(depth);
      case TAG_HANDLE:
      case TAG_HOST_FUNCTION: {
        const id = this.u32();
        const make = tag === TAG_HANDLE ? this.options.handle : this.options.hostFunction;
        if (!make) throw new LuaDecodeError(`tag ${tag} outside the host channel`);
        return make(id);
      }
      default:
        throw new LuaDecodeError(`unknown tag ${tag} at byte ${this.at - 1}`);
    }
  }

  // Arrays for keys 1..n (n >= 1), objects for string keys (and {}), Maps otherwise.
  private table(depth: number): LuaValue {
    const count = this.u32();
    const keys: LuaValue[] = [];
    const values: LuaValue[] = [];
    for (let i = 0; i < count; i++) {
      keys.push(this.value(depth + 1));
      values.push(this.value(depth + 1));
    }
    if (count > 0 && keys.every((k) => typeof k === 'number' && Number.isInteger(k) && k >= 1 && k <= count)) {
      const array: LuaValue[] = new Array(count);
      const seen = new Set<number>();
      keys.forEach((k, i) => {
        array[(k as number) - 1] = values[i];
        seen.add(k as number);
      });
      if (seen.size === count) return array;
    }
    if (keys.every((k) => typeof k === 'string')) {
      const object: { [key: string]: LuaValue } = {};
      keys.forEach((k, i) => {
        Object.defineProperty(object, k as string, { value: values[i], enumerable: true, writable: true, configurable: true });
      });
      return object;
    }
    return new Map(keys.map((k, i) => [k, values[i]]));
  }
}

// }======

// {====== encoding

/** Encodes a key as the module does: tag byte, then the key as text; null for keys Lua refuses. */
export function encodeKey(key: unknown): Uint8Array {
  if (typeof key === 'string') {
    const b = utf8Bytes(key);
    const out = new Uint8Array(b.length + 1);
    out[0] = TAG_STRING;
    out.set(b, 1);
    return out;
  }
  if (key instanceof Uint8Array) {
    const out = new Uint8Array(key.length + 1);
    out[0] = TAG_STRING;
    out.set(key, 1);
    return out;
  }
  if (typeof key === 'boolean') return Uint8Array.of(TAG_BOOLEAN, key ? 0x31 : 0x30);
  if (typeof key === 'bigint') {
    if (key < I64_MIN || key > I64_MAX) throw new RangeError(`key ${key} does not fit a Lua integer`);
    return textKey(TAG_INTEGER, key.toString());
  }
  const n = key instanceof LuaFloat ? key.value : key;
  if (typeof n === 'number') {
    if (Number.isNaN(n)) throw new TypeError('table index is NaN');
    if (Number.isInteger(n) && n >= -(2 ** 63) && n < 2 ** 63) return textKey(TAG_INTEGER, BigInt(n).toString());
    return textKey(TAG_FLOAT, shortestFloat(n));
  }
  if (key === undefined || key === null) throw new TypeError('table index is nil');
  throw new TypeError(`cannot use a ${describe(key)} as a key of an external table (keys are strings, numbers or booleans)`);
}

/** The key bytes as the host's Map keys them (latin1). */
export function hostKey(key: unknown): string {
  return latin1(encodeKey(key));
}

/** Decodes key bytes (as the module writes them) back into a JavaScript key. */
export function decodeKey(bytes: Uint8Array): string | number | bigint | boolean | Uint8Array {
  if (bytes.length === 0) throw new LuaDecodeError('empty key');
  const text = latin1(bytes.subarray(1));
  switch (bytes[0]) {
    case TAG_STRING:
      return bytesToLua(bytes.subarray(1));
    case TAG_BOOLEAN:
      if (text === '0' || text === '1') return text === '1';
      break;
    case TAG_INTEGER:
      if (/^-?\d{1,19}$/.test(text)) {
        const n = BigInt(text);
        if (n >= I64_MIN && n <= I64_MAX) return n >= -MAX_SAFE && n <= MAX_SAFE ? Number(n) : n;
      }
      break;
    case TAG_FLOAT: {
      const d = text === 'inf' ? Infinity : text === '-inf' ? -Infinity : Number(text);
      if (!Number.isNaN(d) && text.length > 0) return d;
      break;
    }
  }
  throw new LuaDecodeError(`malformed key (tag ${bytes[0]})`);
}

function textKey(tag: number, text: string): Uint8Array {
  const out = new Uint8Array(text.length + 1);
  out[0] = tag;
  for (let i = 0; i < text.length; i++) out[i + 1] = text.charCodeAt(i);
  return out;
}

/**
 * The key text of a float, as the module writes it (docs/ABI.md, "Keys"): the shortest decimal
 * that reads back to the same double, the nearest of them (the digits String() picks), laid out
 * as C's "%.Pg" lays out P significant digits: `0.1`, `1125899906842624.2`, `1e+21`, `1e-07`.
 */
export function shortestFloat(d: number): string {
  if (d === Infinity) return 'inf';
  if (d === -Infinity) return '-inf';
  if (d === 0) return Object.is(d, -0) ? '-0' : '0'; // never a key: 0.0 and -0.0 are the integer key 0
  const [mantissa, exponent = '0'] = String(Math.abs(d)).split('e');
  const dot = mantissa.indexOf('.');
  let digits = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  let x = (dot < 0 ? mantissa.length : dot) + Number(exponent) - 1; // the decimal exponent of the first digit
  const lead = digits.length - digits.replace(/^0+/, '').length;
  digits = digits.slice(lead).replace(/0+$/, '');
  x -= lead;
  const p = digits.length;
  const sign = d < 0 ? '-' : '';
  if (x < -4 || x >= p) {
    const e = `e${x < 0 ? '-' : '+'}${String(Math.abs(x)).padStart(2, '0')}`;
    return sign + digits[0] + (p > 1 ? '.' + digits.slice(1) : '') + e;
  }
  if (x >= 0) return sign + digits.slice(0, x + 1) + (p > x + 1 ? '.' + digits.slice(x + 1) : '');
  return sign + '0.' + '0'.repeat(-x - 1) + digits;
}

/** Encodes a scalar value, a function or a table reference; null when the value is a table to copy. */
export function encodeScalar(value: unknown): Uint8Array | null {
  if (value === undefined || value === null) return Uint8Array.of(TAG_NIL);
  if (typeof value === 'boolean') return Uint8Array.of(TAG_BOOLEAN, value ? 1 : 0);
  if (typeof value === 'number') {
    const out = new Uint8Array(9);
    const view = new DataView(out.buffer);
    if (Number.isSafeInteger(value) && !Object.is(value, -0)) {
      out[0] = TAG_INTEGER;
      view.setBigInt64(1, BigInt(value), true);
    } else {
      out[0] = TAG_FLOAT;
      view.setFloat64(1, value, true);
    }
    return out;
  }
  if (value instanceof LuaFloat) {
    const out = new Uint8Array(9);
    out[0] = TAG_FLOAT;
    new DataView(out.buffer).setFloat64(1, value.value, true);
    return out;
  }
  if (typeof value === 'bigint') {
    if (value < I64_MIN || value > I64_MAX) throw new RangeError(`${value} does not fit a Lua integer (64 bits)`);
    const out = new Uint8Array(9);
    out[0] = TAG_INTEGER;
    new DataView(out.buffer).setBigInt64(1, value, true);
    return out;
  }
  if (typeof value === 'string' || value instanceof Uint8Array) {
    const bytes = typeof value === 'string' ? utf8Bytes(value) : value;
    const out = new Uint8Array(bytes.length + 5);
    out[0] = TAG_STRING;
    new DataView(out.buffer).setUint32(1, bytes.length, true);
    out.set(bytes, 5);
    return out;
  }
  if (value instanceof LuaFunction) {
    const out = new Uint8Array(value.bytes.length + 5);
    out[0] = TAG_FUNCTION;
    new DataView(out.buffer).setUint32(1, value.bytes.length, true);
    out.set(value.bytes, 5);
    return out;
  }
  if (isTableRef(value)) return externalRef(value.id);
  if (Array.isArray(value) || value instanceof Map || isPlainObject(value)) return null;
  throw new TypeError(`cannot store a ${describe(value)} in an external table`);
}

/** Tag 07: a reference to external table `id`. */
export function externalRef(id: number): Uint8Array {
  const out = new Uint8Array(5);
  out[0] = TAG_EXTERNAL;
  new DataView(out.buffer).setUint32(1, id, true);
  return out;
}

/** The table id a value refers to (tag 07), or 0. */
export function referencedTable(value: Uint8Array): number {
  if (value.length !== 5 || value[0] !== TAG_EXTERNAL) return 0;
  return new DataView(value.buffer, value.byteOffset, 5).getUint32(1, true);
}

export function isTableRef(value: unknown): value is TableRef {
  return typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'number' &&
    (value as { [TABLE_REF]?: boolean })[TABLE_REF] === true;
}

/** Marks table views so that the codec stores them as references. */
export const TABLE_REF: unique symbol = Symbol.for('lua-home.tableRef');

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// {====== values passed into Lua (arguments, globals, host functions' results)

/** How a VM passes what only it can name: its functions, handles and table views. */
export interface PassOptions {
  /** The id a JavaScript function gets in this VM (tag 0B). */
  hostFunction(fn: (...args: never[]) => unknown, path: string): number;
  /** The handle of a Lua function of this VM (tag 0A), or undefined when `value` is none. */
  handle(value: object): number | undefined;
  /** The id of a table view of this VM (tag 07); throws for another VM's view. */
  tableRef(value: TableRef): number;
}

/** The deepest nesting of tables passed in (the module's own limit, kMaxNesting). */
export const MAX_PASSED_DEPTH = 200;

/**
 * Encodes values passed into Lua: u32 count, then each value. Arrays, Maps and plain objects
 * become plain Lua tables (tag 08); table views stay references; functions cross by reference.
 * `what` names the values in errors ("argument", "value").
 */
export function encodePassed(values: readonly unknown[], options: PassOptions, what = 'argument', status = -1): Uint8Array {
  return encodePassedInto(values, options, undefined, undefined, 0, 0, what, status) as Uint8Array;
}

/**
 * Encodes as encodePassed does, straight into `into` at `at` when the bytes fit in `room`: then
 * their length; else (or with no `into`) a copy of them. A call's arguments and a host function's
 * answer go into the module's memory this way, with no allocation. `into` and `intoView` both
 * view all of one buffer from its first byte (the caller keeps them: one pair per memory).
 */
export function encodePassedInto(values: readonly unknown[], options: PassOptions, into: Uint8Array | undefined,
  intoView: DataView | undefined, at: number, room: number, what = 'argument', status = -1): number | Uint8Array {
  // One writer serves every call (a host function's answer is encoded thousands of times a
  // second); a nested use (a getter that computes) gets its own.
  const w = shared.busy ? new PassWriter() : shared;
  w.begin(options, into, intoView, at, room);
  try {
    if (status >= 0) w.byte(status);
    w.u32(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!w.scalar(v)) w.value(v, 0, () => `${what} #${i + 1}`, undefined);
    }
    return w.inPlace ? w.length : w.bytes();
  } finally {
    w.busy = false;
  }
}

type Path = string | (() => string);
const pathText = (p: Path): string => (typeof p === 'string' ? p : p());

class PassWriter {
  // The writer's own buffer, grown as needed and kept between uses.
  private own = new Uint8Array(256);
  private ownView = new DataView(this.own.buffer);
  // Where the bytes go: the own buffer, or the target given to begin, from `start` up to `limit`.
  private buf: Uint8Array = this.own;
  private view: DataView = this.ownView;
  private start = 0;
  private limit = 0;
  private at = 0;
  /** The bytes are in the target given to begin (they fitted). */
  inPlace = false;
  busy = false;
  private options: PassOptions = undefined as unknown as PassOptions;

  /** Starts writing: into `into` at `at` (at most `room` bytes), else into the writer's own buffer. */
  begin(options: PassOptions, into?: Uint8Array, intoView?: DataView, at = 0, room = 0): void {
    this.busy = true;
    this.options = options;
    if (into && intoView) this.target(into, intoView, at, at, at + room, true);
    else this.target(this.own, this.ownView, 0, 0, this.own.length, false);
  }

  private target(buf: Uint8Array, view: DataView, start: number, at: number, limit: number, inPlace: boolean): void {
    this.buf = buf;
    this.view = view;
    this.start = start;
    this.at = at;
    this.limit = limit;
    this.inPlace = inPlace;
  }

  /** A copy of what was written (the writer is used again). */
  bytes(): Uint8Array {
    return this.buf.slice(this.start, this.at);
  }

  /** How many bytes were written. */
  get length(): number {
    return this.at - this.start;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.at++] = b;
  }

  private room(n: number): void {
    if (this.at + n <= this.limit) return;
    const used = this.at - this.start;
    let size = this.own.length;
    while (size < used + n) size *= 2;
    if (size !== this.own.length) {
      this.own = new Uint8Array(size);
      this.ownView = new DataView(this.own.buffer);
    }
    // What the target or the old buffer holds moves to the front of the (new) own buffer.
    if (this.buf !== this.own || this.start !== 0) this.own.set(this.buf.subarray(this.start, this.at));
    this.target(this.own, this.ownView, 0, used, this.own.length, false);
  }

  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.at, v, true);
    this.at += 4;
  }

  private raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.at);
    this.at += bytes.length;
  }

  private tagged(tag: number, id: number): void {
    this.room(5);
    this.buf[this.at] = tag;
    this.view.setUint32(this.at + 1, id, true);
    this.at += 5;
  }

  /** The usual scalars (numbers, short ASCII strings, nil, booleans), written in place; false for others. */
  scalar(v: unknown): boolean {
    if (typeof v === 'number') {
      this.room(9);
      const at = this.at;
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
        this.buf[at] = TAG_INTEGER;
        this.view.setInt32(at + 1, v | 0, true); // the low 32 bits (two's complement)
        this.view.setInt32(at + 5, Math.floor(v / 4294967296), true);
      } else {
        this.buf[at] = TAG_FLOAT;
        this.view.setFloat64(at + 1, v, true);
      }
      this.at = at + 9;
      return true;
    }
    if (typeof v === 'string' && v.length < 128) {
      this.room(5 + v.length);
      const at = this.at;
      let i = 0;
      for (; i < v.length; i++) {
        const c = v.charCodeAt(i);
        if (c > 0x7f) return false;
        this.buf[at + 5 + i] = c;
      }
      this.buf[at] = TAG_STRING;
      this.view.setUint32(at + 1, v.length, true);
      this.at = at + 5 + v.length;
      return true;
    }
    if (v === undefined || v === null) {
      this.byte(TAG_NIL);
      return true;
    }
    if (typeof v === 'boolean') {
      this.room(2);
      this.buf[this.at] = TAG_BOOLEAN;
      this.buf[this.at + 1] = v ? 1 : 0;
      this.at += 2;
      return true;
    }
    return false;
  }

  value(v: unknown, depth: number, path: Path, open: Set<object> | undefined): void {
    if (typeof v === 'number' && Number.isNaN(v) && depth > 0 && pathText(path).endsWith('(key)')) {
      throw new TypeError(`${pathText(path)}: NaN cannot be a Lua table key`);
    }
    if (this.scalar(v)) return;
    if (typeof v === 'function') {
      this.tagged(TAG_HOST_FUNCTION, this.options.hostFunction(v as (...args: never[]) => unknown, pathText(path)));
      return;
    }
    if (typeof v === 'object' && v !== null) {
      const handle = this.options.handle(v);
      if (handle !== undefined) {
        this.tagged(TAG_HANDLE, handle);
        return;
      }
      if (isTableRef(v)) {
        this.tagged(TAG_EXTERNAL, this.options.tableRef(v));
        return;
      }
    }
    let scalar: Uint8Array | null;
    try {
      scalar = encodeScalar(v);
    } catch (e) {
      throw new TypeError(`cannot pass ${pathText(path)} to Lua: ${(e as Error).message.replace(/ in an external table$/, '')}`);
    }
    if (scalar) {
      this.raw(scalar);
      return;
    }
    const table = v as object;
    open ??= new Set();
    if (open.has(table)) throw new TypeError(`cannot pass ${pathText(path)} to Lua: it contains itself (a cycle)`);
    if (depth >= MAX_PASSED_DEPTH) throw new TypeError(`cannot pass ${pathText(path)} to Lua: tables nested more than ${MAX_PASSED_DEPTH} deep`);
    open.add(table);
    this.room(5);
    this.buf[this.at] = TAG_TABLE;
    const countAt = this.at + 1 - this.start; // from the start: the bytes may move to the own buffer
    this.at += 5;
    let count = 0;
    const opened = open;
    const entry = (k: unknown, val: unknown, name: () => string) => {
      if (val === undefined || val === null) return; // nil values are absent keys in Lua
      if (k === undefined || k === null) throw new TypeError(`cannot pass ${pathText(path)} to Lua: a nil key`);
      this.value(k, depth + 1, () => `${name()} (key)`, opened);
      this.value(val, depth + 1, name, opened);
      count++;
    };
    if (Array.isArray(table)) {
      table.forEach((val, i) => entry(i + 1, val, () => `${pathText(path)}[${i}]`));
    } else if (table instanceof Map) {
      for (const [k, val] of table) entry(k, val, () => `${pathText(path)}.${String(k)}`);
    } else {
      for (const k of Object.keys(table)) entry(k, (table as Record<string, unknown>)[k], () => `${pathText(path)}.${k}`);
    }
    this.view.setUint32(this.start + countAt, count, true);
    open.delete(table);
  }
}

const shared = new PassWriter();

// }======

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

// }======
