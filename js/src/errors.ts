// Named errors of lua-home.

/**
 * Why a compute failed ('timeout': it ran past timeoutMs; 'quota': a write would have crossed
 * one of the host's limits, HostLimits).
 */
export type LuaErrorKind = 'syntax' | 'runtime' | 'memory' | 'limit' | 'input' | 'host' | 'timeout' | 'quota';

/** A failed compute: Lua's own message, its kind, and what the chunk printed before failing. */
export class LuaError extends Error {
  readonly kind: LuaErrorKind;
  /** The output as text (bytes that are not UTF-8 read as U+FFFD). */
  readonly output: string;
  /** The output: the exact bytes. */
  readonly outputBytes: Uint8Array;
  /** Lua's traceback at the error point ('' when there is none). */
  readonly traceback: string;
  /**
   * The error object itself: the message for a string, else the value Lua raised
   * (`error({ code = 42 })` gives `{ code: 42 }`).
   */
  readonly value: unknown;

  /** `output` given as bytes is kept exactly (`outputBytes`) and decoded for `output`. */
  constructor(message: string, kind: LuaErrorKind, output: string | Uint8Array = '',
    options?: { cause?: unknown; traceback?: string; value?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.traceback = options?.traceback ?? '';
    this.value = options && 'value' in options ? options.value : message;
    this.name = 'LuaError';
    this.kind = kind;
    if (typeof output === 'string') {
      this.output = output;
      this.outputBytes = new TextEncoder().encode(output);
    } else {
      this.output = output.length === 0 ? '' : new TextDecoder().decode(output);
      this.outputBytes = output;
    }
  }
}

/** Bytes that are not a valid encoding (codec values, state, snapshots, images). */
export class LuaDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LuaDecodeError';
  }
}

/** A Lua function handle used after `release()` (or after its VM replaced its instance). */
export class LuaHandleReleasedError extends Error {
  constructor(message = 'this Lua function handle was released') {
    super(message);
    this.name = 'LuaHandleReleasedError';
  }
}

/** A VM used after `close()`. */
export class LuaClosedError extends Error {
  constructor() {
    super('this Lua VM is closed');
    this.name = 'LuaClosedError';
  }
}
