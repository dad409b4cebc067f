// Named errors of lua-home.

/** Why a compute failed. */
export type LuaErrorKind = 'syntax' | 'runtime' | 'memory' | 'limit' | 'input' | 'host';

/** A failed compute: Lua's own message, its kind, and what the chunk printed before failing. */
export class LuaError extends Error {
  readonly kind: LuaErrorKind;
  readonly output: string;

  constructor(message: string, kind: LuaErrorKind, output = '', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LuaError';
    this.kind = kind;
    this.output = output;
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
