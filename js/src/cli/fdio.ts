// Byte-exact, synchronous reads and writes on the process's file descriptors (0, 1, 2), usable
// from the CLI's worker thread: what Lua writes reaches the descriptor as it is produced.
import { readSync, writeSync } from 'node:fs';

const nap = new Int32Array(new SharedArrayBuffer(4));
const RETRY_MS = 5; // a descriptor in non-blocking mode that is not ready yet: wait this long

function sleep(ms: number): void {
  Atomics.wait(nap, 0, 0, ms);
}

function isCode(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

/** The reader (stdout or stderr) went away: what lua meets as SIGPIPE. */
export class BrokenPipeError extends Error {
  constructor(readonly fd: number) {
    super(`fd ${fd}: broken pipe`);
    this.name = 'BrokenPipeError';
  }
}

/** Writes every byte to `fd` (retrying partial writes and EAGAIN). */
export function writeAll(fd: number, bytes: Uint8Array | string): void {
  let data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  while (data.length > 0) {
    let n: number;
    try {
      n = writeSync(fd, data);
    } catch (e) {
      if (isCode(e, 'EAGAIN')) {
        sleep(RETRY_MS);
        continue;
      }
      if (isCode(e, 'EPIPE')) throw new BrokenPipeError(fd);
      throw e;
    }
    data = data.subarray(n);
  }
}

/** Reads up to `max` bytes from `fd`; an empty array at the end of input. */
export function readSome(fd: number, max: number): Uint8Array {
  const buf = Buffer.alloc(Math.max(1, Math.min(max, 1 << 16)));
  for (;;) {
    try {
      const n = readSync(fd, buf, 0, buf.length, null);
      return buf.subarray(0, n);
    } catch (e) {
      if (isCode(e, 'EAGAIN')) {
        sleep(RETRY_MS);
        continue;
      }
      if (isCode(e, 'EOF')) return new Uint8Array(0);
      throw e;
    }
  }
}

/** Reads `fd` to its end. */
export function readAll(fd: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (;;) {
    const got = readSome(fd, 1 << 16);
    if (got.length === 0) return Buffer.concat(parts);
    parts.push(Buffer.from(got));
  }
}
