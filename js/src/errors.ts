// Named errors of lua-home.

/** Why a compute failed ('timeout': it ran past timeoutMs). */
export type LuaErrorKind = 'syntax' | 'runtime' | 'memory' | 'limit' | 'input' | 'host' | 'timeout';

/** A failed compute: Lua's own message, its kind, and what the chunk printed before failing. */
export class LuaError extends Error {
  readonly kind: LuaErrorKind;
  /** The output as text (bytes that are not UTF-8 read as U+FFFD). */
  readonly output: string;
  /** The output: the exact bytes. */
  readonly outputBytes: Uint8Array;

  /** `output` given as bytes is kept exactly (`outputBytes`) and decoded for `output`. */
  constructor(message: string, kind: LuaErrorKind, output: string | Uint8Array = '', options?: { cause?: unknown }) {
    super(message, options);
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

/** A VM used after `close()`. */
export class LuaClosedError extends Error {
  constructor() {
    super('this Lua VM is closed');
    this.name = 'LuaClosedError';
  }
}
