// compute(code_ptr, code_len): where the code is read, the result layout, captured output,
// error results and their kinds, input errors, and what happens when things do not fit.
import { RawHost, str, text, utf8 } from '../support/raw-host';

const h = RawHost.create();
const BUFFER = 65536;

/** Runs code placed at addr (not the start of the I/O buffer). */
function computeAt(host: RawHost, addr: number, code: string) {
  const bytes = utf8(code);
  host.mem.set(bytes, addr);
  return host.finish(host.exports.compute(addr, bytes.length));
}

describe('the code pointer', () => {
  it('is honoured: code in a block of the heap (from the exported lua_alloc) runs', () => {
    const code = 'return "from the heap", 7';
    const p = h.exports.lua_alloc(0, 0, 0, 64);
    expect(p).toBeGreaterThan(0);
    const buf = h.exports.get_buffer_ptr();
    expect(p < buf || p >= buf + BUFFER).toBe(true);
    h.mem.set(utf8('error("the buffer was run")'), buf); // what would run if the pointer were ignored
    const r = computeAt(h, p, code);
    expect(r.ok && r.values.map((v) => (typeof v === 'bigint' ? v : str(v)))).toEqual(['from the heap', 7n]);
    expect(h.exports.lua_alloc(0, p, 64, 0)).toBe(0);
  });

  it('is honoured: code in the middle of the I/O buffer runs, and its results start the buffer', () => {
    const buf = h.exports.get_buffer_ptr();
    h.mem.fill(0, buf, buf + 16);
    const r = computeAt(h, buf + 40000, 'return 40000');
    expect(r).toMatchObject({ ok: true, values: [40000n], bytes: 13 });
    expect(h.view.getUint32(buf, true)).toBe(0); // output length at the start of the buffer
    expect(h.mem[buf + 4]).toBe(2); // then the integer's tag
  });

  it('reads exactly code_len bytes', () => {
    const buf = h.exports.get_buffer_ptr();
    const bytes = utf8('return 1 -- and then an error()');
    h.mem.set(bytes, buf + 100);
    h.mem.set(utf8(' + 1'), buf + 108); // right after "return 1"
    expect(h.finish(h.exports.compute(buf + 100, 8))).toMatchObject({ ok: true, values: [1n] });
  });

  it('with code_len 0 returns 0 and writes nothing', () => {
    const buf = h.exports.get_buffer_ptr();
    h.mem.fill(0x77, buf, buf + 8);
    expect(h.exports.compute(buf, 0)).toBe(0);
    expect([...h.mem.subarray(buf, buf + 8)]).toEqual(Array(8).fill(0x77));
  });
});

describe('a successful compute', () => {
  it('returns u32 output length | output | results, and the length written', () => {
    const n = h.exports.compute(h.exports.get_buffer_ptr(), 0); // nothing
    expect(n).toBe(0);
    const r = h.compute('print("hi") return 1, "a"');
    // 4 + 3 (output) + 9 (integer) + 6 (string "a")
    expect(r).toMatchObject({ ok: true, output: 'hi\n', bytes: 4 + 3 + 9 + 6 });
    const buf = h.exports.get_buffer_ptr();
    expect([...h.mem.subarray(buf, buf + 22)]).toEqual([
      3, 0, 0, 0, ...utf8('hi\n'), 2, 1, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, ...utf8('a'),
    ]);
  });

  it('with no results writes only the output', () => {
    expect(h.compute('local x = 1')).toMatchObject({ ok: true, output: '', values: [], bytes: 4 });
    expect(h.compute('return')).toMatchObject({ ok: true, values: [], bytes: 4 });
  });

  it('keeps every result, in order, nils included', () => {
    expect(h.run('return nil, 1, nil')).toEqual([null, 1n, null]);
    expect(h.run('return select("#", 1, nil, 3), nil')).toEqual([3n, null]);
    const many = h.run('local t = {} for i = 1, 3000 do t[i] = i end return table.unpack(t)');
    expect(many).toHaveLength(3000);
    expect(many[2999]).toBe(3000n);
  });

  it('compiles the chunk as text with luaL_dostring semantics (varargs are empty)', () => {
    expect(h.run('return select("#", ...)')).toEqual([0n]);
  });
});

describe('captured output', () => {
  it('print uses tostring: TAB-separated, LF-terminated, integers vs floats as Lua prints them', () => {
    const r = h.compute('print(nil, true, 1, 1.0, -0.0, 1e100, 2^63, 1/0, -1/0, math.mininteger, 0.1, 1/3, "s") print()');
    expect(r.ok && r.output).toBe('nil\ttrue\t1\t1.0\t-0.0\t1e+100\t9.2233720368548e+18\tinf\t-inf\t-9223372036854775808\t0.1\t0.33333333333333\ts\n\n');
  });

  it('print applies __tostring and __name', () => {
    const r = h.compute(`
      local T = setmetatable({}, {__tostring = function() return "a T" end})
      local N = setmetatable({}, {__name = "MyType"})
      print(T, N)`);
    expect(r.ok && r.output).toMatch(/^a T\tMyType: 0x[0-9a-f]+\n$/);
    expect(h.fail('print(setmetatable({}, {__tostring = function() return {} end}))').message).toContain("'__tostring' must return a string");
  });

  it('print writes any bytes, NUL included', () => {
    const r = h.compute('print("a\\0b\\255")');
    expect(r.ok).toBe(true);
    const buf = h.exports.get_buffer_ptr();
    expect([...h.mem.subarray(buf, buf + 9)]).toEqual([5, 0, 0, 0, 0x61, 0, 0x62, 0xff, 0x0a]);
  });

  it('io.write and io.stdout:write go to the same output, numbers as Lua\'s io.write writes them', () => {
    const r = h.compute('print("p") io.write("a", 1, 2.5, 1e100, 1.0, -0.0, "\\n") io.stdout:write("b", 3):write("c") print(io.write("") == io.stdout)');
    expect(r.ok && r.output).toBe('p\na12.51e+1001-0\nb3ctrue\n');
  });

  it('starts empty for every compute', () => {
    h.run('print("first")');
    expect(h.compute('return 1')).toMatchObject({ ok: true, output: '' });
  });

  it('that does not fit is cut, and get_output_dropped reports exactly how much', () => {
    let r = h.compute('io.write(string.rep("a", 70000))');
    expect(r.ok && r.output.length).toBe(BUFFER - 4);
    expect(h.exports.get_output_dropped()).toBe(70000 - (BUFFER - 4));
    r = h.compute('for i = 1, 3 do io.write(string.rep("b", 30000)) end');
    expect(r.ok && r.output).toBe('b'.repeat(BUFFER - 4));
    expect(h.exports.get_output_dropped()).toBe(90000 - (BUFFER - 4));
    h.run('print("small")');
    expect(h.exports.get_output_dropped()).toBe(0);
  });

  it('yields room to the results, and the dropped count says so', () => {
    const r = h.compute('io.write(string.rep("a", 65532)) return "hello"');
    expect(r.ok && r.output.length).toBe(65532 - 10);
    expect(r.ok && r.values.map(str)).toEqual(['hello']);
    expect(h.exports.get_output_dropped()).toBe(10);
  });
});

describe('results that do not fit', () => {
  it('fill the buffer exactly at 65,532 bytes', () => {
    const r = h.compute('return string.rep("x", 65527)'); // 5 + 65527
    expect(r.ok && r.bytes).toBe(BUFFER);
    expect(r.ok && (r.values[0] as Uint8Array).length).toBe(65527);
  });

  it('are an error one byte later, never truncated', () => {
    const e = h.fail('return string.rep("x", 65528)');
    expect(e).toMatchObject({ kind: 2, message: 'results too large for the I/O buffer (65533 bytes; at most 65532)' });
    expect(h.fail('return {string.rep("x", 65520)}').message).toBe('results too large for the I/O buffer (65539 bytes; at most 65532)');
    expect(h.fail('return 1, string.rep("x", 65520)').message).toBe('results too large for the I/O buffer (65534 bytes; at most 65532)');
    expect(h.run('return 2')).toEqual([2n]);
  });
});

describe('an error result', () => {
  function raw(code: string): { n: number; message: string } {
    const bytes = utf8(code);
    const buf = h.exports.get_buffer_ptr();
    h.mem.set(bytes, buf);
    const n = h.exports.compute(buf, bytes.length);
    return { n, message: text(h.mem.subarray(buf, buf + Math.max(0, -n - 1))) };
  }

  it('returns -(length + 1) with Lua\'s standard message at the start of the buffer', () => {
    const { n, message } = raw("error('boom')");
    expect(message).toBe(`[string "error('boom')"]:1: boom`);
    expect(n).toBe(-(utf8(message).length + 1));
    expect(h.exports.get_error_kind()).toBe(2);
  });

  it('names the chunk as luaL_dostring does (first line, cut with "...")', () => {
    expect(h.fail('local t = nil\nreturn t.x').message).toBe(`[string "local t = nil..."]:2: attempt to index a nil value (local 't')`);
    const long = `local s = "${'y'.repeat(100)}" error("long")`;
    expect(h.fail(long).message).toMatch(/^\[string "local s = "y+\.\.\."\]:1: long$/);
  });

  it('is followed by the output printed before the error', () => {
    const r = h.fail('print("before") error("after", 0)');
    expect(r).toMatchObject({ message: 'after', output: 'before\n' });
  });

  it('has a kind for every cause: 1 syntax, 2 runtime, 3 memory, 4 limit, 5 input, 6 host', () => {
    expect(h.fail('return +')).toMatchObject({ kind: 1, message: `[string "return +"]:1: unexpected symbol near '+'` });
    expect(h.fail('local x = nil + 1').kind).toBe(2);
    expect(h.fail('local t = {} while true do t[#t + 1] = string.rep("x", 1000) .. #t end')).toMatchObject({ kind: 3, message: 'not enough memory' });
    h.exports.set_instruction_limit(10000);
    expect(h.fail('while true do end')).toMatchObject({ kind: 4, message: 'instruction limit exceeded (10000 instructions)' });
    h.exports.set_instruction_limit(0);
    expect(h.finish(h.exports.compute(2097152, 1))).toMatchObject({ ok: false, kind: 5 });
    const failing = RawHost.create({ overrides: { js_ext_table_set: () => -1 } });
    expect(failing.fail('_home.x = 1')).toMatchObject({ kind: 6, message: '[string "_home.x = 1"]:1: the host failed to store a value in external table 1' });
    expect(h.run('return 1')).toEqual([1n]);
    expect(h.exports.get_error_kind()).toBe(0);
  });

  it('turns error objects that are not strings into messages as lua.c does', () => {
    expect(h.fail('error(42)').message).toBe('42');
    expect(h.fail('error(42.5)').message).toBe('42.5');
    expect(h.fail('error()').message).toBe('(error object is a nil value)');
    expect(h.fail('error(true)').message).toBe('(error object is a boolean value)');
    expect(h.fail('error({})').message).toBe('(error object is a table value)');
    expect(h.fail('error(setmetatable({}, {__tostring = function() return "custom" end}))').message).toBe('custom');
    expect(h.fail('error(setmetatable({}, {__tostring = function() return {} end}))').message).toBe('(error object is a table value)');
    expect(h.fail('error(setmetatable({}, {__tostring = function() error("again") end}))').message).toBe('(error object is not a string)');
    expect(h.fail('error("plain", 0)').message).toBe('plain');
  });

  it('cuts a message longer than the buffer', () => {
    const r = h.fail('error(string.rep("m", 100000), 0)');
    // Room is kept for the three u32 lengths after it (output, traceback, error value).
    expect(r.message).toBe('m'.repeat(BUFFER - 12));
  });
});

describe('input errors (kind 5)', () => {
  it('a compute before init', () => {
    const fresh = RawHost.create({ init: false });
    expect(fresh.fail('return 1')).toMatchObject({ kind: 5, message: 'compute called before init' });
    expect(fresh.exports.init()).toBe(0);
    expect(fresh.run('return 1')).toEqual([1n]);
  });

  it('code longer than 65,536 bytes (code of exactly 65,536 runs)', () => {
    const exact = 'return 1' + ' '.repeat(BUFFER - 8);
    expect(h.run(exact)).toEqual([1n]);
    const tooLong = exact + ' ';
    expect(h.fail(tooLong)).toMatchObject({ kind: 5, message: 'code too long (65537 bytes; at most 65536)' });
    // code_len is read unsigned: -1 is 4 GiB, too long, not "empty" or "negative".
    expect(h.finish(h.exports.compute(h.exports.get_buffer_ptr(), -1))).toMatchObject({
      ok: false, kind: 5, message: 'code too long (4294967295 bytes; at most 65536)',
    });
  });

  it('a pointer outside linear memory', () => {
    for (const [ptr, len] of [[2097152, 1], [2097150, 3], [-16, 8], [0x7fffffff, 10]]) {
      expect(h.finish(h.exports.compute(ptr, len))).toMatchObject({ ok: false, kind: 5, message: 'code pointer outside linear memory' });
    }
    const r = computeAt(h, 2097152 - 8, 'return 8'); // the last bytes of memory are inside
    expect(r).toMatchObject({ ok: true, values: [8n] });
  });

  it('leave the VM working', () => {
    h.finish(h.exports.compute(-16, 8));
    expect(h.run('return "fine"').map(str)).toEqual(['fine']);
  });
});
