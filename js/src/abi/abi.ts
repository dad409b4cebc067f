// The raw ABI of lua.wasm (docs/ABI.md), typed: its exports, its imports, its constants.

/** Size of the I/O buffer (`get_buffer_size`). */
export const BUFFER_SIZE = 65536;
/** Pages of linear memory: 2 MiB, initial = maximum. */
export const MEMORY_PAGES = 32;
/** The longest code `compute` accepts. */
export const MAX_CODE_BYTES = 65536;

/** `get_error_kind` codes. */
export const ERROR_KIND_CODES = {
  0: 'none',
  1: 'syntax',
  2: 'runtime',
  3: 'memory',
  4: 'limit',
  5: 'input',
  6: 'host',
  7: 'cancelled',
  8: 'quota',
} as const;

/** What `run`, `call` and `resume` return when the compute waits for a host Promise. */
export const SUSPENDED = -2147483648;
/** set_host_channel's flags. */
export const CHANNEL_ON = 1;
export const CHANNEL_LINE_OUTPUT = 2;
/** The host answers clock requests (channel operation 9): the module asks at a compute's first reading. */
export const CHANNEL_CLOCK = 4;
/** run's and call's flags. */
export const RUN_SERVED_CODE = 1;
export const RUN_ASYNC = 2;
export const RUN_NAMED = 4;
export const RUN_LOAD_ONLY = 8;
/** The arguments did not fit the buffer: the host keeps them, and the module takes them (args_len bytes). */
export const RUN_KEPT_ARGS = 16;

/** The exports of lua.wasm: the documented ABI and its additive exports. */
export interface LuaWasmExports {
  readonly memory: WebAssembly.Memory;
  init(): number;
  compute(codePtr: number, codeLen: number): number;
  get_buffer_ptr(): number;
  get_buffer_size(): number;
  get_memory_stats(ptr: number): void;
  run_gc(): void;
  attach_memory_table(id: number): void;
  get_memory_table_id(): number;
  sync_external_table_counter(nextId: number): void;
  set_memory_alias_enabled(enabled: number): void;
  lua_alloc(ud: number, ptr: number, osize: number, nsize: number): number;
  // additive
  set_instruction_limit(limit: number): void;
  get_error_kind(): number;
  get_output_dropped(): number;
  /** The steps the last compute (or run_gc) took, charges for work included (docs/ABI.md, "Steps"). */
  get_steps_used(): number;
  get_external_table_counter(): number;
  set_clock(unixSeconds: number, cpuSeconds: number): void;
  set_random_seed(a: bigint, b: bigint): void;
  set_alloc_fail_at(n: number): void;
  get_build_id(): bigint;
  /** The string-hash seed of the next init. */
  set_hash_seed(seed: number): void;
  /** The Lua release: major * 10000 + minor * 100 + release (50407: Lua 5.4, release 7). */
  get_lua_version(): number;
  /** After run_gc: the ids of the external tables alive in the VM, u32 each at ptr (at most max); returns the count. */
  get_live_tables(ptr: number, max: number): number;
  // the host channel (docs/ABI.md, "The host channel")
  set_host_channel(flags: number): void;
  run(codePtr: number, codeLen: number, argsPtr: number, argsLen: number, flags: number): number;
  call(handle: number, argsPtr: number, argsLen: number, flags: number): number;
  resume(answerPtr: number, answerLen: number): number;
  cancel(): number;
  release_handle(handle: number): void;
  get_handle_count(): number;
  dump_handle(handle: number): number;
}

/** The five imports lua.wasm needs: the external-table host (module "env"). */
export interface ExternalTableImports {
  js_ext_table_set(id: number, keyPtr: number, keyLen: number, valPtr: number, valLen: number): number;
  js_ext_table_get(id: number, keyPtr: number, keyLen: number, valPtr: number, maxLen: number): number;
  js_ext_table_delete(id: number, keyPtr: number, keyLen: number): number;
  js_ext_table_size(id: number): number;
  js_ext_table_keys(id: number, bufPtr: number, maxLen: number): number;
}

export interface LuaWasmImports {
  env: ExternalTableImports;
}

const FUNCTION_EXPORTS = [
  'init', 'compute', 'get_buffer_ptr', 'get_buffer_size', 'get_memory_stats', 'run_gc',
  'attach_memory_table', 'get_memory_table_id', 'sync_external_table_counter',
  'set_memory_alias_enabled', 'lua_alloc', 'set_instruction_limit', 'get_error_kind',
  'get_output_dropped', 'get_steps_used', 'get_external_table_counter', 'set_clock', 'set_random_seed',
  'set_alloc_fail_at', 'get_build_id', 'get_live_tables', 'set_hash_seed', 'get_lua_version',
  'set_host_channel', 'run', 'call', 'resume', 'cancel', 'release_handle', 'get_handle_count', 'dump_handle',
] as const;

/** The Lua release of a module, as text ("major.minor.release"), from `get_lua_version`. */
export function luaRelease(exports: Pick<LuaWasmExports, 'get_lua_version'>): string {
  const n = exports.get_lua_version();
  return `${Math.floor(n / 10000)}.${Math.floor(n / 100) % 100}.${n % 100}`;
}

/** Checks that an instance has every export of the ABI and returns them typed. */
export function luaWasmExports(instance: WebAssembly.Instance): LuaWasmExports {
  const exports = instance.exports as Record<string, unknown>;
  for (const name of FUNCTION_EXPORTS) {
    if (typeof exports[name] !== 'function') throw new TypeError(`lua.wasm: export '${name}' is missing`);
  }
  if (!(exports.memory instanceof WebAssembly.Memory)) throw new TypeError(`lua.wasm: export 'memory' is missing`);
  return exports as unknown as LuaWasmExports;
}
