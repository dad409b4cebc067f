// The JSON value rule of lua-home serve (js/src/codec/json.ts), both ways: what JSON can say is
// plain JSON, the rest one-key `$` objects; bad tags and payloads are refused with where they are.
import { jsonToLua, JsonValueError, LuaFloat, LuaFunction, luaToJSON, MAX_JSON_DEPTH } from '../../js/src/node';

describe('luaToJSON', () => {
  it('writes every kind of value by the rule', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(luaToJSON([undefined, true, 'text', 1.5, -7, 2n ** 62n, NaN, Infinity, -Infinity, -0, new LuaFloat(3), new LuaFloat(0.5),
      new Uint8Array([0xff, 0]), new LuaFunction(new Uint8Array([1, 2, 3])), [1, [2]], { a: { b: [] } }, new Map<unknown, unknown>([[1, 'x'], [true, 2n ** 63n - 1n]]),
      { $x: 1, y: 2 }, cyclic])).toEqual([
      null, true, 'text', 1.5, -7, { $int: '4611686018427387904' }, { $float: 'nan' }, { $float: 'inf' }, { $float: '-inf' }, { $float: '-0' },
      { $float: '3' }, 0.5, { $bytes: '/wA=' }, { $function: 'AQID' }, [1, [2]], { a: { b: [] } }, { $map: [[1, 'x'], [true, { $int: '9223372036854775807' }]] },
      { $map: [['$x', 1], ['y', 2]] }, { a: 1, self: { $cycle: true } },
    ]);
  });

  it('refuses nesting deeper than the limit', () => {
    let deep: unknown[] = [];
    for (let i = 0; i < MAX_JSON_DEPTH + 5; i++) deep = [deep];
    expect(() => luaToJSON(deep)).toThrow(JsonValueError);
  });
});

describe('jsonToLua', () => {
  it('reads every tag, and plain JSON as itself', () => {
    expect(jsonToLua([null, true, 'x', 2, 2.5, { $int: '-9223372036854775808' }, { $float: 'nan' }, { $float: '-0' }, { $float: 3 }, { $float: '1e3' },
      { $bytes: 'AQI=' }, { $map: [[1, 'a'], [{ $int: '5' }, [true]]] }, { a: [1, { b: null }] }])).toEqual([
      undefined, true, 'x', 2, 2.5, -(2n ** 63n), new LuaFloat(NaN), new LuaFloat(-0), new LuaFloat(3), new LuaFloat(1000),
      new Uint8Array([1, 2]), new Map<unknown, unknown>([[1, 'a'], [5n, [true]]]), { a: [1, { b: undefined }] },
    ]);
  });

  it('round-trips what luaToJSON writes (but functions and cycles, which are one-way)', () => {
    const values = [1, 'two', 2n ** 60n, NaN, -Infinity, new Uint8Array([0xfe]), [1, 2], { k: 'v' }, new Map([[1, 'a'], [2.5, 'b']])];
    const back = jsonToLua(JSON.parse(JSON.stringify(luaToJSON(values)))) as unknown[];
    expect(back.map((v) => (v instanceof LuaFloat ? v.value : v))).toEqual(values);
  });

  it('refuses bad tags and payloads, saying where', () => {
    const bad = (j: unknown) => {
      try {
        jsonToLua(j, 'args[0]');
      } catch (e) {
        expect(e).toBeInstanceOf(JsonValueError);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ $int: 5 })).toMatch(/^args\[0\]: \$int wants a decimal integer as a string/);
    expect(bad({ $int: '9223372036854775808' })).toMatch(/does not fit in 64 bits/);
    expect(bad({ $float: 'big' })).toMatch(/\$float wants a number/);
    expect(bad({ $bytes: 'not base64!' })).toMatch(/\$bytes wants base64/);
    expect(bad({ $map: [[null, 1]] })).toMatch(/^args\[0\]\.\$map\[0\]: a pair is \[key, value\]/);
    expect(bad({ $map: {} })).toMatch(/\$map wants an array/);
    expect(bad({ $int: '1', other: 2 })).toMatch(/must be a tag alone/);
    expect(bad({ a: [{ $what: 1 }] })).toMatch(/^args\[0\]\.a\[0\]: unknown tag "\$what"/);
  });
});
