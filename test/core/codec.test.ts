// The value codec: every tag in results, exact bytes, and values written by the host decoded
// back into Lua.
import { decodeValue, encodeValue, fnv1a64, fromLatin1, RawHost, str, text, utf8, Value } from '../support/raw-host';

const h = RawHost.create();

/** The result bytes of a compute (after the output). */
function resultBytes(code: string): number[] {
  const r = h.compute(code);
  if (!r.ok) throw new Error(r.message);
  const buf = h.exports.get_buffer_ptr();
  const out = h.view.getUint32(buf, true);
  return [...h.mem.subarray(buf + 4 + out, buf + r.bytes)];
}
const f64 = (x: number) => [...new Uint8Array(new Float64Array([x]).buffer)];
const i64 = (x: bigint) => [...new Uint8Array(new BigInt64Array([x]).buffer)];
const u32 = (x: number) => [x & 255, (x >>> 8) & 255, (x >>> 16) & 255, x >>> 24];

describe('results', () => {
  it('nil and booleans', () => {
    expect(resultBytes('return nil, true, false')).toEqual([0, 1, 1, 1, 0]);
  });

  it('integers, min and max int64 included', () => {
    expect(resultBytes('return 0, -1, math.maxinteger, math.mininteger')).toEqual([
      2, ...i64(0n), 2, ...i64(-1n), 2, ...i64(9223372036854775807n), 2, ...i64(-9223372036854775808n),
    ]);
  });

  it('floats stay floats: 3.0, -0.0, inf, -inf, nan', () => {
    expect(resultBytes('return 3.0, -0.0, 1/0, -1/0')).toEqual([3, ...f64(3), 3, ...f64(-0), 3, ...f64(Infinity), 3, ...f64(-Infinity)]);
    const [nan] = h.run('return 0/0');
    expect(Number.isNaN(nan)).toBe(true);
    expect(Object.is(h.run('return -0.0')[0], -0)).toBe(true);
    expect(h.run('return math.type(3.0), 3.0')).toEqual([utf8('float'), 3]);
  });

  it('2^53 + 1 as a float is 2^53; as an integer it is exact', () => {
    expect(h.run('return 2^53 + 1, (1 << 53) + 1')).toEqual([9007199254740992, 9007199254740993n]);
  });

  it('strings of any bytes: empty, NUL, invalid UTF-8', () => {
    expect(resultBytes('return "", "a\\0b\\255\\254"')).toEqual([4, ...u32(0), 4, ...u32(5), 0x61, 0, 0x62, 0xff, 0xfe]);
    const [s] = h.run('local t = {} for i = 0, 255 do t[#t + 1] = string.char(i) end return table.concat(t)');
    expect([...(s as Uint8Array)]).toEqual(Array.from({ length: 256 }, (_, i) => i));
  });

  it('Lua functions: tag 05, u32 length, unstripped bytecode, then its FNV-1a 64 checksum', () => {
    const bytes = resultBytes('return function(alpha_param, beta_param) return alpha_param + beta_param end');
    expect(bytes[0]).toBe(5);
    const len = bytes[1] | (bytes[2] << 8) | (bytes[3] << 16) | (bytes[4] << 24);
    expect(bytes.length).toBe(5 + len);
    const payload = Uint8Array.from(bytes.slice(5));
    const code = payload.subarray(0, len - 8);
    expect([...code.subarray(0, 5)]).toEqual([0x1b, 0x4c, 0x75, 0x61, 0x54]); // "\27Lua" 5.4
    const sum = new DataView(payload.buffer).getBigUint64(len - 8, true);
    expect(sum).toBe(fnv1a64(code));
    // Not stripped: the parameter names are in the bytecode.
    const asText = String.fromCharCode(...code);
    expect(asText).toContain('alpha_param');
    expect(asText).toContain('beta_param');
  });

  it('functions that would change meaning are refused (captured locals, C functions)', () => {
    expect(h.fail('local x = 1 return function() return x end').message).toBe(
      "cannot return a function that captures the local 'x' (only functions whose one upvalue is the global _ENV persist; pass such values as arguments) (return value #1)",
    );
    expect(h.fail('return 1, print').message).toBe('cannot return a C function (return value #2)');
    expect(h.fail('return coroutine.create(function() end)').message).toBe('cannot return a thread (coroutine) (return value #1)');
  });

  it('external tables as references (tag 07)', () => {
    expect(resultBytes('return _home, ext.table()')).toEqual([7, ...u32(1), 7, ...u32(2)]);
  });

  it('plain tables inline (tag 08), nested', () => {
    const [t] = h.run('return {10, 20, x = {y = "z"}}');
    const pairs = (t as { inline: [Value, Value][] }).inline;
    expect(pairs).toHaveLength(3);
    const byKey = new Map(pairs.map(([k, v]) => [typeof k === 'bigint' ? `i${k}` : `s${str(k)}`, v]));
    expect(byKey.get('i1')).toBe(10n);
    expect(byKey.get('i2')).toBe(20n);
    expect(byKey.get('sx')).toEqual({ inline: [[utf8('y'), utf8('z')]] });
    expect(resultBytes('return {}')).toEqual([8, ...u32(0)]);
  });

  it('shared subtables are written once per reference', () => {
    const [t] = h.run('local s = {1} return {a = s, b = s}');
    const pairs = (t as { inline: [Value, Value][] }).inline;
    expect(pairs).toHaveLength(2);
    for (const [, v] of pairs) expect(v).toEqual({ inline: [[1n, 1n]] });
  });

  it('a cycle is an error, never an endless encoding', () => {
    expect(h.fail('local t = {} t.t = t return t').message).toBe(
      'cannot return a table that contains itself (a cycle cannot be returned inline; keep it in an external table) (return value #1)',
    );
    expect(h.fail('local a, b = {}, {} a[1] = b b[1] = a return 1, a').message).toContain('(return value #2)');
  });

  it('tables with metatables are refused', () => {
    expect(h.fail('return setmetatable({}, {})').message).toBe('cannot return a table with a metatable (its behaviour would be lost) (return value #1)');
  });

  it('a refusal deep inside a table is an error, not a partial result', () => {
    expect(h.fail('return {1, 2, {print}}').message).toBe('cannot return a C function (return value #1)');
    expect(h.run('return "next"').map(str)).toEqual(['next']);
  });
});

describe('values the host stores, read back by Lua', () => {
  const cases: [string, Value, string][] = [
    ['a boolean', true, 'return _home.v == true'],
    ['false', false, 'return _home.v == false'],
    ['max int64', 9223372036854775807n, 'return _home.v == math.maxinteger and math.type(_home.v) == "integer"'],
    ['min int64', -9223372036854775808n, 'return _home.v == math.mininteger'],
    ['-0.0', -0, 'return 1 / _home.v == -1/0 and math.type(_home.v) == "float"'],
    ['inf', Infinity, 'return _home.v == 1/0'],
    ['nan', NaN, 'return _home.v ~= _home.v'],
    ['2^53 + 1 as integer', 9007199254740993n, 'return _home.v == (1 << 53) + 1'],
    ['a float', 3, 'return math.type(_home.v) == "float" and _home.v == 3'],
    ['bytes', fromLatin1('a\x00\xff'), 'return _home.v == "a\\0\\255"'],
    ['the empty string', new Uint8Array(0), 'return _home.v == ""'],
    ['a reference', { ref: 77 }, 'return ext.id(_home.v) == 77 and type(_home.v) == "table"'],
  ];
  for (const [name, value, check] of cases) {
    it(`decodes ${name}`, () => {
      h.table(1).set('\x04v', encodeValue(value));
      expect(h.run(check)).toEqual([true]);
    });
  }

  it('decodes a stored nil (tag 00) as nil', () => {
    h.table(1).set('\x04v', Uint8Array.of(0));
    expect(h.run('return _home.v == nil, type(_home.v)')).toEqual([true, utf8('nil')]);
  });

  it('round-trips every scalar through the host byte for byte', () => {
    h.run('_home.a = {nil, true, 7, -0.0, "s\\0"} _home.i = math.mininteger _home.f = 0.1 _home.s = "\\255"');
    expect([...h.raw(1, 'i')!]).toEqual([2, ...i64(-9223372036854775808n)]);
    expect([...h.raw(1, 'f')!]).toEqual([3, ...f64(0.1)]);
    expect([...h.raw(1, 's')!]).toEqual([4, ...u32(1), 0xff]);
    const [ref] = decodeValue(h.raw(1, 'a')!, 0);
    const t = h.table((ref as { ref: number }).ref);
    expect([...t.keys()].sort()).toEqual(['\x022', '\x023', '\x024', '\x025']); // the nil at [1] is no entry
    expect([...t.get('\x024')!]).toEqual([3, ...f64(-0)]);
    expect(text(t.get('\x025')!.subarray(5))).toBe('s\0');
  });
});
