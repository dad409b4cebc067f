// timeoutMs for a VM in this thread: a deadline checked where a running compute reaches the host.
// lua.wasm has no clock import and no way to be interrupted from outside: while a chunk runs, the
// only JavaScript that runs is the external-table host (the five imports). So the deadline is
// checked there, and once it has passed every later table operation of the compute fails; the
// compute then fails with kind 'timeout' and is rolled back (vm/lua.ts, run). Best effort: a
// chunk that never touches an external table is only judged when it ends (or by its instruction
// limit). A LuaWorker (worker/) is the form that can always be stopped.
import type { HostLimits } from '../host/limits.js';
import type { ExternalTableImports } from '../abi/abi.js';
import { LuaError } from '../errors.js';
import { TableHost } from '../host/tables.js';

/** Host calls between two readings of the clock (a reading costs about as much as a table read). */
const CALLS_PER_CHECK = 32;

/** The largest timeoutMs: what setTimeout accepts (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Checks a `timeoutMs` option: undefined or 0 (no timeout), else a positive number of
 * milliseconds up to MAX_TIMEOUT_MS. `who` names the API in the TypeError or RangeError.
 */
export function checkTimeoutMs(value: unknown, who: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number') {
    throw new TypeError(`${who}: option 'timeoutMs' must be a number of milliseconds, got ${value === null ? 'null' : typeof value}`);
  }
  if (!(value >= 0 && value <= MAX_TIMEOUT_MS)) {
    throw new RangeError(`${who}: option 'timeoutMs' must be from 0 (no timeout) to ${MAX_TIMEOUT_MS} milliseconds, got ${value}`);
  }
  return value;
}

/** The error of a compute stopped by its timeout. */
export function timeoutError(timeoutMs: number, how: string, output: Uint8Array | string = ''): LuaError {
  return new LuaError(`compute timed out: it ran past timeoutMs (${timeoutMs} ms) ${how}`, 'timeout', output);
}

/** The external-table host of a VM with `timeoutMs`: its imports refuse to serve a late compute. */
export class TimedTableHost extends TableHost {
  private deadline = Infinity;
  private countdown = CALLS_PER_CHECK;
  private expired = false;

  constructor(readonly timeoutMs: number) {
    super();
  }

  /** Starts a compute: its deadline is timeoutMs from now. */
  override begin(): void {
    this.deadline = performance.now() + this.timeoutMs;
    this.countdown = CALLS_PER_CHECK;
    this.expired = false;
    super.begin();
  }

  /** Whether the compute that just ended ran past its deadline (then it must fail). */
  late(): boolean {
    return this.expired || performance.now() > this.deadline;
  }

  /** The error of the compute that just ended late (`failed`: its own error, if it failed too). */
  timeoutError(failed: LuaError | undefined): LuaError {
    const how = this.expired ? '(stopped at an external-table operation)' : '(it ended after its deadline)';
    return timeoutError(this.timeoutMs, how, failed?.outputBytes);
  }

  // Whether the running compute is past its deadline (the clock is read every CALLS_PER_CHECK calls).
  private pastDeadline(): boolean {
    if (this.expired) return true;
    if (--this.countdown > 0) return false;
    this.countdown = CALLS_PER_CHECK;
    if (performance.now() <= this.deadline) return false;
    this.expired = true;
    this.error ??= new Error(`the compute ran past timeoutMs (${this.timeoutMs} ms)`);
    return true;
  }

  override imports(): ExternalTableImports {
    const inner = super.imports();
    return {
      js_ext_table_set: (id, kp, kl, vp, vl) => (this.pastDeadline() ? -1 : inner.js_ext_table_set(id, kp, kl, vp, vl)),
      js_ext_table_get: (id, kp, kl, vp, max) => (this.pastDeadline() ? -2 : inner.js_ext_table_get(id, kp, kl, vp, max)),
      js_ext_table_delete: (id, kp, kl) => (this.pastDeadline() ? -1 : inner.js_ext_table_delete(id, kp, kl)),
      js_ext_table_size: (id) => inner.js_ext_table_size(id), // cannot fail; the next operation will
      js_ext_table_keys: (id, buf, max) => (this.pastDeadline() ? -1 : inner.js_ext_table_keys(id, buf, max)),
    };
  }
}

/** The host for a VM's options: a TimedTableHost when `timeoutMs` asks for one. */
export function hostFor(options: { timeoutMs?: unknown; limits?: Partial<HostLimits> }): TableHost {
  const ms = checkTimeoutMs(options.timeoutMs, 'Lua.create');
  const host = ms > 0 ? new TimedTableHost(ms) : new TableHost();
  if (options.limits) Object.assign(host.limits, options.limits);
  return host;
}
