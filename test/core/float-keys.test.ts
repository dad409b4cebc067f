// Float keys have one text on both sides (docs/ABI.md, "Keys"): the module (cpp/codec.cpp) and the
// package (js/src/codec/codec.ts) write the shortest decimal that reads back to the double, the
// nearest of them, laid out as C's "%.Pg" lays out P significant digits. A key written from
// JavaScript is the key Lua reads, and the other way round.
import { Lua, LuaFloat } from '../../js/src/node';
import { hostKey, shortestFloat } from '../../js/src/codec/codec';

// A small seeded generator (mulberry32): the same doubles on every run.
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomDoubles(seed: number, count: number): number[] {
  const next = generator(seed);
  const bits = new DataView(new ArrayBuffer(8));
  const out: number[] = [];
  while (out.length < count) {
    switch (out.length % 4) {
      case 0: // any bit pattern: every exponent, subnormals included
        bits.setUint32(0, Math.floor(next() * 2 ** 32));
        bits.setUint32(4, Math.floor(next() * 2 ** 32));
        out.push(bits.getFloat64(0));
        break;
      case 1: // decimal-looking numbers, where near-ties live
        out.push(Math.floor((next() - 0.5) * 2e9) / 10 ** Math.floor(next() * 21));
        break;
      case 2: // a few digits times a power of ten
        out.push(Math.floor(next() * 1e6) * 10 ** Math.floor(next() * 600 - 300));
        break;
      default: // a fraction above a large power of two: 17 digits, exact ties among them
        out.push(2 ** (40 + Math.floor(next() * 12)) + Math.floor(next() * 64) / 4);
    }
  }
  return out.filter((x) => !Number.isNaN(x));
}

const EDGES = [
  5e-324, 1e-323, 2.225073858507201e-308, 2.2250738585072014e-308, 1.7976931348623157e308, 2 ** 53 - 0.5,
  2 ** 52 + 0.5, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e21, 1e22, 1e-7, 1e-5, 1e-4, 1.5e-4, 0.1, 0.5, 1 / 3,
  2 / 3, 123456.789, 2 ** 50 + 0.25, 2 ** 50 + 0.75, 9007199254740991.5, 4.35, 0.3, 1e300, 1e-300, 1e15 + 0.5,
  ...Array.from({ length: 2098 }, (_, i) => 2 ** (i - 1074)), // every power of two: intervals uneven below them
  Infinity,
];

// Stores every double as a key from Lua (value: its index) and returns the key bytes the module wrote.
function keysFromLua(lua: Lua, xs: number[]): Map<number, string> {
  const bytes = new Uint8Array(new Float64Array(xs).buffer);
  lua.home.set('data', bytes);
  lua.compute(`local data, t = _home.data, ext.table()
    for i = 1, #data // 8 do t[string.unpack("<d", data, i * 8 - 7)] = i end
    _home.out = t`);
  const t = lua.host.tables.get((lua.home.get('out') as { id: number }).id)!;
  const byIndex = new Map<number, string>();
  for (const [key, value] of t) byIndex.set(Number(new DataView(value.buffer, value.byteOffset).getBigInt64(1, true)) - 1, key);
  return byIndex;
}

function signedEdges(): number[] {
  return EDGES.flatMap((x) => [x, -x]);
}

describe('float keys: one text in the module and in JavaScript', () => {
  it.each([1, 2])('the module and hostKey write the same bytes for 10,000+ random doubles and the edge cases (seed %d)', async (seed) => {
    const lua = await Lua.create();
    const xs = [...new Set([...randomDoubles(seed, 10_500), ...signedEdges()])];
    const fromLua = keysFromLua(lua, xs);
    const bad: string[] = [];
    xs.forEach((x, i) => {
      const c = fromLua.get(i);
      if (c !== undefined && c !== hostKey(x)) bad.push(`${x}: module ${JSON.stringify(c)}, js ${JSON.stringify(hostKey(x))}`);
    });
    expect(fromLua.size).toBe(xs.length); // distinct doubles are distinct keys: none merged
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('a key written from JavaScript is the key Lua reads, and Lua writes no second entry', async () => {
    const lua = await Lua.create();
    const xs = [...new Set([2 ** 50 + 0.25, ...randomDoubles(3, 4000), ...signedEdges()])];
    const t = lua.newTable();
    xs.forEach((x, i) => t.set(x, i + 1));
    lua.home.set('t', t);
    lua.home.set('data', new Uint8Array(new Float64Array(xs).buffer));
    const r = lua.compute(`local data, t, missed = _home.data, _home.t, 0
      for i = 1, #data // 8 do
        local x = string.unpack("<d", data, i * 8 - 7)
        if t[x] == nil then missed = missed + 1 end
        t[x] = t[x] or i
      end
      return missed`);
    expect(r.value).toBe(0);
    expect(t.size).toBe(xs.length);
    expect(t.get(2 ** 50 + 0.25)).toBe(1);
  });

  it('the text is the shortest decimal that reads back, with the digits String() picks', () => {
    for (const x of [...randomDoubles(4, 20_000), ...signedEdges()]) {
      const text = shortestFloat(x);
      if (!Number.isFinite(x)) continue;
      expect(Number(text)).toBe(x);
      const digits = (s: string) => s.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
      expect(digits(text)).toBe(digits(String(x)));
    }
    expect(shortestFloat(2 ** 50 + 0.25)).toBe('1125899906842624.2');
    expect(shortestFloat(1e21)).toBe('1e+21');
    expect(shortestFloat(1e-7)).toBe('1e-07');
    expect(shortestFloat(1.5e-4)).toBe('0.00015');
    expect(shortestFloat(-Infinity)).toBe('-inf');
  });

  it('integral floats are integer keys, as in Lua; -0.0 is the key 0', async () => {
    const lua = await Lua.create();
    lua.home.set(-0, 'neg zero');
    lua.home.set(new LuaFloat(2 ** 40), 'float');
    lua.home.set(2 ** 63, 'beyond i64');
    expect(lua.compute('return _home[0], _home[0.0], _home[-0.0], _home[2^40], _home[1 << 40], _home[2^63]').values)
      .toEqual(['neg zero', 'neg zero', 'neg zero', 'float', 'float', 'beyond i64']);
    lua.compute('_home[-0.0] = "from lua"; _home[2.0^63] = "lua"');
    expect(lua.home.get(0)).toBe('from lua');
    expect(lua.home.size).toBe(3);
    expect([...lua.host.tables.get(lua.home.id)!.keys()].sort()).toEqual(['\x020', '\x021099511627776', '\x039.223372036854776e+18']);
  });
});
