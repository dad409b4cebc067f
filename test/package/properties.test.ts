// Property tests: random values go from JavaScript through Lua and back unchanged (up to the
// documented mapping: see normalise below and the README's "Values between Lua and JavaScript").
import fc from 'fast-check';
import { Lua, LuaFloat, TableView } from '../../js/src/node';

const SEED = Number(process.env.LUA_HOME_FC_SEED ?? 20261125);
const RUNS = Number(process.env.LUA_HOME_FC_RUNS ?? 300);

// Keys Lua keeps as they are: strings, booleans, 32-bit integers, non-integral finite floats.
const key = fc.oneof(
  fc.string({ maxLength: 8, unit: 'grapheme' }),
  fc.boolean(),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
);
const scalar = fc.oneof(
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(), // NaN, infinities, -0 included
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
  fc.string({ maxLength: 40, unit: 'grapheme' }),
  fc.string({ maxLength: 20, unit: 'binary' }).filter((s) => s.isWellFormed()),
  fc.uint8Array({ maxLength: 24 }),
);
const { value } = fc.letrec<{ value: unknown; table: unknown }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('table')),
  table: fc.oneof(
    fc.array(tie('value'), { minLength: 1, maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie('value'), { maxKeys: 5 }),
    fc.uniqueArray(fc.tuple(key, tie('value')), { maxLength: 5, selector: ([k]) => (typeof k === 'number' ? `n${k}` : `${typeof k}${String(k)}`) })
      .map((entries) => new Map(entries)),
  ),
}));

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** What a value becomes after a trip through Lua, by the documented mapping. */
function normalise(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  if (v instanceof Uint8Array) {
    try {
      return utf8.decode(v);
    } catch {
      return v;
    }
  }
  if (v instanceof LuaFloat) return v.value;
  if (Array.isArray(v) || v instanceof Map || (typeof v === 'object' && v !== null)) {
    const entries: [unknown, unknown][] = Array.isArray(v)
      ? v.map((x, i) => [i + 1, x])
      : v instanceof Map ? [...v] : Object.entries(v as object);
    const n = entries.length;
    const norm = entries.map(([k, x]) => [normalise(k), normalise(x)] as [unknown, unknown]);
    if (n > 0 && norm.every(([k]) => typeof k === 'number' && Number.isInteger(k) && k >= 1 && k <= n)) {
      const out = new Array(n);
      for (const [k, x] of norm) out[(k as number) - 1] = x;
      return out;
    }
    if (norm.every(([k]) => typeof k === 'string')) return Object.fromEntries(norm);
    return new Map(norm);
  }
  return v;
}

const COPY = `local function copy(t, depth)
  if type(t) ~= "table" then return t end
  local r = {}
  for k, v in pairs(t) do r[k] = copy(v) end
  return r
end`;

describe('values round-trip through Lua', () => {
  let lua: Lua;
  beforeAll(async () => {
    lua = await Lua.create();
  });

  it('JS → host → JS (table views, no Lua)', () => {
    fc.assert(
      fc.property(value, (x) => {
        lua.home.set('v', x);
        const back = lua.home.get('v');
        const plain = back instanceof TableView ? back.toJS() : back;
        expect(plain).toEqual(normalise(x));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('JS → Lua reads it (pairs over external tables) → inline result → JS', () => {
    fc.assert(
      fc.property(value, (x) => {
        lua.home.set('v', x);
        const r = lua.compute(`${COPY} return copy(_home.v)`);
        expect(r.value).toEqual(normalise(x));
      }),
      { seed: SEED + 1, numRuns: RUNS },
    );
  });

  it('Lua writes it (deep copy into new external tables) → JS reads it', () => {
    fc.assert(
      fc.property(value, (x) => {
        lua.home.set('v', x);
        lua.compute(`${COPY} _home.w = copy(_home.v)`);
        const back = lua.home.get('w');
        expect(back instanceof TableView ? back.toJS() : back).toEqual(normalise(x));
      }),
      { seed: SEED + 2, numRuns: RUNS },
    );
    lua.compute('_home.v = nil _home.w = nil');
  });

  it('every int64 and every double keeps its Lua type and bits', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), fc.double(), (i, d) => {
        lua.home.set('i', i).set('d', new LuaFloat(d));
        const [ti, td, i2, d2, s] = lua.compute('return math.type(_home.i), math.type(_home.d), _home.i, _home.d, string.format("%d", _home.i)').values;
        expect([ti, td]).toEqual(['integer', 'float']);
        expect(i2).toEqual(normalise(i));
        expect(Object.is(d2, d)).toBe(true);
        expect(s).toBe(i.toString());
      }),
      { seed: SEED + 3, numRuns: RUNS * 3 },
    );
  });

  it('every byte string stays byte-exact; JS strings stay exact', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 100 }), (bytes, s) => {
        const t = lua.newTable();
        t.set(bytes, s);
        lua.home.set('t', t);
        const [k, len, v] = lua.compute('local k, v = next(_home.t) return k, #k, v').values;
        expect(normalise(k)).toEqual(normalise(bytes));
        expect(len).toBe(bytes.length);
        expect(v).toBe(s);
        expect(t.get(bytes)).toBe(s);
      }),
      { seed: SEED + 4, numRuns: RUNS },
    );
  });

  it('refuses strings that are not valid Unicode instead of changing them', () => {
    expect(() => lua.home.set('bad', 'a\uD800b')).toThrow(/lone surrogate/);
    expect(() => lua.compute('return 1 --\uDC00')).toThrow(/lone surrogate/);
  });
});
