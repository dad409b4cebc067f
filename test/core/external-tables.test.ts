// External tables: key bytes, deletes, deep copies, references, functions, traversal, length,
// the ext library, protection of proxies, large values, keys paging, and the table exports.
import { decodeValue, encodeValue, fromLatin1, RawHost, str, utf8, Value } from '../support/raw-host';

const ref = (v: Uint8Array | undefined): number => (decodeValue(v!, 0)[0] as { ref: number }).ref;

describe('key bytes', () => {
  const h = RawHost.create();
  const cases: [string, string][] = [
    ['"s"', '\x04s'],
    ['""', '\x04'],
    ['"1"', '\x041'],
    ['12', '\x0212'],
    ['-12', '\x02-12'],
    ['0', '\x020'],
    ['1.0', '\x021'],
    ['-0.0', '\x020'],
    ['2^53', '\x029007199254740992'],
    ['math.maxinteger', '\x029223372036854775807'],
    ['math.mininteger', '\x02-9223372036854775808'],
    ['1.5', '\x031.5'],
    ['0.1', '\x030.1'],
    ['1/3', '\x030.3333333333333333'],
    ['1e300', '\x031e+300'],
    ['1e-300', '\x031e-300'],
    ['2^63', '\x039.223372036854776e+18'],
    ['1/0', '\x03inf'],
    ['-1/0', '\x03-inf'],
    ['true', '\x011'],
    ['false', '\x010'],
  ];
  for (const [lua, bytes] of cases) {
    it(`${lua} is stored under ${JSON.stringify(bytes)}`, () => {
      h.table(1).clear();
      h.run(`_home[${lua}] = "v"`);
      expect([...h.table(1).keys()]).toEqual([bytes]);
      expect(h.run(`return _home[${lua}]`).map(str)).toEqual(['v']);
    });
  }

  it('a string key keeps its own bytes (NUL, invalid UTF-8)', () => {
    h.table(1).clear();
    h.run('_home["a\\0\\255"] = 1');
    expect([...h.table(1).keys()]).toEqual(['\x04a\x00\xff']);
  });

  it('t[1] and t[1.0] are one key, t["1"] another', () => {
    h.table(1).clear();
    h.run('_home[1] = "int" _home[1.0] = "float" _home["1"] = "str"');
    expect(h.table(1).size).toBe(2);
    expect(h.run('return _home[1], _home["1"]').map(str)).toEqual(['float', 'str']);
  });

  it('keys come back from pairs with their types (integer, float, string, boolean)', () => {
    h.table(1).clear();
    h.run('_home[1] = 1 _home[0.5] = 1 _home["x"] = 1 _home[true] = 1 _home[1/0] = 1 _home[2^63] = 1 _home[math.mininteger] = 1');
    const [types] = h.run(`
      local r = {}
      for k in pairs(_home) do r[#r + 1] = (math.type(k) or type(k)) .. "=" .. tostring(k) end
      table.sort(r) return table.concat(r, " ")`);
    expect(str(types)).toBe('boolean=true float=0.5 float=9.2233720368548e+18 float=inf integer=-9223372036854775808 integer=1 string=x');
  });

  it('nil and NaN keys raise Lua\'s usual errors', () => {
    expect(h.fail('_home[nil] = 1').message).toBe('[string "_home[nil] = 1"]:1: table index is nil');
    expect(h.fail('_home[0/0] = 1').message).toBe('[string "_home[0/0] = 1"]:1: table index is NaN');
    expect(h.fail('rawset(_home, nil, 1)').message).toContain('table index is nil');
  });

  it('keys of other types raise a clear error, and nothing is stored', () => {
    h.table(1).clear();
    for (const key of ['{}', 'print', 'function() end', '_home', 'coroutine.create(print)']) {
      expect(h.fail(`_home[${key}] = 1`).message).toMatch(/cannot use a (table|function|thread) value as a key of an external table/);
    }
    expect(h.table(1).size).toBe(0);
  });

  it('reading with such keys gives nil', () => {
    expect(h.run('return _home[nil], _home[0/0], _home[{}], _home[print], rawget(_home, {}), rawget(_home, 0/0)')).toEqual([null, null, null, null, null, null]);
  });

  it('keys of up to 65,535 bytes; longer ones are refused', () => {
    h.table(1).clear();
    h.run('_home[string.rep("k", 65535)] = 1');
    expect([...h.table(1).keys()][0].length).toBe(65536);
    expect(h.fail('_home[string.rep("k", 65536)] = 1').message).toContain('key too long for an external table (65536 bytes; at most 65535)');
  });
});

describe('values', () => {
  const h = RawHost.create();

  it('t[k] = nil deletes the key in the host', () => {
    h.run('_home.gone = 1 _home.kept = 2');
    expect(h.table(1).has('\x04gone')).toBe(true);
    const deletes = h.calls.js_ext_table_delete ?? 0;
    h.run('_home.gone = nil');
    expect(h.table(1).has('\x04gone')).toBe(false);
    expect(h.table(1).has('\x04kept')).toBe(true);
    expect(h.calls.js_ext_table_delete).toBe(deletes + 1);
    h.run('rawset(_home, "kept", nil)');
    expect(h.table(1).has('\x04kept')).toBe(false);
  });

  it('short keys and scalar values (the fast path) and longer ones (the general path) give the same bytes', () => {
    // proxy_index/proxy_newindex build short keys and scalar values on the native stack; the
    // sizes on either side of their limits must come out exactly as docs/ABI.md says.
    const u32 = (n: number) => String.fromCharCode(n & 255, (n >> 8) & 255, (n >> 16) & 255, n >>> 24);
    const i64 = (v: bigint) => '\x02' + latin1Of(new Uint8Array(new BigInt64Array([v]).buffer));
    const f64 = (v: number) => '\x03' + latin1Of(new Uint8Array(new Float64Array([v]).buffer));
    const latin1Of = (b: Uint8Array) => String.fromCharCode(...b);
    const cases: [string, string, string, string][] = [];
    for (const n of [0, 1, 46, 47, 48, 49, 200]) cases.push([`string.rep("k", ${n})`, '\x04' + 'k'.repeat(n), '1', i64(1n)]);
    for (const n of [0, 1, 58, 59, 60, 61, 5000]) cases.push(['"s"', '\x04s', `string.rep("v", ${n})`, '\x04' + u32(n) + 'v'.repeat(n)]);
    for (const [lua, v] of [['0', 0n], ['-1', -1n], ['2^31', 2n ** 31n], ['math.maxinteger', 2n ** 63n - 1n], ['math.mininteger', -(2n ** 63n)]] as const) {
      cases.push([lua, '\x02' + String(v), lua, typeof v === 'bigint' && lua.startsWith('2^') ? f64(Number(v)) : i64(v)]);
    }
    for (const [lua, v] of [['0.5', 0.5], ['-0.0', -0], ['1/0', Infinity], ['-1/0', -Infinity]] as const) cases.push(['"f"', '\x04f', lua, f64(v)]);
    cases.push(['"b"', '\x04b', 'true', '\x01\x01'], ['"b"', '\x04b', 'false', '\x01\x00']);
    for (const [key, keyBytes, value, valueBytes] of cases) {
      h.table(1).clear();
      h.run(`_home[${key}] = ${value}`);
      expect([...h.table(1).keys()]).toEqual([keyBytes]);
      expect(latin1Of(h.table(1).get(keyBytes)!)).toBe(valueBytes);
      expect(h.run(`local v = ${value} local r = _home[${key}] return r == v or (r ~= r and v ~= v), math.type(r) == math.type(v)`)).toEqual([true, true]);
      h.run(`_home[${key}] = nil`);
      expect(h.table(1).size).toBe(0);
    }
    h.run('_home.nan = 0/0');
    expect(h.run('local v = _home.nan return v ~= v')).toEqual([true]);
  });

  it('a plain table is deep-copied into new external tables, shared references and cycles kept', () => {
    h.run(`
      local shared = {1, 2}
      local t = {a = shared, b = shared, name = "top"}
      t.self = t
      _home.t = t`);
    const top = ref(h.raw(1, 't'));
    expect(top).toBeGreaterThan(1);
    const copy = h.tables.get(top)!;
    expect(ref(copy.get('\x04a'))).toBe(ref(copy.get('\x04b')));
    expect(ref(copy.get('\x04self'))).toBe(top);
    const inner = h.tables.get(ref(copy.get('\x04a')))!;
    expect([...inner.entries()].map(([k, v]) => [k, decodeValue(v, 0)[0]])).toEqual([['\x021', 1n], ['\x022', 2n]]);
    expect(h.run('return _home.t.a == _home.t.b, _home.t.self == _home.t, _home.t.self.self.name')).toEqual([true, true, utf8('top')]);
  });

  it('the copy is a snapshot: later changes to the Lua table do not reach the host', () => {
    expect(h.run('local t = {1} _home.snap = t t[1] = 2 t[2] = 3 return _home.snap[1], _home.snap[2]')).toEqual([1n, null]);
  });

  it('a table with a metatable is refused', () => {
    expect(h.fail('_home.m = setmetatable({}, {})').message).toContain('cannot store a table with a metatable (its behaviour would be lost) in an external table');
    expect(h.raw(1, 'm')).toBeUndefined();
  });

  it('a proxy is stored as a reference (07) to the same table, never copied', () => {
    const counter = h.exports.get_external_table_counter();
    h.run('local p = ext.table() p.x = 1 _home.p = p _home.p2 = _home.p');
    expect(h.exports.get_external_table_counter()).toBe(counter + 1);
    expect([...h.raw(1, 'p')!]).toEqual([...encodeValue({ ref: counter })]);
    expect(ref(h.raw(1, 'p2'))).toBe(counter);
    expect(h.run('_home.p.x = 5 return _home.p2.x, _home.p == _home.p2, rawequal(_home.p, _home.p2)')).toEqual([5n, true, true]);
  });

  it('nested tables inside a copy may hold proxies: they stay references', () => {
    h.run('_home.holder = {inner = _home.p}');
    const holder = h.tables.get(ref(h.raw(1, 'holder')))!;
    expect(ref(holder.get('\x04inner'))).toBe(ref(h.raw(1, 'p')));
  });

  it('values of hundreds of KB store and load (an 800 KB string)', () => {
    const fresh = RawHost.create();
    // Built as two halves: string.rep alone would need twice the size while it copies.
    fresh.run('local half = string.rep("abcdefgh", 50000) _home.big = half .. half');
    const stored = fresh.raw(1, 'big')!;
    expect(stored.length).toBe(800005);
    expect(stored.subarray(5).every((c, i) => c === 0x61 + (i % 8))).toBe(true);
    // Read back, and checked whole: 100,000 matches of the 8 bytes cover all 800,000.
    expect(fresh.run('local s = _home.big return #s, select(2, s:gsub("abcdefgh", "")), s:sub(-8)')).toEqual([800000n, 100000n, utf8('abcdefgh')]);
    // A host-written one of the same size loads too.
    fresh.table(1).set('\x04fromhost', encodeValue(new Uint8Array(800000).fill(0x7a)));
    expect(fresh.run('local s = _home.fromhost return #s, s:sub(1, 3), s:find("[^z]")')).toEqual([800000n, utf8('zzz'), null]);
  });

  it('values between the first 16 KB offer and memory\'s end load in a second call', () => {
    h.run('_home.mid = string.rep("m", 16380)'); // 16,385 bytes: one more than the first offer
    expect(h.raw(1, 'mid')!.length).toBe(16385);
    expect(h.run('return #_home.mid')).toEqual([16380n]);
  });
});

describe('functions in external tables', () => {
  const h = RawHost.create();

  it('persist as tag 05 (bytecode + checksum), load back and run', () => {
    h.run('_home.add = function(a, b) return a + b end');
    const bytes = h.raw(1, 'add')!;
    expect(bytes[0]).toBe(5);
    expect(h.run('return _home.add(2, 3)')).toEqual([5n]);
  });

  it('see the VM\'s globals as _ENV when loaded back', () => {
    h.run('_home.get = function() return answer end');
    expect(h.run('answer = 42 return _home.get()')).toEqual([42n]);
  });

  it('may create closures over their own locals when they run', () => {
    h.run('_home.counter = function() local n = 0 return function() n = n + 1 return n end end');
    expect(h.run('local c = _home.counter() c() return c()')).toEqual([2n]);
  });

  it('inside a deep-copied table persist too', () => {
    h.run('_home.lib = {double = function(x) return 2 * x end}');
    expect(h.run('return _home.lib.double(21)')).toEqual([42n]);
  });

  it('capturing a local are refused with a clear error, and nothing is stored', () => {
    expect(h.fail('local x = 1 _home.f = function() return x end').message).toContain(
      "cannot store a function that captures the local 'x' (only functions whose one upvalue is the global _ENV persist; pass such values as arguments) in an external table",
    );
    expect(h.fail('local env = {} local function f() local _ENV = env return function() return y end end _home.f = f()').message).toContain(
      "captures the local '_ENV'",
    );
    expect(h.raw(1, 'f')).toBeUndefined();
  });

  it('C functions, coroutines are refused with clear errors', () => {
    expect(h.fail('_home.f = print').message).toContain('cannot store a C function in an external table');
    expect(h.fail('_home.f = string.format').message).toContain('cannot store a C function in an external table');
    expect(h.fail('_home.c = coroutine.create(function() end)').message).toContain('cannot store a thread (coroutine) in an external table');
    expect(h.fail('_home.c = {coroutine.running()}').message).toContain('cannot store a thread (coroutine) in an external table');
    expect(h.raw(1, 'f')).toBeUndefined();
    expect(h.raw(1, 'c')).toBeUndefined();
  });

  it('whose checksum is damaged in the host are refused, never run', () => {
    h.run('_home.ran = false _home.mark = function() _home.ran = true return "ran" end');
    const good = h.raw(1, 'mark')!;
    for (const at of [20, good.length - 1]) { // in the bytecode, in the checksum
      const bad = good.slice();
      bad[at] ^= 0x01;
      h.table(1).set('\x04mark', bad);
      expect(h.fail('return _home.mark()').message).toContain('malformed value from the host: function bytecode fails its checksum');
      expect(h.run('return _home.ran')).toEqual([false]);
    }
    h.table(1).set('\x04mark', good);
    expect(h.run('return _home.mark(), _home.ran')).toEqual([utf8('ran'), true]);
  });

  it('larger than the first 16 KB offer store and load', () => {
    const body = Array.from({ length: 3000 }, (_, i) => `${i}.5`).join(',');
    h.run(`_home.bigfn = function() local t = {${body}} return #t, t[3000] end`);
    expect(h.raw(1, 'bigfn')!.length).toBeGreaterThan(16384);
    expect(h.run('return _home.bigfn()')).toEqual([3000n, 2999.5]);
  });
});

describe('pairs and next', () => {
  it('stream over a table larger than the VM\'s memory (3 MB of values put in the host)', () => {
    const h = RawHost.create();
    const t = h.table(1);
    let total = 0;
    for (let i = 0; i < 3000; i++) {
      const len = 1000 + (i % 200);
      total += len;
      t.set(`\x04key${i}`, encodeValue(new Uint8Array(len).fill(0x61 + (i % 26))));
    }
    expect(total).toBeGreaterThan(3_000_000);
    const before = h.heapInUse();
    expect(h.run('local n, sum = 0, 0 for k, v in pairs(_home) do n = n + 1 sum = sum + #v end return n, sum')).toEqual([3000n, BigInt(total)]);
    h.exports.run_gc();
    expect(h.heapInUse()).toBeLessThan(before + 64 * 1024);
  });

  it('stream keys far larger than the VM\'s memory (2.5 MB of keys)', () => {
    const h = RawHost.create();
    const t = h.table(1);
    const one = encodeValue(1n);
    for (let i = 0; i < 2500; i++) t.set('\x04' + `${i}:`.padEnd(1000, 'k'), one);
    expect(h.run('local n, sum = 0, 0 for k, v in pairs(_home) do n = n + 1 sum = sum + #k + v end return n, sum')).toEqual([2500n, 2500n * 1001n]);
  });

  it('visit every key exactly once, with next used directly too', () => {
    const h = RawHost.create();
    h.run('for i = 1, 5000 do _home["k" .. i] = i end');
    expect(h.run('local seen, n = {}, 0 for k, v in pairs(_home) do assert(not seen[k]) seen[k] = true n = n + v end return n')).toEqual([12502500n]);
    expect(h.run('local n, k, v = 0, next(_home) while k do n = n + v k, v = next(_home, k) end return n')).toEqual([12502500n]);
  });

  it('next(t, k) with any key continues after it; an unknown key is an error', () => {
    const h = RawHost.create();
    h.run('_home.a = 1 _home.b = 2 _home.c = 3');
    expect(h.run('return next(_home, "b")')).toEqual([utf8('c'), 3n]);
    expect(h.run('return next(_home, "c")')).toEqual([null]);
    expect(h.run('local k = next(_home) return k')).toEqual([utf8('a')]);
    expect(h.fail('return next(_home, "zzz")').message).toContain("invalid key to 'next'");
    // Two traversals of one table interleaved: each next(t, k) finds its place.
    expect(h.run('local n, k = 0, next(_home) while k do local k2 = next(_home) while k2 do n = n + 1 k2 = next(_home, k2) end k = next(_home, k) end return n')).toEqual([9n]);
    expect(h.run('local n = 0 for k in pairs(_home) do for k2 in pairs(_home) do n = n + 1 end end return n')).toEqual([9n]);
    expect(h.run('return next(ext.table())')).toEqual([null]);
  });

  it('allow clearing the current key (a table emptied during pairs)', () => {
    const h = RawHost.create();
    h.run('for i = 1, 5000 do _home[i] = i end');
    expect(h.run('local n = 0 for k in pairs(_home) do _home[k] = nil n = n + 1 end return n, next(_home)')).toEqual([5000n, null]);
    expect(h.table(1).size).toBe(0);
  });

  it('skip a key cleared before its turn (on the same page and on a later one)', () => {
    const h = RawHost.create();
    h.run('for i = 1, 5000 do _home["k" .. i] = i end');
    const [n, sum] = h.run(`
      local n, sum, first = 0, 0, true
      for k, v in pairs(_home) do
        if first then _home.k2 = nil _home.k4000 = nil first = false end
        n = n + 1 sum = sum + v
      end
      return n, sum`);
    expect([n, sum]).toEqual([4998n, 12502500n - 2n - 4000n]);
  });

  it('only one key visited when the others are cleared at the first', () => {
    const h = RawHost.create();
    h.run('for i = 1, 10 do _home[i] = i end');
    expect(h.run('local n = 0 for k in pairs(_home) do n = n + 1 for i = 1, 10 do if i ~= k then _home[i] = nil end end end return n')).toEqual([1n]);
  });

  it('page keys bigger than the first page (host answers "too small" with the size it needs)', () => {
    const answers: [number, number][] = [];
    const h: RawHost = RawHost.create({
      overrides: {
        js_ext_table_keys: (id, bp, max) => {
          const n = RawHost.prototype.js_ext_table_keys.call(h, id, bp, max);
          answers.push([max, n]);
          return n;
        },
      },
    });
    h.run('_home.small = 1 _home[string.rep("x", 10000)] = 2 _home[string.rep("y", 65535)] = 3 _home.tail = 4');
    expect(h.run('local n, sum, len = 0, 0, 0 for k, v in pairs(_home) do n = n + 1 sum = sum + v len = len + #k end return n, sum, len')).toEqual([
      4n, 10n, BigInt(5 + 10000 + 65535 + 4),
    ]);
    expect(answers.some(([max, n]) => n > max)).toBe(true);
    expect(Math.max(...answers.map(([max]) => max))).toBeGreaterThanOrEqual(8 + 65536);
  });
});

describe('the length operator', () => {
  const h = RawHost.create();
  const border = (setup: string) => {
    h.table(1).clear();
    const [n, ok] = h.run(`${setup} local n = #_home return n, (n == 0 or _home[n] ~= nil) and _home[n + 1] == nil`);
    expect(ok).toBe(true);
    return n;
  };

  it('is the sequence length for a sequence, with three host calls', () => {
    h.run('for i = 1, 100 do _home[i] = i end');
    const gets = h.calls.js_ext_table_get ?? 0, sizes = h.calls.js_ext_table_size ?? 0;
    expect(h.run('return #_home')).toEqual([100n]);
    expect((h.calls.js_ext_table_get ?? 0) - gets + (h.calls.js_ext_table_size ?? 0) - sizes).toBe(3);
    expect(border('for i = 1, 100 do _home[i] = i end')).toBe(100n);
  });

  it('is 0 for an empty table and for one without integer keys', () => {
    expect(border('')).toBe(0n);
    expect(border('_home.a = 1 _home.b = 2')).toBe(0n);
    expect(border('_home[2] = 1 _home[3] = 1')).toBe(0n);
  });

  it('is a border (Lua\'s rule) for tables with holes and extra keys', () => {
    expect(border('for i = 1, 10 do _home[i] = i end _home[5] = nil')).toBeGreaterThan(0n);
    expect(border('for i = 1, 10 do _home[i] = i end _home.x = 1 _home.y = 2')).toBe(10n);
    expect(border('for i = 1, 1000 do _home[i] = i end for i = 1, 500 do _home["s" .. i] = i end')).toBe(1000n);
    expect(border('_home[1] = 1 _home[2] = 2 _home[1000000] = 1')).toBeGreaterThan(0n);
  });

  it('is the same through rawlen, and table functions use it', () => {
    h.table(1).clear();
    expect(h.run('for i = 1, 5 do _home[i] = i * 10 end table.insert(_home, 60) return rawlen(_home), #_home, _home[6], table.concat(_home, ",")')).toEqual([
      6n, 6n, 60n, utf8('10,20,30,40,50,60'),
    ]);
  });
});

describe('the ext library and proxies', () => {
  const h = RawHost.create();

  it('ext.table() creates a new external table with the next id; ext.id(t) gives it', () => {
    const next = h.exports.get_external_table_counter();
    expect(h.run('local t = ext.table() t.x = 1 return ext.id(t), ext.id(_home), ext.id({}), ext.id(5), ext.id()')).toEqual([BigInt(next), 1n, null, null, null]);
    expect(h.exports.get_external_table_counter()).toBe(next + 1);
    expect(h.tables.get(next)!.has('\x04x')).toBe(true);
  });

  it('a proxy is a table: type, tostring, one proxy per id', () => {
    const [type, text, same] = h.run('return type(_home), tostring(_home), _home == Memory');
    expect(str(type)).toBe('table');
    expect(str(text)).toMatch(/^external table: 0x[0-9a-f]+$/);
    expect(same).toBe(true);
    expect(h.run('_home.t = {} return _home.t == _home.t')).toEqual([true]);
  });

  it('cannot be forged from an id, or unlocked', () => {
    expect(h.run('return getmetatable(_home)').map(str)).toEqual(['external table']);
    expect(h.fail('setmetatable(_home, {})').message).toContain('cannot change a protected metatable');
    expect(h.fail('setmetatable({}, getmetatable(_home))').message).toContain("bad argument #2 to 'setmetatable' (nil or table expected, got string)");
    // Nothing in the sandbox can reach the proxies' metatable or their hidden id slot.
    expect(h.run('return debug.getregistry, debug.sethook, debug.gethook')).toEqual([null, null, null]);
    expect(h.run('return debug.getmetatable(_home)').map(str)).toEqual(['external table']);
    expect(h.fail('debug.setmetatable(_home, nil)').message).toContain('cannot change the metatable of an external table');
    expect(h.fail('debug.getupvalue(pairs(_home), 1)').message).toContain('Lua function expected');
    expect(h.run('local n = 0 for k in next, _home do n = n + 1 end return n')).toEqual([BigInt(h.table(1).size)]);
    expect(h.run('local n = 0 for k in pairs(_home) do n = n + 1 end return n')).toEqual([BigInt(h.table(1).size)]);
    // A table made to look like one is just a table.
    expect(h.run('local fake = {} return ext.id(fake), pcall(rawset, fake, 1, 1)')).toEqual([null, true, { inline: [[1n, 1n]] }]);
  });

  it('cannot be retargeted: its raw side always reaches the host', () => {
    h.table(1).clear();
    h.run('rawset(_home, "r", 1)');
    expect(h.table(1).has('\x04r')).toBe(true);
    expect(h.run('return rawget(_home, "r"), rawlen(_home)')).toEqual([1n, 0n]);
    h.table(1).set('\x04fromhost', encodeValue(9n));
    expect(h.run('return rawget(_home, "fromhost")')).toEqual([9n]);
  });
});

describe('attach_memory_table, get_memory_table_id, sync_external_table_counter, set_memory_alias_enabled', () => {
  it('init creates table 1 and binds _home (and Memory) to it', () => {
    const h = RawHost.create({ init: false });
    expect(h.exports.get_memory_table_id()).toBe(0);
    h.exports.attach_memory_table(5); // before init: ignored
    expect(h.exports.get_memory_table_id()).toBe(0);
    h.exports.init();
    expect(h.exports.get_memory_table_id()).toBe(1);
    expect(h.exports.get_external_table_counter()).toBe(2);
    expect(h.run('return ext.id(_home), ext.id(Memory)')).toEqual([1n, 1n]);
  });

  it('attach binds _home to another table and raises the counter past it; 0 is ignored', () => {
    const h = RawHost.create();
    h.table(50).set('\x04x', encodeValue(utf8('in fifty')));
    h.exports.attach_memory_table(50);
    expect(h.exports.get_memory_table_id()).toBe(50);
    expect(h.exports.get_external_table_counter()).toBe(51);
    expect(h.run('return _home.x, ext.id(_home), ext.id(Memory), ext.id(ext.table())')).toEqual([utf8('in fifty'), 50n, 50n, 51n]);
    h.exports.attach_memory_table(0);
    expect(h.exports.get_memory_table_id()).toBe(50);
    h.exports.attach_memory_table(3); // a lower id: bound, the counter does not go back
    expect(h.exports.get_memory_table_id()).toBe(3);
    expect(h.exports.get_external_table_counter()).toBe(52);
  });

  it('_home is bound again at every compute, whatever the previous one did', () => {
    const h = RawHost.create();
    h.run('_home.v = 1 _home = nil Memory = 5');
    expect(h.run('return _home.v, Memory.v')).toEqual([1n, 1n]);
  });

  it('sync_external_table_counter only ever raises the counter', () => {
    const h = RawHost.create();
    h.exports.sync_external_table_counter(100);
    expect(h.exports.get_external_table_counter()).toBe(100);
    h.exports.sync_external_table_counter(50);
    expect(h.exports.get_external_table_counter()).toBe(100);
    expect(h.run('return ext.id(ext.table())')).toEqual([100n]);
    expect(h.exports.get_external_table_counter()).toBe(101);
    h.exports.sync_external_table_counter(0xffffffff);
    expect(h.exports.get_external_table_counter() >>> 0).toBe(0xffffffff); // u32: read unsigned
    expect(h.run('return ext.id(ext.table())')).toEqual([4294967295n]);
    expect(h.exports.get_external_table_counter()).toBe(0); // exhausted
    expect(h.fail('ext.table()').message).toContain('external table ids are exhausted');
  });

  it('set_memory_alias_enabled applies at the next attach (or init); off removes Memory there', () => {
    const h = RawHost.create();
    h.exports.set_memory_alias_enabled(0);
    expect(h.run('return Memory == _home')).toEqual([true]); // not yet
    h.exports.attach_memory_table(1);
    expect(h.run('return Memory, ext.id(_home)')).toEqual([null, 1n]);
    expect(h.run('Memory = 5 return Memory')).toEqual([5n]);
    expect(h.run('return Memory')).toEqual([5n]); // a user's own Memory is left alone
    h.exports.set_memory_alias_enabled(1);
    h.exports.attach_memory_table(1);
    expect(h.run('return Memory == _home')).toEqual([true]);
  });

  it('set_memory_alias_enabled(0) before init: no Memory from the start', () => {
    const h = RawHost.create({ init: false });
    h.exports.set_memory_alias_enabled(0);
    h.exports.init();
    expect(h.run('return Memory, ext.id(_home)')).toEqual([null, 1n]);
  });
});
