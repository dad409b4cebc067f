// The host side of the host channel (docs/ABI.md, "The host channel"): the one mechanism through
// which output, stdin, host functions, modules, code served in pieces and results too large for
// the I/O buffer cross the five imports. The module sends requests on table id 0; the first byte
// of the key names the operation. Everything here answers synchronously; an answer that is a
// Promise is kept under an id, and the compute suspends until the VM resumes it.
import { ExternalTableImports } from '../abi/abi.js';
import { encodeScalar } from '../codec/codec.js';

export const CHANNEL_ID = 0;

const OP_WRITE = 0x01;
const OP_READ = 0x02;
const OP_CALL = 0x03;
const OP_TAKE = 0x04;
const OP_MODULE = 0x05;
const OP_SOURCE = 0x06;
const OP_RESULT = 0x07;
const OP_RELEASE = 0x08;
const OP_CLOCK = 0x09;

export const STATUS_OK = 0;
export const STATUS_ERROR = 1;
export const STATUS_PENDING = 2;
export const STATUS_ABSENT = 3;
/** An error to raise as it is: a Lua error passing back out through a host function. */
export const STATUS_RAISE = 4;
/** An answer kept by the host because it does not fit (resume): then a u32 length; the module takes it with OP_TAKE. */
export const STATUS_KEPT = 5;

/** Pieces of served sources stay under the module's first offer (no second request). */
const SOURCE_PIECE = 16383;

/** What the VM does with each operation (vm/lua.ts implements it). */
export interface ChannelHandlers {
  /** Output bytes for stream 1 (stdout) or 2 (stderr). */
  write(stream: number, bytes: Uint8Array): void;
  /** Up to `max` bytes of stdin; an empty array at its end. */
  read(max: number): Uint8Array;
  /**
   * Calls host function `id` with the codec arguments at `mem[at, end)`; the answer (status byte
   * first), either written at `mem[out]` when it fits in `room` bytes (then its length) or returned.
   */
  call(id: number, mem: Uint8Array, at: number, end: number, out: number, room: number): number | Uint8Array;
  /** The source of a module (`path`: package.path); the answer (status byte first). */
  module(name: string, path: string): Uint8Array;
  /** A piece of results too large for the I/O buffer. */
  result(piece: Uint8Array): void;
  /** The clock for a compute: seconds since 1970 (os.time, os.date) and of processor time (os.clock). */
  clock(): [unixSeconds: number, cpuSeconds: number];
}

const text = new TextDecoder();

export class HostChannel {
  private kept: Uint8Array | undefined;
  private sources = new Map<number, Uint8Array>();
  private nextSource = 1;
  private memory: WebAssembly.Memory | undefined;

  constructor(private readonly handlers: ChannelHandlers) {}

  attach(memory: WebAssembly.Memory): void {
    this.memory = memory;
  }

  private bytes = new Uint8Array(0);

  // The memory's bytes (the memory never grows; a view is renewed only if it was detached).
  private mem(): Uint8Array {
    if (this.bytes.byteLength === 0) this.bytes = new Uint8Array((this.memory as WebAssembly.Memory).buffer);
    return this.bytes;
  }

  /** Serves `bytes` in pieces as source `id` (code too large for the buffer, modules). */
  serve(bytes: Uint8Array): number {
    const id = this.nextSource++;
    if (this.nextSource > 0xffffffff) this.nextSource = 1;
    this.sources.set(id, bytes);
    return id;
  }

  /** Keeps bytes that do not fit the buffer (arguments, an async answer) for the module to take (OP_TAKE). */
  keep(bytes: Uint8Array): void {
    this.kept = bytes;
  }

  /** Forgets every served source (the compute ended). */
  endCompute(): void {
    if (this.sources.size !== 0) this.sources.clear();
    this.kept = undefined;
  }

  /** The imports of the module, with table id 0 routed here. */
  wrap(imports: ExternalTableImports): ExternalTableImports {
    const { js_ext_table_get: get, js_ext_table_set: set } = imports;
    return {
      ...imports,
      js_ext_table_get: (id, keyPtr, keyLen, valPtr, maxLen) =>
        id === CHANNEL_ID ? this.get(keyPtr, keyLen, valPtr, maxLen) : get(id, keyPtr, keyLen, valPtr, maxLen),
      js_ext_table_set: (id, keyPtr, keyLen, valPtr, valLen) =>
        id === CHANNEL_ID ? this.set(keyPtr, keyLen, valPtr, valLen) : set(id, keyPtr, keyLen, valPtr, valLen),
    };
  }

  private set(keyPtr: number, keyLen: number, valPtr: number, valLen: number): number {
    try {
      const mem = this.mem();
      const op = mem[keyPtr];
      const value = mem.slice(valPtr, valPtr + valLen);
      if (op === OP_WRITE && keyLen === 2) this.handlers.write(mem[keyPtr + 1], value);
      else if (op === OP_RESULT) this.handlers.result(value);
      else if (op === OP_RELEASE) return 0; // informational: host functions are kept by their VM
      else return -1;
      return 0;
    } catch {
      return -1; // the module raises "the host failed a channel message"
    }
  }

  private get(keyPtr: number, keyLen: number, valPtr: number, maxLen: number): number {
    let answer: Uint8Array;
    try {
      const mem = this.mem();
      const u32 = (at: number) => (mem[keyPtr + at] | (mem[keyPtr + at + 1] << 8) | (mem[keyPtr + at + 2] << 16) | (mem[keyPtr + at + 3] << 24)) >>> 0;
      switch (mem[keyPtr]) {
        case OP_TAKE: {
          const kept = this.kept;
          this.kept = undefined;
          if (!kept || kept.length > maxLen) return -2;
          this.mem().set(kept, valPtr);
          return kept.length;
        }
        case OP_READ: {
          const piece = this.handlers.read(Math.min(u32(1), maxLen - 1));
          answer = new Uint8Array(piece.length + 1);
          answer.set(piece, 1);
          break;
        }
        case OP_CALL: {
          const written = this.handlers.call(u32(1), mem, keyPtr + 5, keyPtr + keyLen, valPtr, maxLen);
          if (typeof written === 'number') return written;
          answer = written;
          break;
        }
        case OP_MODULE: {
          const n = u32(1);
          const name = text.decode(mem.subarray(keyPtr + 5, keyPtr + 5 + n));
          const path = text.decode(mem.subarray(keyPtr + 5 + n, keyPtr + keyLen));
          answer = this.handlers.module(name, path);
          break;
        }
        case OP_CLOCK: {
          let clock: [number, number];
          try {
            clock = this.handlers.clock();
          } catch (e) {
            // The module raises a Lua error with this message (status 1, one codec string).
            answer = errorAnswer((e instanceof Error ? e.message : String(e)).slice(0, 1000));
            break;
          }
          if (maxLen < 17) return -3;
          const view = new DataView(mem.buffer, valPtr, 17);
          view.setUint8(0, STATUS_OK);
          view.setFloat64(1, clock[0], true);
          view.setFloat64(9, clock[1], true);
          return 17;
        }
        case OP_SOURCE: {
          const source = this.sources.get(u32(1));
          if (!source) return -1;
          const from = u32(5);
          const piece = source.subarray(from, Math.min(source.length, from + Math.min(SOURCE_PIECE, maxLen - 1)));
          answer = new Uint8Array(piece.length + 1);
          answer.set(piece, 1);
          break;
        }
        default:
          return -1;
      }
    } catch {
      return -3; // the module raises "the host failed a channel request"
    }
    if (answer.length > maxLen) {
      this.kept = answer; // the module takes it with OP_TAKE into a buffer of this size
      return answer.length;
    }
    this.mem().set(answer, valPtr);
    return answer.length;
  }
}

/** An answer: status byte, then `payload`. */
export function answer(status: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = status;
  out.set(payload, 1);
  return out;
}

/** An error answer: status 1, then the message as one codec string. */
function errorAnswer(message: string): Uint8Array {
  return answer(STATUS_ERROR, encodeScalar(message) as Uint8Array);
}

/** A pending answer: status 2 and the promise id. */
export function pending(id: number): Uint8Array {
  const out = new Uint8Array(5);
  out[0] = STATUS_PENDING;
  new DataView(out.buffer).setUint32(1, id, true);
  return out;
}
