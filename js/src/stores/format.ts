// Byte formats of persistence (docs/PERSISTENCE.md): state snapshots and exports, journal
// records, all little-endian, versioned and checksummed with CRC-32.
import { ChangeBatch, Tables, TablesState } from './types.js';

/** Bytes that are not a valid, intact state, journal or image: refused, never half-read. */
export class StateCorruptError extends Error {
  constructor(what: string, why: string) {
    super(`${what} is damaged or not a lua-home file: ${why}`);
    this.name = 'StateCorruptError';
  }
}

/** A VM image made by another build of lua.wasm (an image is a copy of the VM's memory). */
export class ImageBuildError extends Error {
  constructor(readonly imageBuild: string, readonly thisBuild: string) {
    super(`the VM image was made by another build of lua.wasm (build ${imageBuild}; this one is ${thisBuild}): ` +
      'images only resume on the build that made them; move state between builds with exportState()');
    this.name = 'ImageBuildError';
  }
}

export const STATE_MAGIC = 'LUAHOMES'; // state snapshot / export
export const JOURNAL_MAGIC = 'LUAHOMEJ';
export const FORMAT_VERSION = 1;

// {====== CRC-32 (IEEE)

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// }======

// {====== writing and reading

export class Writer {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.length++] = v;
  }

  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.length, v >>> 0, true);
    this.length += 4;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  latin1(s: string): void {
    this.room(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.length + i] = s.charCodeAt(i);
    this.length += s.length;
  }

  /** The bytes written so far, followed by their CRC-32. */
  finish(): Uint8Array {
    const c = crc32(this.buf, 0, this.length);
    this.u32(c);
    return this.buf.slice(0, this.length);
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

export class Reader {
  private view: DataView;
  at: number;

  constructor(private bytes: Uint8Array, private what: string, start = 0, private end = bytes.length) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.at = start;
  }

  fail(why: string): never {
    throw new StateCorruptError(this.what, why);
  }

  need(n: number): void {
    if (this.end - this.at < n) this.fail(`truncated at byte ${this.at}`);
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.at++];
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }

  bytes_(n: number): Uint8Array {
    this.need(n);
    const b = this.bytes.slice(this.at, this.at + n);
    this.at += n;
    return b;
  }

  latin1(n: number): string {
    this.need(n);
    let s = '';
    for (let i = 0; i < n; i += 4096) {
      s += String.fromCharCode.apply(null, this.bytes.subarray(this.at + i, this.at + Math.min(n, i + 4096)) as unknown as number[]);
    }
    this.at += n;
    return s;
  }

  magic(expected: string): void {
    if (this.latin1(Math.min(expected.length, this.end - this.at)) !== expected) this.fail('wrong magic bytes');
  }
}

// }======

// {====== state: snapshot and export

/**
 * magic "LUAHOMES" | u32 version | u32 generation | u32 homeId | u32 nextId | u32 tables |
 * per table: u32 id, u32 entries, per entry: u32 key length, key, u32 value length, value |
 * u32 CRC-32 of everything before.
 */
export function encodeState(state: TablesState, generation = 0): Uint8Array {
  const w = new Writer();
  w.latin1(STATE_MAGIC);
  w.u32(FORMAT_VERSION);
  w.u32(generation);
  w.u32(state.homeId);
  w.u32(state.nextId);
  const tables = [...state.tables].filter(([, t]) => t.size > 0);
  w.u32(tables.length);
  for (const [id, t] of tables) {
    w.u32(id);
    w.u32(t.size);
    for (const [k, v] of t) {
      w.u32(k.length);
      w.latin1(k);
      w.u32(v.length);
      w.bytes(v);
    }
  }
  return w.finish();
}

export function decodeState(bytes: Uint8Array, what = 'the state'): { state: TablesState; generation: number } {
  const r = new Reader(bytes, what);
  r.magic(STATE_MAGIC);
  if (bytes.length < 8 + 20 + 4) r.fail('truncated'); // magic, five u32, the CRC: an empty state is this long
  const stored = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(bytes.length - 4, true);
  if (crc32(bytes, 0, bytes.length - 4) !== stored) r.fail('checksum mismatch');
  const version = r.u32();
  if (version !== FORMAT_VERSION) r.fail(`format version ${version} (this build reads ${FORMAT_VERSION})`);
  const generation = r.u32();
  const homeId = r.u32();
  const nextId = r.u32();
  const count = r.u32();
  const tables: Tables = new Map();
  const body = new Reader(bytes, what, r.at, bytes.length - 4);
  for (let i = 0; i < count; i++) {
    const id = body.u32();
    const n = body.u32();
    const t = new Map<string, Uint8Array>();
    for (let j = 0; j < n; j++) {
      const k = body.latin1(body.u32());
      t.set(k, body.bytes_(body.u32()));
    }
    if (tables.has(id)) body.fail(`table ${id} appears twice`);
    tables.set(id, t);
  }
  if (body.at !== bytes.length - 4) body.fail('trailing bytes');
  if (homeId === 0) body.fail('no _home table');
  return { state: { homeId, nextId, tables }, generation };
}

// }======

// {====== journal

/** Journal header: magic "LUAHOMEJ" | u32 version | u32 generation. */
export function encodeJournalHeader(generation: number): Uint8Array {
  const w = new Writer();
  w.latin1(JOURNAL_MAGIC);
  w.u32(FORMAT_VERSION);
  w.u32(generation);
  return w.result();
}

export const JOURNAL_HEADER_BYTES = 16;
/** u32 payload length | u32 the length inverted | u32 CRC-32 of the payload */
export const RECORD_HEADER_BYTES = 12;

/**
 * One record per saved batch: u32 payload length | u32 the length inverted | u32 CRC-32 of the
 * payload | payload:
 * u32 homeId, u32 nextId, u32 changes, per change: u32 id, u32 key length, key, u8 present,
 * [u32 value length, value].
 */
export function encodeRecord(batch: ChangeBatch): Uint8Array {
  const w = new Writer();
  w.u32(0);
  w.u32(0);
  w.u32(0);
  w.u32(batch.homeId);
  w.u32(batch.nextId);
  w.u32(batch.changes.length);
  for (const c of batch.changes) {
    w.u32(c.id);
    w.u32(c.key.length);
    w.latin1(c.key);
    if (c.value === undefined) {
      w.u8(0);
    } else {
      w.u8(1);
      w.u32(c.value.length);
      w.bytes(c.value);
    }
  }
  const out = w.result();
  const view = new DataView(out.buffer);
  view.setUint32(0, out.length - RECORD_HEADER_BYTES, true);
  view.setUint32(4, ~(out.length - RECORD_HEADER_BYTES) >>> 0, true);
  view.setUint32(8, crc32(out, RECORD_HEADER_BYTES), true);
  return out;
}

/**
 * Reads a journal: its generation, its intact records, and where they end. A last record cut
 * short (a crash during an append) is left out; any other damage is refused.
 */
export function decodeJournal(bytes: Uint8Array, what = 'the journal'): { generation: number; batches: ChangeBatch[]; end: number } {
  const r = new Reader(bytes, what);
  r.magic(JOURNAL_MAGIC);
  const version = r.u32();
  if (version !== FORMAT_VERSION) r.fail(`format version ${version} (this build reads ${FORMAT_VERSION})`);
  const generation = r.u32();
  const batches: ChangeBatch[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = r.at;
  while (at < bytes.length) {
    const H = RECORD_HEADER_BYTES;
    if (bytes.length - at < H) break; // torn: the record's header was not all written
    const length = view.getUint32(at, true);
    // The length is stored twice (the second time inverted): a damaged length is refused, not
    // mistaken for a torn tail (which would drop the records after it).
    if (((length ^ view.getUint32(at + 4, true)) >>> 0) !== 0xffffffff) r.fail(`damaged record header at byte ${at}`);
    if (bytes.length - at - H < length) break; // torn: the payload was not all written
    if (crc32(bytes, at + H, at + H + length) !== view.getUint32(at + 8, true)) {
      r.fail(`checksum mismatch in the record at byte ${at}`);
    }
    const p = new Reader(bytes, what, at + H, at + H + length);
    const homeId = p.u32();
    const nextId = p.u32();
    const n = p.u32();
    const changes = [];
    for (let i = 0; i < n; i++) {
      const id = p.u32();
      const key = p.latin1(p.u32());
      const present = p.u8();
      if (present > 1) p.fail('bad presence byte');
      changes.push({ id, key, value: present ? p.bytes_(p.u32()) : undefined });
    }
    if (p.at !== at + H + length) p.fail(`trailing bytes in the record at byte ${at}`);
    batches.push({ homeId, nextId, changes });
    at += H + length;
  }
  return { generation, batches, end: at };
}

// }======
