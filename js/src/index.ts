// lua-home: Lua 5.4 in 2 MB of WebAssembly whose _home table lives in the host.
export { Lua, TableView } from './vm/lua.js';
export type { ComputeResult, LuaOptions, LuaStats } from './vm/lua.js';
export { LuaError, LuaDecodeError, LuaClosedError } from './errors.js';
export type { LuaErrorKind } from './errors.js';
export { LuaFloat, LuaFunction } from './codec/codec.js';
export type { LuaValue } from './codec/codec.js';
export { loadModule } from './vm/loader.js';
export type { WasmSource } from './vm/loader.js';
export { TableHost, HostTable } from './host/tables.js';
export type { HostKey, HostValue } from './host/tables.js';
export * as abi from './abi/abi.js';
export * as codec from './codec/codec.js';
export { MemoryStore } from './stores/memory.js';
export { IndexedDBStore } from './stores/indexeddb.js';
export { StateCorruptError, ImageBuildError, encodeState, decodeState } from './stores/format.js';
export type { Store, TablesState, ChangeBatch, Change } from './stores/types.js';
