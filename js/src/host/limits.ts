// Limits of the host's tables, and the error of a write that would cross one.

/**
 * Entries one external table may hold: 2^24 - 1. A JavaScript Map or Set holds at most 2^24
 * entries (V8), and saving and loading a table goes through a Map of its keys; a table one entry
 * short of that always saves and loads.
 */
export const MAX_TABLE_ENTRIES = 2 ** 24 - 1;

/** External tables the host may hold at once (it keeps them in one Map): 2^24 - 1, likewise. */
export const MAX_TABLES = 2 ** 24 - 1;

/** A write refused because a table, or the host's set of tables, would cross its limit. */
export class TableFullError extends RangeError {
  constructor(readonly tableId: number, readonly limit: number, tables = false) {
    super(tables
      ? `cannot create external table ${tableId}: the host holds ${limit.toLocaleString('en')} tables, the most it may`
      : `external table ${tableId} is full: it holds ${limit.toLocaleString('en')} entries, the most a table may (docs/PERSISTENCE.md)`);
    this.name = 'TableFullError';
  }
}

/**
 * What the scripts of one VM may make the host hold (docs/ABI.md, "Limits"). Each has a safe
 * default; `Lua.create({ limits })` raises or lowers them.
 */
export interface HostLimits {
  /** Bytes of keys and values across the VM's external tables, with a per-entry and per-table overhead (default 64 MiB). */
  hostBytes: number;
  /** External tables the VM may have (default 65,536; at most MAX_TABLES). */
  tables: number;
  /** Host memory one compute may hold while it runs: the old values its undo log keeps (default 64 MiB). */
  computeBytes: number;
}

export const DEFAULT_LIMITS: Readonly<HostLimits> = Object.freeze({
  hostBytes: 64 * 1024 * 1024,
  tables: 65536,
  computeBytes: 64 * 1024 * 1024,
});

/** Bytes counted for each entry of an external table beside its key and value (the Map's own cost). */
export const ENTRY_OVERHEAD = 40;
/** Bytes counted for each external table. */
export const TABLE_OVERHEAD = 200;

/** What the set import answers for a write refused by each quota (docs/ABI.md). */
export const QUOTA_ANSWERS = { hostBytes: -3, tables: -4, computeBytes: -5 } as const;

/**
 * A write refused because it would cross one of the VM's quotas (HostLimits). In Lua it is an
 * error at the write (pcall catches it); uncaught, the compute fails with a LuaError of kind
 * 'quota' whose cause is this error, and is rolled back.
 */
export class QuotaError extends RangeError {
  constructor(readonly limit: keyof HostLimits, readonly value: number, readonly wanted: number) {
    super(limit === 'tables'
      ? `host quota exceeded: the VM would have more than ${value.toLocaleString('en')} external tables (limits.tables)`
      : limit === 'hostBytes'
        ? `host quota exceeded: the VM's external tables would hold ${wanted.toLocaleString('en')} bytes, more than limits.hostBytes = ${value.toLocaleString('en')}`
        : `host quota exceeded: this compute's changes would hold ${wanted.toLocaleString('en')} bytes of host memory, more than limits.computeBytes = ${value.toLocaleString('en')}`);
    this.name = 'QuotaError';
  }
}
