// One external table as the host keeps it, shaped for the hot path of lua.wasm's imports.
//
// Seen from outside, a HostTable is a Map from key bytes (as a latin1 string, one char per byte)
// to value bytes (Uint8Array), exactly the bytes the module wrote. Inside, it keeps the same
// information in forms that cost less to make, to find and to collect:
//
// - keys: an integer key (tag 02, canonical decimal, at most 15 digits) is a JS number, every
//   other key is its latin1 string; the integer keys 1..n live in an array, like Lua's own
//   "array part", and all other keys in a Map;
// - values: an integer value (tag 02) in the safe range is a JS number, other values of at most
//   STRING_VALUE_MAX bytes are latin1 strings, larger ones are bytes.
//
// Each form maps back to exactly one byte string, so the host stays 1:1 with what the module
// stored (docs/ABI.md: keys and values are opaque bytes to the host).

/** A key as a host table keeps it: a number for an integer key of at most 15 digits, else its bytes as latin1. */
export type HostKey = string | number;
/** A value as a host table keeps it: a number for a safe integer (tag 02), a latin1 string, or bytes when large. */
export type HostValue = number | string | Uint8Array;

const TAG_INTEGER = 0x02;
const TAG_EXTERNAL = 0x07;
/** Values up to this many bytes are kept as latin1 strings; larger ones as bytes. */
export const STRING_VALUE_MAX = 4096;
// The array part is given up (its keys move to the Map) when a new key is inserted while more
// than half of an array of at least this many slots is empty.
const ARRAY_MIN_SPARSE = 64;

// {====== forms

/** `len` bytes at `p` as a latin1 string. */
export function latin1At(m: Uint8Array, p: number, len: number): string {
  switch (len) { // one flat string at once for the usual short keys and values
    case 0: return '';
    case 1: return String.fromCharCode(m[p]);
    case 2: return String.fromCharCode(m[p], m[p + 1]);
    case 3: return String.fromCharCode(m[p], m[p + 1], m[p + 2]);
    case 4: return String.fromCharCode(m[p], m[p + 1], m[p + 2], m[p + 3]);
    case 5: return String.fromCharCode(m[p], m[p + 1], m[p + 2], m[p + 3], m[p + 4]);
    case 6: return String.fromCharCode(m[p], m[p + 1], m[p + 2], m[p + 3], m[p + 4], m[p + 5]);
    case 7: return String.fromCharCode(m[p], m[p + 1], m[p + 2], m[p + 3], m[p + 4], m[p + 5], m[p + 6]);
    case 8: return String.fromCharCode(m[p], m[p + 1], m[p + 2], m[p + 3], m[p + 4], m[p + 5], m[p + 6], m[p + 7]);
    case 9: return String.fromCharCode(m[p], m[p + 1], m[p + 2], m[p + 3], m[p + 4], m[p + 5], m[p + 6], m[p + 7], m[p + 8]);
    case 10: return String.fromCharCode(m[p], m[p + 1], m[p + 2], m[p + 3], m[p + 4], m[p + 5], m[p + 6], m[p + 7], m[p + 8], m[p + 9]);
  }
  // Node: its native latin1 conversion (what Buffer#toString('latin1') calls), about twice as
  // fast; it takes any Uint8Array. Elsewhere, fromCharCode over the bytes copied to an array.
  if (latin1Slice) return latin1Slice.call(m, p, p + len);
  if (len <= 4096) return String.fromCharCode.apply(null, Array.from(m.subarray(p, p + len)));
  let s = '';
  for (let i = 0; i < len; i += 4096) s += latin1At(m, p + i, Math.min(4096, len - i));
  return s;
}

type Latin1Slice = (this: Uint8Array, start: number, end: number) => string;
const nodeBuffer = (globalThis as { Buffer?: { prototype?: { latin1Slice?: Latin1Slice } } }).Buffer;
const latin1Slice = typeof nodeBuffer?.prototype?.latin1Slice === 'function' ? nodeBuffer.prototype.latin1Slice : undefined;

/** The host form of the key bytes at `p`. */
export function keyAt(m: Uint8Array, p: number, len: number): HostKey {
  if (m[p] === TAG_INTEGER && len >= 2 && len <= 17) {
    let i = p + 1;
    const end = p + len;
    const neg = m[i] === 0x2d; // '-'
    if (neg) i++;
    const first = m[i] - 0x30;
    // canonical: no sign without digits, no leading zero, no "-0", at most 15 digits (< 2^53)
    if (end - i <= 15 && ((first >= 1 && first <= 9) || (first === 0 && i + 1 === end && !neg))) {
      let v = first;
      for (i++; i < end; i++) {
        const d = m[i] - 0x30;
        if (d < 0 || d > 9) return latin1At(m, p, len);
        v = v * 10 + d;
      }
      return neg ? -v : v;
    }
  }
  return latin1At(m, p, len);
}

/** The host form of key bytes given as a latin1 string. */
export function keyOf(latin1: string): HostKey {
  // The same rules as keyAt (canonical, at most 15 digits), on the string.
  return CANONICAL_INTEGER.test(latin1) ? Number(latin1.slice(1)) : latin1;
}
const CANONICAL_INTEGER = /^\x02(?:0|-?[1-9][0-9]{0,14})$/;

/** The key bytes of a host key, as a latin1 string. */
export function keyText(k: HostKey): string {
  return typeof k === 'number' ? '\x02' + String(k) : k;
}

/** The host form of the value bytes at `p` (always a copy). */
export function valueAt(m: Uint8Array, p: number, len: number): HostValue {
  if (len === 9 && m[p] === TAG_INTEGER) {
    const lo = m[p + 1] | (m[p + 2] << 8) | (m[p + 3] << 16) | (m[p + 4] << 24);
    const hi = m[p + 5] | (m[p + 6] << 8) | (m[p + 7] << 16) | (m[p + 8] << 24);
    if (hi === lo >> 31) return lo;
    if (hi >= -0x200000 && hi < 0x200000) return hi * 4294967296 + (lo >>> 0);
  }
  if (len <= STRING_VALUE_MAX) return latin1At(m, p, len);
  return m.slice(p, p + len);
}

/** The host form of value bytes. */
export function valueOf(bytes: Uint8Array): HostValue {
  return valueAt(bytes, 0, bytes.length);
}

/** The byte length of a value. */
export function valueLength(v: HostValue): number {
  return typeof v === 'number' ? 9 : v.length;
}

/** Writes a value's bytes at `p` (valueLength(v) bytes). */
export function putValue(m: Uint8Array, p: number, v: HostValue): void {
  if (typeof v === 'number') {
    let lo: number, hi: number;
    if ((v | 0) === v) {
      lo = v;
      hi = v >> 31;
    } else {
      lo = v | 0; // ToInt32: the low word of the two's complement
      hi = Math.floor(v / 4294967296);
    }
    m[p] = TAG_INTEGER;
    m[p + 1] = lo;
    m[p + 2] = lo >> 8;
    m[p + 3] = lo >> 16;
    m[p + 4] = lo >> 24;
    m[p + 5] = hi;
    m[p + 6] = hi >> 8;
    m[p + 7] = hi >> 16;
    m[p + 8] = hi >> 24;
  } else if (typeof v === 'string') {
    for (let i = 0; i < v.length; i++) m[p + i] = v.charCodeAt(i);
  } else {
    m.set(v, p);
  }
}

/** The value's bytes (a value kept as bytes is returned as it is: do not modify it). */
export function valueBytes(v: HostValue): Uint8Array {
  if (typeof v === 'object') return v;
  const out = new Uint8Array(valueLength(v));
  putValue(out, 0, v);
  return out;
}

/** The table id a value refers to (tag 07), or -1. Takes the host form or bytes. */
export function refOf(v: HostValue): number {
  if (typeof v === 'number' || v.length !== 5) return -1;
  if (typeof v === 'string') {
    if (v.charCodeAt(0) !== TAG_EXTERNAL) return -1;
    return (v.charCodeAt(1) | (v.charCodeAt(2) << 8) | (v.charCodeAt(3) << 16) | (v.charCodeAt(4) << 24)) >>> 0;
  }
  if (v[0] !== TAG_EXTERNAL) return -1;
  return (v[1] | (v[2] << 8) | (v[3] << 16) | (v[4] << 24)) >>> 0;
}

// }======

/**
 * One external table. The Map-like methods (get, set, has, delete, keys, values, entries,
 * iteration) speak bytes: latin1 keys and Uint8Array values. The `*Key` methods are the host's
 * own, in host forms.
 */
export class HostTable implements Iterable<[string, Uint8Array]> {
  /** @internal Values of the keys 1..arr.length (undefined where absent). No such key is in `map`. */
  arr: (HostValue | undefined)[] = [];
  /** @internal How many of `arr` are present. */
  arrCount = 0;
  /** @internal Every other key. */
  map = new Map<HostKey, HostValue>();
  // The position of each key of `map` in its order, made on the first `next` from a given key
  // (KeyCursor.seekAfter) and kept up as keys come and go, so that no seek walks the table.
  private index: MapIndex | undefined = undefined;

  /** @internal The index of `map`'s keys (made on first use). */
  mapIndex(): MapIndex {
    let index = this.index;
    if (index === undefined || index.map !== this.map) {
      const order = [...this.map.keys()];
      index = { map: this.map, order, pos: new Map(order.map((k, i) => [k, i])) };
      this.index = index;
    }
    return index;
  }

  // A key entered `map` (at the end of its order).
  private indexAdd(k: HostKey): void {
    const index = this.index as MapIndex;
    if (index.map !== this.map) return;
    index.pos.set(k, index.order.length);
    index.order.push(k);
    if (index.order.length > 2 * this.map.size + 64) this.index = undefined; // mostly gone: made again
  }

  /** A table holding the entries of a Map from latin1 keys to value bytes. */
  static from(entries: Iterable<[string, Uint8Array]>): HostTable {
    const t = new HostTable();
    for (const [k, v] of entries) t.putKey(keyOf(k), valueOf(v));
    return t;
  }

  get size(): number {
    return this.arrCount + this.map.size;
  }

  /** The value under a host key. */
  getKey(k: HostKey): HostValue | undefined {
    if (typeof k === 'number' && k >= 1 && k <= this.arr.length) return this.arr[k - 1];
    return this.map.get(k);
  }

  /** Stores a value under a host key; returns the value it replaces. */
  putKey(k: HostKey, v: HostValue): HostValue | undefined {
    const arr = this.arr;
    if (typeof k === 'number' && k >= 1) {
      const n = arr.length;
      if (k <= n) {
        const old = arr[k - 1];
        arr[k - 1] = v;
        if (old === undefined) this.arrCount++;
        return old;
      }
      if (k === n + 1 && (this.map.size === 0 || !this.map.has(k))) {
        if (this.arrCount * 2 < n && n >= ARRAY_MIN_SPARSE) {
          this.dissolve();
          this.map.set(k, v); // (a new Map: its index is made again when a seek needs it)
          return undefined;
        }
        arr.push(v);
        this.arrCount++;
        if (this.map.size !== 0) this.migrate();
        return undefined;
      }
    }
    const old = this.map.get(k);
    if (old === undefined && isSparse(this)) this.dissolve();
    this.map.set(k, v);
    if (old === undefined && this.index !== undefined) this.indexAdd(k);
    return old;
  }

  /** Deletes a host key; returns the value it had. */
  removeKey(k: HostKey): HostValue | undefined {
    const arr = this.arr;
    if (typeof k === 'number' && k >= 1 && k <= arr.length) {
      const old = arr[k - 1];
      if (old === undefined) return undefined;
      arr[k - 1] = undefined;
      this.arrCount--;
      if (k === arr.length) { // trailing slots go: a traversal by index never misses a key
        let n = arr.length - 1;
        while (n > 0 && arr[n - 1] === undefined) n--;
        arr.length = n;
      }
      return old;
    }
    const old = this.map.get(k);
    if (old !== undefined) {
      this.map.delete(k);
      this.index?.pos.delete(k);
    }
    return old;
  }

  /** Every key, in host form (the array part first, then the rest). */
  *hostKeys(): IterableIterator<HostKey> {
    const arr = this.arr;
    for (let i = 0; i < arr.length; i++) if (arr[i] !== undefined) yield i + 1;
    yield* this.map.keys();
  }

  /** Every value, in host form. */
  *hostValues(): IterableIterator<HostValue> {
    for (const v of this.arr) if (v !== undefined) yield v;
    yield* this.map.values();
  }

  /** Every entry, in host form. */
  *hostEntries(): IterableIterator<[HostKey, HostValue]> {
    const arr = this.arr;
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      if (v !== undefined) yield [i + 1, v];
    }
    yield* this.map.entries();
  }

  // Keys n+1, n+2, ... that were in the Map join the array part once it reaches them.
  private migrate(): void {
    const arr = this.arr;
    for (;;) {
      const k = arr.length + 1;
      const v = this.map.get(k);
      if (v === undefined) return;
      this.map.delete(k);
      this.index?.pos.delete(k);
      arr.push(v);
      this.arrCount++;
    }
  }

  // The array part became mostly holes (a queue, say): its keys move to the Map. Only done when
  // a key is inserted, which Lua leaves undefined during a traversal anyway.
  private dissolve(): void {
    reorganized++;
    const arr = this.arr;
    const map = new Map<HostKey, HostValue>();
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      if (v !== undefined) map.set(i + 1, v);
    }
    for (const [k, v] of this.map) map.set(k, v);
    this.map = map;
    this.arr = [];
    this.arrCount = 0;
  }

  // {====== the Map-like view, in bytes

  get(key: string): Uint8Array | undefined {
    const v = this.getKey(keyOf(key));
    return v === undefined ? undefined : valueBytes(v);
  }

  has(key: string): boolean {
    return this.getKey(keyOf(key)) !== undefined;
  }

  set(key: string, value: Uint8Array): this {
    this.putKey(keyOf(key), valueOf(value));
    return this;
  }

  delete(key: string): boolean {
    return this.removeKey(keyOf(key)) !== undefined;
  }

  *keys(): IterableIterator<string> {
    for (const k of this.hostKeys()) yield keyText(k);
  }

  *values(): IterableIterator<Uint8Array> {
    for (const v of this.hostValues()) yield valueBytes(v);
  }

  *entries(): IterableIterator<[string, Uint8Array]> {
    for (const [k, v] of this.hostEntries()) yield [keyText(k), valueBytes(v)];
  }

  [Symbol.iterator](): IterableIterator<[string, Uint8Array]> {
    return this.entries();
  }

  /** A plain Map of latin1 keys to value bytes (what stores keep). */
  toMap(): Map<string, Uint8Array> {
    return new Map(this.entries());
  }

  // }======
}

// How many times any table replaced its Map (traversals of the old one must not keep it alive).
let reorganized = 0;

/** A count that changes whenever a table replaces its Map. */
export function reorganizations(): number {
  return reorganized;
}

// Inserting a new key into the Map while the array part is mostly holes: give the array up.
function isSparse(t: HostTable): boolean {
  const n = t.arr.length;
  return n >= ARRAY_MIN_SPARSE && t.arrCount * 2 < n;
}

/**
 * A traversal of a table's keys that survives deleting keys during it (as Lua allows). It holds
 * one Map iterator at most, which `anchor()` moves onto the Map's current storage (a live
 * iterator otherwise keeps every older storage of a Map rehashed since alive).
 */
/** The order of a Map's keys and each key's position in it (stale slots have no position). */
export interface MapIndex {
  map: Map<HostKey, HostValue>;
  order: HostKey[];
  pos: Map<HostKey, number>;
}

export class KeyCursor {
  private i = 0;
  private map: Map<HostKey, HostValue> | undefined; // the Map `rest` walks
  private rest: Iterator<HostKey> | undefined;
  private snap: MapIndex | undefined; // after seekAfter into the Map: its index, walked from snapAt
  private snapAt = 0;
  private ahead: HostKey[] | undefined; // keys `anchor()` read ahead, in order
  private aheadAt = 0;

  constructor(readonly table: HostTable) {}

  /**
   * Places the cursor just after key `k` (next(t, k) from any key), without walking the table:
   * the array part by position, the Map through its index. False when the table has no such key.
   */
  seekAfter(k: HostKey): boolean {
    const t = this.table;
    if (typeof k === 'number' && k >= 1 && k <= t.arr.length) {
      if (t.arr[k - 1] === undefined) return false;
      this.i = k;
      return true;
    }
    if (!t.map.has(k)) return false;
    const index = t.mapIndex();
    const at = index.pos.get(k) as number;
    this.i = t.arr.length;
    this.map = t.map;
    this.rest = NO_KEYS; // the Map is walked through the index instead
    this.snap = index;
    this.snapAt = at + 1;
    return true;
  }

  /** The next key, or undefined at the end. */
  next(): HostKey | undefined {
    const snap = this.snap;
    if (snap !== undefined) {
      const { order, pos } = snap;
      while (this.snapAt < order.length) {
        const at = this.snapAt++;
        const k = order[at];
        if (pos.get(k) === at && this.table.getKey(k) !== undefined) return k; // else gone or moved
      }
      this.snap = undefined;
      this.finish();
      return undefined;
    }
    if (this.rest === undefined) {
      const arr = this.table.arr;
      while (this.i < arr.length) {
        const k = ++this.i;
        if (arr[k - 1] !== undefined) return k;
      }
      this.map = this.table.map;
      this.rest = this.map.keys();
    }
    const ahead = this.ahead;
    while (ahead !== undefined) {
      const k = ahead[this.aheadAt++];
      if (this.aheadAt === ahead.length) this.ahead = undefined;
      if (this.table.getKey(k) !== undefined) return k; // else cleared before its turn: skipped
      if (this.ahead === undefined) break;
    }
    const r = this.rest.next();
    if (r.done) this.finish();
    return r.done ? undefined : r.value;
  }

  /**
   * Whether the traversal can go on: false once the table replaced the Map it walks (new keys
   * reorganised it: Lua leaves such a traversal undefined), which must then not be kept alive.
   */
  get valid(): boolean {
    if (this.snap !== undefined) return this.snap.map === this.table.map;
    return this.map === undefined || this.map === this.table.map || this.rest === NO_KEYS;
  }

  /** Moves the iterator onto the Map's current storage by reading one key ahead. */
  anchor(): void {
    if (this.rest === undefined || this.map === undefined || this.snap !== undefined) return;
    const r = this.rest.next();
    if (r.done) {
      this.finish();
    } else if (this.ahead === undefined) {
      this.ahead = [r.value];
      this.aheadAt = 0;
    } else {
      this.ahead.push(r.value);
    }
  }

  private finish(): void {
    this.rest = NO_KEYS; // the ended iterator lets go of its Map
    this.map = undefined;
  }
}

const EMPTY_MAP = new Map<HostKey, HostValue>();
const NO_KEYS: Iterator<HostKey> = EMPTY_MAP.keys();
