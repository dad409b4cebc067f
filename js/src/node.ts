// lua-home for Node: everything of the main entry, plus the file store (it uses node:fs).
export * from './index.js';
export { NodeFileStore, StateLockedError, StoreWriteError } from './stores/file.js';
export type { FileStoreOptions } from './stores/file.js';
export { FileVmStore } from './stores/file-vm.js';
export { luaToJSON, jsonToLua, JsonValueError, MAX_JSON_DEPTH } from './codec/json.js';
export type { Json } from './codec/json.js';
