// get_live_tables: after run_gc, the ids of the external tables the VM still holds.
import { RawHost } from '../support/raw-host';

function live(h: RawHost, max = 1000): number[] {
  const p = h.exports.get_buffer_ptr();
  const n = h.exports.get_live_tables(p, max);
  const v = new DataView(h.exports.memory.buffer);
  return Array.from({ length: Math.min(n, max) }, (_, i) => v.getUint32(p + 4 * i, true)).sort((a, b) => a - b);
}

describe('get_live_tables', () => {
  it('lists the tables referenced inside the VM after a collection, and forgets the rest', () => {
    const h = RawHost.create();
    const [a, b, c] = h.run(`keep = ext.table() local tmp = ext.table() local up = ext.table()
      function f() return up end
      return ext.id(keep), ext.id(tmp), ext.id(up)`).map(Number);
    h.exports.run_gc();
    expect(live(h)).toEqual([1, a, c].sort((x, y) => x - y)); // _home, a global, an upvalue; not tmp
    expect(live(h)).not.toContain(b);
    h.run('keep = nil f = nil');
    h.exports.run_gc();
    expect(live(h)).toEqual([1]);
  });

  it('returns the full count when max is smaller, and 0 for memory it cannot write', () => {
    const h = RawHost.create();
    h.run('t = {} for i = 1, 10 do t[i] = ext.table() end');
    h.exports.run_gc();
    expect(h.exports.get_live_tables(h.exports.get_buffer_ptr(), 3)).toBe(11);
    expect(h.exports.get_live_tables(h.exports.memory.buffer.byteLength - 8, 3)).toBe(0);
    expect(h.exports.get_live_tables(0xfffffff0, 4)).toBe(0);
  });
});
