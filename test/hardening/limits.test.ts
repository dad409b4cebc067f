// Every limit of docs/ABI.md at its edge: just inside works, just outside is a clear error.
import { RawHost, str, utf8 } from '../support/raw-host';

let h: RawHost;
beforeEach(() => {
  h = RawHost.create();
});

describe('limits at their edges', () => {
  it('code: 65,536 bytes run, 65,537 are an input error', () => {
    const pad = (n: number) => `return 1 --${'x'.repeat(n - 'return 1 --'.length)}`;
    expect(utf8(pad(65536)).length).toBe(65536);
    expect(h.compute(pad(65536))).toMatchObject({ ok: true, values: [1n] });
    // The test host's buffer holds 65,536 bytes: the 65,537th byte lies beyond it, in memory.
    const r = h.computeBytes(utf8(pad(65537)));
    expect(r).toMatchObject({ ok: false, kind: 5, message: 'code too long (65537 bytes; at most 65536)' });
  });

  it('results: 65,532 bytes fit, one more is an error (never truncated)', () => {
    // A string result takes 1 + 4 + n bytes: n = 65,527 fills the 65,532 exactly.
    const ok = h.compute('return string.rep("r", 65527)');
    expect(ok.ok && str(ok.values[0]).length).toBe(65527);
    const r = h.fail('return string.rep("r", 65528)');
    expect(r.message).toBe('results too large for the I/O buffer (65533 bytes; at most 65532)');
  });

  it('output: what fits beside the results is kept, the rest is counted as dropped', () => {
    const r = h.compute('io.write(string.rep("o", 65532)) return nil');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.output.length + 1).toBe(65532); // the nil result takes one byte
    expect(h.exports.get_output_dropped()).toBe(1);
    const exact = h.compute('io.write(string.rep("o", 65532))');
    expect(exact.ok && exact.output.length).toBe(65532);
    expect(h.exports.get_output_dropped()).toBe(0);
  });

  it('keys: 65,535 bytes of text are stored, 65,536 are refused', () => {
    expect(h.run('local k = string.rep("k", 65535) _home[k] = 1 return _home[k]')).toEqual([1n]);
    expect(h.fail('_home[string.rep("k", 65536)] = 1').message).toMatch(/key too long for an external table/);
  });

  it('values: hundreds of KB store and load (800 KB from the host, 500 KB built in Lua); past the heap, a memory error', () => {
    const big = new Uint8Array(800 * 1024).fill(0x76);
    const value = new Uint8Array(5 + big.length);
    value[0] = 4;
    new DataView(value.buffer).setUint32(1, big.length, true);
    value.set(big, 5);
    h.table(1).set('\x04big', value);
    expect(h.run('_home.copy = _home.big return #_home.big, _home.big:sub(-3)').map((v) => (typeof v === 'bigint' ? v : str(v)))).toEqual([819200n, 'vvv']);
    expect(Buffer.compare(h.table(1).get('\x04copy')!, value)).toBe(0);
    expect(h.run('_home.built = string.rep("w", 500 * 1024) return #_home.built')).toEqual([512000n]);
    const r = h.fail('_home.huge = string.rep("v", 3 * 1024 * 1024)');
    expect(r.kind).toBe(3);
    expect(h.run('return #_home.big, #_home.built')).toEqual([819200n, 512000n]);
  });

  it('Lua stack: 10,000 slots; a call with a few thousand values works, past the stack it is an error', () => {
    expect(h.run('return select("#", table.unpack({}, 1, 9900))')).toEqual([9900n]);
    expect(h.fail('return select("#", table.unpack({}, 1, 10100))').message).toMatch(/too many results to unpack|stack overflow/);
  });

  it('C-level nesting: 200 (LUAI_MAXCCALLS); below it works', () => {
    const nest = (n: number) => `local function f(n) if n == 0 then return "bottom" end return select(2, pcall(f, n - 1)) end return f(${n})`;
    expect(h.run(nest(150)).map(str)).toEqual(['bottom']);
    const deep = h.compute(nest(250));
    // pcall catches the overflow at the bottom and passes its message up as a value.
    expect(deep.ok && str(deep.values[0])).toMatch(/stack overflow/);
  });

  it('table nesting: 200 levels copy into _home and return, 201 do not', () => {
    const nested = (n: number) => `local t = {} local c = t for i = 2, ${n} do c[1] = {} c = c[1] end return t`;
    expect(h.compute(nested(200)).ok).toBe(true);
    expect(h.fail(nested(201)).message).toMatch(/tables nested too deeply \(more than 200 levels\)/);
    expect(h.compute(`_home.t = (function() ${nested(200)} end)()`).ok).toBe(true);
    expect(h.fail(`_home.t = (function() ${nested(201)} end)()`).message).toMatch(/tables nested too deeply \(more than 200 levels\)/);
  });

  it('the chunk cache (64 chunks of up to 4,096 bytes) never changes a result', () => {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 70; i++) expect(h.run(`return ${i} -- ${round}`)).toEqual([BigInt(i)]);
    }
    const big = `return "${'b'.repeat(4100)}"`;
    expect(str(h.run(big)[0]).length).toBe(4100);
    expect(str(h.run(big)[0]).length).toBe(4100);
    // The same text returns a fresh result each time (globals are read at run time).
    h.run('x = 1');
    expect(h.run('return x')).toEqual([1n]);
    h.run('x = 2');
    expect(h.run('return x')).toEqual([2n]);
  });

  it('instructions (counted in steps: loop iterations, jumps, calls, returns): under the limit finishes, over it stops', () => {
    h.exports.set_instruction_limit(100_000);
    // One step per iteration of a numeric for loop whose body does not jump or call.
    expect(h.run('local n = 0 for i = 1, 99000 do n = n + i end return n')).toEqual([4900549500n]);
    const r = h.fail('local n = 0 for i = 1, 101000 do n = n + i end return n');
    expect(r).toMatchObject({ kind: 4, message: expect.stringContaining('instruction limit exceeded (100000 instructions)') });
    // Calls count too: a recursion of 100,000 calls cannot pass a limit of 100,000.
    expect(h.fail('local function f(n) if n == 0 then return 0 end return f(n - 1) end return f(100000)').kind).toBe(4);
    expect(h.run('local function f(n) if n == 0 then return 0 end return f(n - 1) end return f(1000)')).toEqual([0n]);
  });
});
