// get_memory_stats and run_gc, and a million computes that leave the heap where it started.
import { RawHost, utf8 } from '../support/raw-host';

function stats(h: RawHost, at = h.exports.get_buffer_ptr()): [number, number, number] {
  h.exports.get_memory_stats(at);
  return [h.view.getUint32(at, true), h.view.getUint32(at + 4, true), h.view.getUint32(at + 8, true)];
}

describe('get_memory_stats', () => {
  it('reports the buffer size, the heap in use and 32 pages', () => {
    const h = RawHost.create();
    const [buffer, heap, pages] = stats(h);
    expect(buffer).toBe(65536);
    expect(h.exports.get_buffer_size()).toBe(65536);
    expect(pages).toBe(32);
    expect(heap).toBeGreaterThan(4096); // a Lua state and its libraries
    expect(heap).toBeLessThan(256 * 1024);
  });

  it('reports the allocator\'s real count: it covers what Lua counts', () => {
    const h = RawHost.create();
    h.run('held = string.rep("h", 300000)');
    const [luaBytes] = h.run('return collectgarbage("count") * 1024');
    expect(stats(h)[1]).toBeGreaterThanOrEqual(luaBytes as number);
    expect(stats(h)[1]).toBeLessThan((luaBytes as number) + 64 * 1024);
  });

  it('grows when Lua allocates and falls when it frees and run_gc collects', () => {
    const h = RawHost.create();
    h.exports.run_gc();
    const start = stats(h)[1];
    h.run('held = string.rep("x", 200000)');
    const grown = stats(h)[1];
    expect(grown).toBeGreaterThanOrEqual(start + 200000);
    h.run('held = nil');
    h.exports.run_gc();
    expect(stats(h)[1]).toBeLessThan(start + 4096);
  });

  it('writes at any address whose 12 bytes lie in memory, and nothing at one that does not', () => {
    const h = RawHost.create();
    const end = 2097152;
    const saved = h.mem.slice(end - 24, end);
    expect(stats(h, end - 12)).toEqual([65536, expect.any(Number), 32]);
    h.mem.set(saved, end - 24); // put back what was there (the top of the heap)
    for (const at of [end - 11, end - 1, end, end + 100, -1, -12, 0x7fffffff]) {
      const before = h.mem.slice(end - 24, end);
      const low = h.mem.slice(0, 16);
      expect(() => h.exports.get_memory_stats(at)).not.toThrow();
      expect(h.mem.slice(end - 24, end)).toEqual(before);
      expect(h.mem.slice(0, 16)).toEqual(low);
    }
    expect(h.run('return 1')).toEqual([1n]);
  });
});

describe('run_gc', () => {
  it('really collects: garbage left by a compute is freed', () => {
    const h = RawHost.create();
    const code = 'local t = {} for i = 1, 3000 do t[i] = {i, tostring(i)} end';
    h.run(code); // once first, so the chunk cache and Lua's string table are part of the start
    h.exports.run_gc();
    const start = h.heapInUse();
    // Garbage a compute leaves behind: Lua's incremental collector has not finished with it.
    h.run(code);
    const after = h.heapInUse();
    expect(after).toBeGreaterThan(start + 100 * 1024);
    h.exports.run_gc();
    expect(h.heapInUse()).toBeLessThan(start + 4096);
  });

  it('runs finalizers, and is ignored before init', () => {
    const fresh = RawHost.create({ init: false });
    fresh.exports.run_gc();
    expect(fresh.exports.init()).toBe(0);
    fresh.run('setmetatable({}, {__gc = function() finalized = true end})');
    fresh.exports.run_gc();
    expect(fresh.run('return finalized')).toEqual([true]);
  });
});

describe('a million computes in a row', () => {
  it('leave the heap exactly where it started', () => {
    const h = RawHost.create();
    const buf = h.exports.get_buffer_ptr();
    // The code lives in the second half of the buffer, where results (at its start) never reach.
    const codes = ['return 1+1', '_home.n = (_home.n or 0) + 1', 'local t = {1, 2, 3} return #t, "x" .. #t', 'print("p") return nil']
      .map((c, i) => {
        const bytes = utf8(c);
        h.mem.set(bytes, buf + 32768 + 64 * i);
        return [buf + 32768 + 64 * i, bytes.length] as const;
      });
    const round = (times: number) => {
      for (let i = 0; i < times; i++) {
        for (const [at, len] of codes) if (h.exports.compute(at, len) < 0) throw new Error(`compute failed at ${i}`);
      }
    };
    round(1000); // the chunk cache holds the four chunks from here on: part of the baseline
    h.exports.run_gc();
    const baseline = h.heapInUse();
    round(250000);
    h.exports.run_gc();
    // Exact: the VM is deterministic, and nothing a compute does may stay behind.
    expect(h.heapInUse()).toBe(baseline);
    expect(h.run('return _home.n')).toEqual([251000n]);
  });
});
