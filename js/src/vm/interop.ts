// What crosses between Lua and JavaScript besides values: Lua functions held as handles, several
// results from a host function, output sinks and stdin sources.
import { LuaClosedError, LuaHandleReleasedError } from '../errors.js';
import type { ComputeResult, Lua } from './lua.js';

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * A Lua function that reached JavaScript (a result, a global, an argument of a host function).
 * It keeps the function alive in its VM until `release()` or until the handle is garbage
 * collected.
 */
export class LuaFunctionHandle {
  private released = false;

  /** @internal */
  constructor(private readonly lua: Lua, private readonly id: number) {}

  /** @internal */
  belongsTo(lua: Lua): boolean {
    return this.lua === lua;
  }

  /** @internal The handle id, checked live. */
  handleId(): number {
    if (this.released) throw new LuaHandleReleasedError();
    if (this.lua.isClosed) throw new LuaClosedError();
    return this.id;
  }

  /** Calls the function: the same result as a compute (values, value, output). */
  call(...args: unknown[]): ComputeResult {
    return this.lua.callHandle(this.handleId(), args, false) as ComputeResult;
  }

  /** Calls the function where it may call asynchronous host functions (as computeAsync). */
  callAsync(...args: unknown[]): Promise<ComputeResult> {
    try {
      return this.lua.callHandle(this.handleId(), args, true) as Promise<ComputeResult>;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Lets the VM collect the function; the handle cannot be used afterwards. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.lua.releaseHandle(this, this.id);
  }

  get isReleased(): boolean {
    return this.released;
  }

  toJSON(): { luaFunction: number } {
    return { luaFunction: this.id };
  }

  [INSPECT](): string {
    return `[LuaFunction #${this.id}${this.released ? ' (released)' : ''}]`;
  }
}

/** Several results of a host function: `return multi(a, b)` gives Lua `a, b`. */
export class Multiple {
  constructor(readonly values: unknown[]) {}
}

/** Several results from a host function (a JS array would be one Lua table). */
export function multi(...values: unknown[]): Multiple {
  return new Multiple(values);
}

/** Where output goes: a function of bytes, or a writable stream (Node's process.stdout, a Writable). */
export type OutputSink = ((bytes: Uint8Array) => void) | { write(chunk: Uint8Array): unknown };

/** What stdin reads: text, bytes, or a function giving up to `max` bytes (empty or null at the end). */
export type StdinSource = string | Uint8Array | ((max: number) => Uint8Array | string | null | undefined);

export function toSink(sink: OutputSink): (bytes: Uint8Array) => void {
  if (typeof sink === 'function') return sink;
  return (bytes) => {
    sink.write(bytes);
  };
}

const encoder = new TextEncoder();

export function toStdin(source: StdinSource | undefined): (max: number) => Uint8Array {
  if (source === undefined) return () => new Uint8Array(0);
  if (typeof source === 'function') {
    let pending: Uint8Array = new Uint8Array(0);
    return (max) => {
      if (pending.length === 0) {
        const got = source(max);
        if (got === null || got === undefined) return new Uint8Array(0);
        pending = typeof got === 'string' ? encoder.encode(got) : got;
        if (!(pending instanceof Uint8Array)) throw new TypeError('stdin: the reader must give bytes, a string or null');
      }
      const piece = pending.subarray(0, max);
      pending = pending.subarray(piece.length);
      return piece;
    };
  }
  let rest: Uint8Array = typeof source === "string" ? encoder.encode(source) : source;
  return (max) => {
    const piece = rest.subarray(0, max);
    rest = rest.subarray(piece.length);
    return piece;
  };
}
