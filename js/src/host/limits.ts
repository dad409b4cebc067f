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
