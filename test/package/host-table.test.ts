// HostTable (js/src/host/table.ts): the host's own forms of keys and values, and the array part,
// checked against the plain model they replace (a Map from key bytes to value bytes).
import fc from 'fast-check';
import { HostTable, KeyCursor, keyAt, keyOf, keyText, putValue, refOf, valueAt, valueBytes, valueLength, valueOf } from '../../js/src/host/table';
import { latin1 } from '../../js/src/codec/codec';
import { Lua } from '../../js/src/node';

const SEED = Number(process.env.LUA_HOME_FC_SEED ?? 20261125);
const RUNS = Number(process.env.LUA_HOME_FC_RUNS ?? 300);

const bytesOf = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const int64 = (v: bigint) => {
  const b = new Uint8Array(9);
  b[0] = 2;
  new DataView(b.buffer).setBigInt64(1, v, true);
  return b;
};

describe('key forms are 1:1 with key bytes', () => {
  it.each([
    ['\x021', 1],
    ['\x020', 0],
    ['\x02-7', -7],
    ['\x02999999999999999', 999999999999999], // 15 digits: a number
    ['\x021000000000000000', '\x021000000000000000'], // 16 digits: stays bytes
    ['\x02-999999999999999', -999999999999999],
    ['\x02007', '\x02007'], // not canonical: stays bytes
    ['\x02-0', '\x02-0'],
    ['\x02-', '\x02-'],
    ['\x02', '\x02'],
    ['\x021x', '\x021x'],
    ['\x02+1', '\x02+1'],
    ['\x041', '\x041'], // the string "1"
    ['\x033.5', '\x033.5'],
  ])('%j -> %j', (text, form) => {
    const b = bytesOf(text);
    expect(keyAt(b, 0, b.length)).toBe(form);
    expect(keyOf(text)).toBe(form);
    expect(keyText(form)).toBe(text);
  });

  it('any key bytes survive the round trip', () => {
    const digits = fc.string({ unit: fc.constantFrom(...'-0123456789x'), maxLength: 20 });
    const keyBytes = fc.oneof(
      digits.map((d) => '\x02' + d),
      fc.integer().map((i) => '\x02' + i),
      fc.uint8Array({ maxLength: 24 }).map(latin1),
    );
    fc.assert(
      fc.property(keyBytes, (text) => {
        const b = bytesOf(text);
        expect(keyText(keyAt(b, 0, b.length))).toBe(text);
        expect(keyText(keyOf(text))).toBe(text);
      }),
      { seed: SEED, numRuns: RUNS * 3 },
    );
  });
});

describe('value forms are 1:1 with value bytes', () => {
  it('integers in the safe range are numbers, others stay bytes', () => {
    expect(valueOf(int64(5n))).toBe(5);
    expect(valueOf(int64(-1n))).toBe(-1);
    expect(valueOf(int64(2n ** 31n))).toBe(2 ** 31);
    expect(valueOf(int64(2n ** 53n - 1n))).toBe(2 ** 53 - 1);
    expect(valueOf(int64(-(2n ** 53n)))).toBe(-(2 ** 53));
    expect(typeof valueOf(int64(2n ** 53n))).toBe('string');
    expect(typeof valueOf(int64(-(2n ** 63n)))).toBe('string');
    expect(typeof valueOf(new Uint8Array(5000))).toBe('object');
    expect(refOf(valueOf(Uint8Array.of(7, 1, 2, 0, 0)))).toBe(0x201);
    expect(refOf(Uint8Array.of(7, 0xff, 0xff, 0xff, 0xff))).toBe(0xffffffff);
    expect(refOf(valueOf(Uint8Array.of(4, 1, 0, 0, 0)))).toBe(-1);
  });

  it('any value bytes survive the round trip, through memory too', () => {
    const valueBytesArb = fc.oneof(
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(int64),
      fc.integer().map((i) => int64(BigInt(i))),
      fc.maxSafeInteger().map((i) => int64(BigInt(i))),
      fc.uint8Array({ maxLength: 40 }),
      fc.integer({ min: 4094, max: 4098 }).map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 255)),
    );
    fc.assert(
      fc.property(valueBytesArb, fc.nat(7), (bytes, at) => {
        const v = valueOf(bytes);
        expect(valueLength(v)).toBe(bytes.length);
        const same = (a: Uint8Array, b: Uint8Array) => expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
        same(valueBytes(v), bytes);
        const mem = new Uint8Array(bytes.length + 16).fill(0xee);
        putValue(mem, at, v);
        same(mem.subarray(at, at + bytes.length), bytes);
        expect(mem[at + bytes.length]).toBe(0xee);
        const copy = valueAt(mem, at, bytes.length);
        same(valueBytes(copy), bytes);
      }),
      { seed: SEED + 1, numRuns: RUNS * 3 },
    );
  });
});

describe('HostTable behaves as the Map of bytes it replaces', () => {
  type Op = { kind: 'put' | 'remove'; key: string; value: number };
  const keyArb = fc.oneof(
    fc.integer({ min: -3, max: 140 }).map((i) => '\x02' + i), // array part, its edges, holes
    fc.constantFrom('\x04a', '\x04b', '\x0212x', '\x02007'),
  );
  const opArb = fc.record({ kind: fc.constantFrom<'put' | 'remove'>('put', 'put', 'remove'), key: keyArb, value: fc.integer() });

  it('any sequence of puts and deletes gives the same contents', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 400 }), (ops: Op[]) => {
        const t = new HostTable();
        const model = new Map<string, Uint8Array>();
        for (const op of ops) {
          const k = keyOf(op.key);
          if (op.kind === 'put') {
            const bytes = int64(BigInt(op.value));
            const old = t.putKey(k, valueOf(bytes));
            expect(old === undefined ? undefined : valueBytes(old)).toEqual(model.get(op.key));
            model.set(op.key, bytes);
          } else {
            const old = t.removeKey(k);
            expect(old === undefined ? undefined : valueBytes(old)).toEqual(model.get(op.key));
            model.delete(op.key);
          }
          expect(t.size).toBe(model.size);
        }
        expect(new Map(t.entries())).toEqual(model);
        for (const [k, v] of model) expect(t.get(k)).toEqual(v);
        expect([...t.keys()].sort()).toEqual([...model.keys()].sort()); // each key once
      }),
      { seed: SEED + 2, numRuns: RUNS },
    );
  });

  it('keys 1..n go to the array part, also when they arrive out of order', () => {
    const t = new HostTable();
    for (const k of [3, 2, 5, 1, 4]) t.putKey(k, k * 10);
    expect(t.arr).toEqual([10, 20, 30, 40, 50]);
    expect(t.map.size).toBe(0);
    t.putKey('\x04x', 'v');
    t.putKey(0, 0);
    t.putKey(100, 1);
    expect(t.arr.length).toBe(5);
    expect(t.size).toBe(8);
  });

  it('deleting from the end shrinks the array part; a mostly empty one is given up at the next insertion', () => {
    const t = new HostTable();
    for (let k = 1; k <= 100; k++) t.putKey(k, k);
    for (let k = 100; k > 90; k--) t.removeKey(k);
    expect(t.arr.length).toBe(90);
    for (let k = 1; k <= 60; k++) t.removeKey(k); // a queue: its head is consumed
    expect(t.arr.length).toBe(90); // a deletion never moves keys (a traversal may be under way)
    t.putKey(91, 91); // an insertion: 30 of 90 slots used, the keys move to the Map
    expect(t.arr.length).toBe(0);
    expect(t.size).toBe(31);
    expect([...t.hostKeys()].sort((a, b) => (a as number) - (b as number))).toEqual(Array.from({ length: 31 }, (_, i) => 61 + i));
  });

  it('a traversal visits every key once while it deletes each key it visits', () => {
    const t = new HostTable();
    for (let k = 1; k <= 50; k++) t.putKey(k, k);
    for (let k = 60; k <= 70; k++) t.putKey(k, k);
    t.putKey('\x04s', 's');
    const cursor = new KeyCursor(t);
    const seen: (string | number)[] = [];
    for (let k = cursor.next(); k !== undefined; k = cursor.next()) {
      seen.push(k);
      t.removeKey(k);
    }
    expect(seen.length).toBe(62);
    expect(new Set(seen).size).toBe(62);
    expect(t.size).toBe(0);
  });
});

describe('the VM over the host forms', () => {
  it('integer keys and values from Lua, read back from JavaScript and across a reload', async () => {
    const lua = await Lua.create();
    lua.compute(`
      for i = 1, 1000 do _home[i] = i * 3 end
      _home[-5] = 2^53 - 1 _home[2^40] = -(2^53) _home[0] = math.mininteger
      _home[1e15] = 1 _home["1"] = "one"
      for i = 1, 500 do _home[i] = nil end`);
    expect(lua.home.size).toBe(505); // 1e15 is the integer key 10^15 (16 digits: kept as bytes)
    expect(lua.home.get(501)).toBe(1503);
    expect(lua.home.get(-5)).toBe(2 ** 53 - 1);
    expect(lua.home.get(2 ** 40)).toBe(-(2 ** 53));
    expect(lua.home.get(0)).toBe(-(2n ** 63n));
    expect(lua.home.get('1')).toBe('one');
    const again = await Lua.create({ state: lua.exportState() });
    expect(again.compute(`
      local n, sum = 0, 0
      for k, v in pairs(_home) do n = n + 1 if math.type(k) == "integer" and k > 500 and k <= 1000 then sum = sum + v end end
      return n, sum, #_home == 0 or #_home == 1000, _home[1e15], _home[0] == math.mininteger`).values).toEqual([505, 3 * 375250, true, 1, true]);
  });
});

describe('without Node\'s Buffer (browsers)', () => {
  it('bytes become the same latin1 strings', () => {
    const saved = globalThis.Buffer;
    let table: typeof import('../../js/src/host/table') | undefined;
    try {
      (globalThis as { Buffer?: unknown }).Buffer = undefined;
      jest.isolateModules(() => {
        table = require('../../js/src/host/table');
      });
    } finally {
      globalThis.Buffer = saved;
    }
    for (const n of [0, 5, 11, 40, 4095, 4096, 4097, 9000]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 131 + 7) & 255);
      const s = table!.latin1At(bytes, 0, n);
      expect(s).toBe(latin1(bytes));
      expect(table!.latin1At(bytes, 1, Math.max(0, n - 1))).toBe(latin1(bytes.subarray(1)));
    }
  });
});
