// A minimal test host for the real build/lua.wasm, written from docs/ABI.md: the five imports
// over Maps (keys paging included), compute with the result layout and the value codec.
// Tests may override any import (malformed answers, throwing imports, the original module's host).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const WASM_PATH = join(__dirname, '..', '..', 'build', 'lua.wasm');
let compiled: WebAssembly.Module | undefined;

/** The compiled module, compiled once per test file. */
export function wasmModule(): WebAssembly.Module {
  if (!compiled) compiled = new WebAssembly.Module(readFileSync(WASM_PATH));
  return compiled;
}

export type Value =
  | null
  | boolean
  | bigint // integer (tag 02)
  | number // float (tag 03)
  | Uint8Array // string (tag 04)
  | { fn: Uint8Array } // function (tag 05)
  | { ref: number } // external table reference (tag 07)
  | { inline: [Value, Value][] }; // inline table (tag 08)

export interface RawExports {
  memory: WebAssembly.Memory;
  init(): number;
  compute(ptr: number, len: number): number;
  get_buffer_ptr(): number;
  get_buffer_size(): number;
  get_memory_stats(ptr: number): void;
  run_gc(): void;
  attach_memory_table(id: number): void;
  get_memory_table_id(): number;
  sync_external_table_counter(id: number): void;
  set_memory_alias_enabled(on: number): void;
  lua_alloc(ud: number, ptr: number, osize: number, nsize: number): number;
  set_instruction_limit(n: number): void;
  get_error_kind(): number;
  get_output_dropped(): number;
  get_external_table_counter(): number;
  set_clock(unix: number, cpu: number): void;
  set_random_seed(a: bigint, b: bigint): void;
  get_build_id(): bigint;
  set_alloc_fail_at(n: number): void;
  get_live_tables(ptr: number, max: number): number;
  _initialize?: () => void;
}

export type Imports = {
  js_ext_table_set(id: number, kp: number, kl: number, vp: number, vl: number): number;
  js_ext_table_get(id: number, kp: number, kl: number, vp: number, max: number): number;
  js_ext_table_delete(id: number, kp: number, kl: number): number;
  js_ext_table_size(id: number): number;
  js_ext_table_keys(id: number, bp: number, max: number): number;
};

export type Outcome =
  | { ok: true; output: string; values: Value[]; bytes: number }
  | { ok: false; message: string; kind: number; output: string };

const latin1 = (b: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
};
export const fromLatin1 = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

export class RawHost {
  /** id -> (key bytes as latin1 -> value bytes) */
  readonly tables = new Map<number, Map<string, Uint8Array>>();
  readonly cursors = new Map<number, Iterator<string>>();
  pending = new Map<number, string>();
  nextCursor = 1;
  /** Counts of import calls, by name. */
  readonly calls: Record<string, number> = {};
  exports!: RawExports;
  overrides: Partial<Imports> = {};

  static create(opts: { overrides?: Partial<Imports>; init?: boolean } = {}): RawHost {
    const host = new RawHost();
    host.overrides = opts.overrides ?? {};
    const env: Record<string, Function> = {};
    for (const name of ['js_ext_table_set', 'js_ext_table_get', 'js_ext_table_delete', 'js_ext_table_size', 'js_ext_table_keys'] as const) {
      env[name] = (...args: number[]) => {
        host.calls[name] = (host.calls[name] ?? 0) + 1;
        const f = (host.overrides[name] ?? (host as any)[name].bind(host)) as Function;
        return f(...args);
      };
    }
    const instance = new WebAssembly.Instance(wasmModule(), { env } as any);
    host.exports = instance.exports as unknown as RawExports;
    if (opts.init !== false) {
      if (host.exports.init() !== 0) throw new Error('init failed');
    }
    return host;
  }

  get mem(): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer);
  }
  get view(): DataView {
    return new DataView(this.exports.memory.buffer);
  }
  table(id: number): Map<string, Uint8Array> {
    let t = this.tables.get(id >>> 0);
    if (!t) this.tables.set(id >>> 0, (t = new Map()));
    return t;
  }
  keyAt(p: number, l: number): string {
    return latin1(this.mem.subarray(p, p + l));
  }

  // ---- the five imports
  js_ext_table_set(id: number, kp: number, kl: number, vp: number, vl: number): number {
    this.table(id).set(this.keyAt(kp, kl), this.mem.slice(vp, vp + vl));
    return 0;
  }
  js_ext_table_get(id: number, kp: number, kl: number, vp: number, max: number): number {
    const v = this.tables.get(id >>> 0)?.get(this.keyAt(kp, kl));
    if (v === undefined) return -1;
    if (v.length <= max) this.mem.set(v, vp);
    return v.length;
  }
  js_ext_table_delete(id: number, kp: number, kl: number): number {
    this.tables.get(id >>> 0)?.delete(this.keyAt(kp, kl));
    return 0;
  }
  js_ext_table_size(id: number): number {
    return this.tables.get(id >>> 0)?.size ?? 0;
  }
  js_ext_table_keys(id: number, bp: number, max: number): number {
    let cursor = this.view.getUint32(bp, true);
    let it: Iterator<string>;
    if (cursor === 0) {
      it = this.table(id).keys();
      cursor = this.nextCursor++;
      this.cursors.set(cursor, it);
    } else {
      const found = this.cursors.get(cursor);
      if (!found) return -1;
      it = found;
    }
    let at = 4;
    for (;;) {
      let k = this.pending.get(cursor);
      if (k === undefined) {
        const r = it.next();
        if (r.done) break;
        if (!this.table(id).has(r.value)) continue;
        k = r.value;
      }
      this.pending.delete(cursor);
      if (at + 4 + k.length > max) {
        this.pending.set(cursor, k);
        if (at === 4) return 8 + k.length;
        this.view.setUint32(bp, cursor, true);
        return at;
      }
      this.view.setUint32(bp + at, k.length, true);
      this.mem.set(fromLatin1(k), bp + at + 4);
      at += 4 + k.length;
    }
    this.cursors.delete(cursor);
    this.view.setUint32(bp, 0, true);
    return at;
  }

  // ---- compute
  computeBytes(code: Uint8Array): Outcome {
    const buf = this.exports.get_buffer_ptr();
    this.mem.set(code, buf);
    return this.finish(this.exports.compute(buf, code.length));
  }
  compute(code: string): Outcome {
    return this.computeBytes(utf8(code));
  }
  finish(n: number): Outcome {
    const buf = this.exports.get_buffer_ptr();
    if (n < 0) {
      const len = -n - 1;
      const message = text(this.mem.subarray(buf, buf + len));
      const outLen = this.view.getUint32(buf + len, true);
      const output = text(this.mem.subarray(buf + len + 4, buf + len + 4 + outLen));
      return { ok: false, message, kind: this.exports.get_error_kind(), output };
    }
    if (n === 0) return { ok: true, output: '', values: [], bytes: 0 };
    const outLen = this.view.getUint32(buf, true);
    const output = text(this.mem.subarray(buf + 4, buf + 4 + outLen));
    const bytes = this.mem.slice(buf, buf + n);
    const values: Value[] = [];
    for (let at = 4 + outLen; at < n; ) {
      const [v, next] = decodeValue(bytes, at);
      values.push(v);
      at = next;
    }
    return { ok: true, output, values, bytes: n };
  }
  /** compute that must succeed; returns the values. */
  run(code: string): Value[] {
    const r = this.compute(code);
    if (!r.ok) throw new Error(`compute failed (kind ${r.kind}): ${r.message}`);
    return r.values;
  }
  /** compute that must fail; returns the error. */
  fail(code: string): { message: string; kind: number; output: string } {
    const r = this.compute(code);
    if (r.ok) throw new Error(`compute unexpectedly succeeded: ${code}`);
    return r;
  }
  heapInUse(): number {
    const p = this.exports.get_buffer_ptr();
    this.exports.get_memory_stats(p);
    return this.view.getUint32(p + 4, true);
  }
  /** Value bytes stored under a string key of table id. */
  raw(id: number, key: string): Uint8Array | undefined {
    return this.tables.get(id)?.get('\x04' + latin1(utf8(key)));
  }
}

export function decodeValue(b: Uint8Array, at: number): [Value, number] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const tag = b[at++];
  switch (tag) {
    case 0: return [null, at];
    case 1: return [b[at] !== 0, at + 1];
    case 2: return [v.getBigInt64(at, true), at + 8];
    case 3: return [v.getFloat64(at, true), at + 8];
    case 4: {
      const n = v.getUint32(at, true);
      return [b.slice(at + 4, at + 4 + n), at + 4 + n];
    }
    case 5: {
      const n = v.getUint32(at, true);
      return [{ fn: b.slice(at + 4, at + 4 + n) }, at + 4 + n];
    }
    case 7: return [{ ref: v.getUint32(at, true) }, at + 4];
    case 8: {
      const n = v.getUint32(at, true);
      at += 4;
      const pairs: [Value, Value][] = [];
      for (let i = 0; i < n; i++) {
        const [k, a1] = decodeValue(b, at);
        const [val, a2] = decodeValue(b, a1);
        pairs.push([k, val]);
        at = a2;
      }
      return [{ inline: pairs }, at];
    }
    default: throw new Error(`unknown tag ${tag} at ${at - 1}`);
  }
}

export function encodeValue(x: Value): Uint8Array {
  const parts: number[] = [];
  const push = (...xs: number[]) => parts.push(...xs);
  const u32 = (n: number) => push(n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255);
  const walk = (x: Value) => {
    if (x === null) push(0);
    else if (typeof x === 'boolean') push(1, x ? 1 : 0);
    else if (typeof x === 'bigint') {
      const d = new DataView(new ArrayBuffer(8));
      d.setBigInt64(0, x, true);
      push(2, ...new Uint8Array(d.buffer));
    } else if (typeof x === 'number') {
      const d = new DataView(new ArrayBuffer(8));
      d.setFloat64(0, x, true);
      push(3, ...new Uint8Array(d.buffer));
    } else if (x instanceof Uint8Array) {
      push(4);
      u32(x.length);
      for (const c of x) push(c);
    } else if ('fn' in x) {
      push(5);
      u32(x.fn.length);
      for (const c of x.fn) push(c);
    } else if ('ref' in x) {
      push(7);
      u32(x.ref);
    } else {
      push(8);
      u32(x.inline.length);
      for (const [k, val] of x.inline) {
        walk(k);
        walk(val);
      }
    }
  };
  walk(x);
  return Uint8Array.from(parts);
}

/** A string value as JS text (for assertions). */
export const str = (v: Value): string => {
  if (!(v instanceof Uint8Array)) throw new Error(`not a string value: ${String(v)}`);
  return text(v);
};

// ---- additions for test/core: the module's binary layout, the native stack, checksums

export interface WasmFuncType {
  params: string[];
  results: string[];
}
export interface WasmLayout {
  imports: { module: string; name: string; kind: string; type?: WasmFuncType }[];
  exports: { name: string; kind: string; type?: WasmFuncType }[];
  /** Memories defined by the module (not imported): page limits. */
  memories: { min: number; max: number | undefined }[];
  /** Initial values of the module's i32 globals, in order (the first is the stack pointer). */
  globals: (number | undefined)[];
}

/** Parses the sections of a wasm binary that say what the module is (types, imports, exports,
 *  memory, globals). */
export function parseWasm(bytes: Uint8Array): WasmLayout {
  let p = 8;
  const leb = (): number => {
    let r = 0, s = 0, b: number;
    do { b = bytes[p++]; r += (b & 0x7f) * 2 ** s; s += 7; } while (b & 0x80);
    return r;
  };
  const sleb32 = (): number => {
    let r = 0, s = 0, b: number;
    do { b = bytes[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80);
    if (s < 32 && b & 0x40) r |= -1 << s;
    return r;
  };
  const name = (): string => {
    const n = leb();
    const s = text(bytes.subarray(p, p + n));
    p += n;
    return s;
  };
  const valtype = (b: number): string => ({ 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64' } as Record<number, string>)[b] ?? `0x${b.toString(16)}`;
  const limits = () => {
    const flags = bytes[p++];
    const min = leb();
    return { min, max: flags & 1 ? leb() : undefined };
  };
  const types: WasmFuncType[] = [];
  const funcTypes: number[] = []; // type index of every function, imported ones first
  const layout: WasmLayout = { imports: [], exports: [], memories: [], globals: [] };
  const kinds = ['function', 'table', 'memory', 'global', 'tag'];
  while (p < bytes.length) {
    const id = bytes[p++];
    const size = leb();
    const end = p + size;
    if (id === 1) {
      for (let n = leb(); n > 0; n--) {
        p++; // 0x60
        const params = Array.from({ length: leb() }, () => valtype(bytes[p++]));
        const results = Array.from({ length: leb() }, () => valtype(bytes[p++]));
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        const module = name(), field = name(), kind = bytes[p++];
        if (kind === 0) {
          const t = leb();
          funcTypes.push(t);
          layout.imports.push({ module, name: field, kind: 'function', type: types[t] });
        } else {
          if (kind === 1) { p++; limits(); } else if (kind === 2) limits(); else if (kind === 3) p += 2; else leb();
          layout.imports.push({ module, name: field, kind: kinds[kind] });
        }
      }
    } else if (id === 3) {
      for (let n = leb(); n > 0; n--) funcTypes.push(leb());
    } else if (id === 5) {
      for (let n = leb(); n > 0; n--) layout.memories.push(limits());
    } else if (id === 6) {
      for (let n = leb(); n > 0; n--) {
        const type = bytes[p++];
        p++; // mutability
        const op = bytes[p++];
        layout.globals.push(type === 0x7f && op === 0x41 ? sleb32() : undefined);
        while (bytes[p++] !== 0x0b); // to the end of the init expression
      }
    } else if (id === 7) {
      for (let n = leb(); n > 0; n--) {
        const field = name(), kind = bytes[p++], index = leb();
        layout.exports.push({ name: field, kind: kinds[kind], type: kind === 0 ? types[funcTypes[index]] : undefined });
      }
    }
    p = end;
  }
  return layout;
}

/** The stack pointer's initial value: the top of the shadow stack, which grows down. */
export function stackTop(): number {
  const top = parseWasm(readFileSync(WASM_PATH)).globals[0];
  if (top === undefined) throw new Error('no stack pointer global');
  return top;
}
/** The shadow stack's size (docs/ABI.md). */
export const STACK_BYTES = 262144;

/** Runs f with the idle shadow stack filled with a pattern; returns the most bytes of stack
 *  any call made during f used (measured from the stack's top). */
export function stackHighWater(host: RawHost, f: () => void): number {
  const top = stackTop();
  const base = top - STACK_BYTES;
  host.mem.fill(0xa5, base, top);
  f();
  const m = host.mem;
  let low = base;
  while (low < top && m[low] === 0xa5) low++;
  return top - low;
}

/** FNV-1a 64 (the checksum that ends a persisted function's payload). */
export function fnv1a64(b: Uint8Array): bigint {
  let h = 14695981039346656037n;
  for (const c of b) h = ((h ^ BigInt(c)) * 1099511628211n) & 0xffffffffffffffffn;
  return h;
}
