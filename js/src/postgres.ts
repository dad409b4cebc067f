// lua-home for Node with PostgreSQL: everything of `lua-home/node`, plus the PostgreSQL store
// (it needs the `pg` package, an optional peer dependency).
export * from './node.js';
export { PostgresStore, SchemaVersionError, LeaseHeldError, LeaseLostError, SCHEMA_VERSION } from './stores/postgres.js';
export type { PostgresStoreOptions, PostgresSaveOptions } from './stores/postgres.js';
