// Hosts other than the reference one: a host written for the original module, hosts that
// answer with malformed bytes or pages, hosts that fail, throw or call back into the module.
// Whatever they do, the module answers with an error result, never a trap.
import { encodeValue, fnv1a64, Imports, RawHost, str, utf8 } from '../support/raw-host';

/** A host written for the original module: keys are UTF-8 text (decoded, stored as strings,
 *  encoded again on the way out), values larger than max_len are "absent" (-1), and
 *  js_ext_table_keys answers the keys joined with LF (or -1 when they do not fit). */
function originalHost(): { h: RawHost; store: Map<number, Map<string, Uint8Array>> } {
  const store = new Map<number, Map<string, Uint8Array>>();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const table = (id: number) => {
    let t = store.get(id);
    if (!t) store.set(id, (t = new Map()));
    return t;
  };
  const h: RawHost = RawHost.create({
    overrides: {
      js_ext_table_set: (id, kp, kl, vp, vl) => {
        table(id).set(decoder.decode(h.mem.subarray(kp, kp + kl)), h.mem.slice(vp, vp + vl));
        return 0;
      },
      js_ext_table_get: (id, kp, kl, vp, max) => {
        const v = store.get(id)?.get(decoder.decode(h.mem.subarray(kp, kp + kl)));
        if (v === undefined || v.length > max) return -1;
        h.mem.set(v, vp);
        return v.length;
      },
      js_ext_table_delete: (id, kp, kl) => {
        store.get(id)?.delete(decoder.decode(h.mem.subarray(kp, kp + kl)));
        return 0;
      },
      js_ext_table_size: (id) => store.get(id)?.size ?? 0,
      js_ext_table_keys: (id, bp, max) => {
        const joined = encoder.encode([...(store.get(id)?.keys() ?? [])].join('\n'));
        if (joined.length > max) return -1;
        h.mem.set(joined, bp);
        return joined.length;
      },
    },
  });
  return { h, store };
}

/** Runs code and then checks that the VM still works. */
function failsCleanly(h: RawHost, code: string): { message: string; kind: number } {
  let r;
  expect(() => (r = h.compute(code))).not.toThrow();
  expect(r!).toMatchObject({ ok: false });
  expect(h.run('return 1 + 1')).toEqual([2n]);
  return r! as { message: string; kind: number };
}

describe('a host written for the original module', () => {
  it('keeps counters and other scalar _home data', () => {
    const { h, store } = originalHost();
    for (let i = 0; i < 20; i++) h.run('_home.count = (_home.count or 0) + 1');
    expect(h.run('return _home.count')).toEqual([20n]);
    expect(store.get(1)!.has('\u0004count')).toBe(true);
    h.run('_home.name = "ünïcode" _home.pi = 3.25 _home.flag = true _home[1] = "one" _home["1"] = "string one" _home[1.5] = "x"');
    expect(h.run('return _home.name, _home.pi, _home.flag, _home[1], _home["1"], _home[1.5], #_home')).toEqual([
      utf8('ünïcode'), 3.25, true, utf8('one'), utf8('string one'), utf8('x'), 1n,
    ]);
    expect([...store.get(1)!.keys()].sort()).toEqual(['\u00021', '\u00031.5', '\u00041', '\u0004count', '\u0004flag', '\u0004name', '\u0004pi'].sort());
    h.run('_home.flag = nil');
    expect(store.get(1)!.has('\u0004flag')).toBe(false);
  });

  it('keeps nested tables, references and functions', () => {
    const { h } = originalHost();
    h.run('_home.user = {name = "ann", tags = {"a", "b"}} _home.alias = _home.user _home.greet = function(n) return "hi " .. n end');
    expect(h.run('return _home.alias.tags[2], _home.greet(_home.user.name), _home.alias == _home.user')).toEqual([utf8('b'), utf8('hi ann'), true]);
  });

  it('serves every value up to the first 16,384-byte offer; a larger one reads as absent', () => {
    const { h } = originalHost();
    h.run('_home.fits = string.rep("f", 16384 - 5) _home.big = string.rep("b", 16384 - 4)');
    expect(h.run('return #_home.fits, _home.big')).toEqual([16379n, null]);
  });

  it('makes pairs and next fail with a clear error, never a trap, and everything else still works', () => {
    const { h } = originalHost();
    h.run('_home.a = 1 _home.b = 2');
    const e = failsCleanly(h, 'for k, v in pairs(_home) do end');
    expect(e.message).toContain('malformed page (this host may not support traversal; see docs/ABI.md)');
    expect(failsCleanly(h, 'return next(_home)').message).toContain('may not support traversal');
    expect(failsCleanly(h, 'for k in pairs(ext.table()) do end').message).toContain('may not support traversal'); // an empty table: 0 bytes
    h.run('for i = 1, 2000 do _home["key" .. i] = i end'); // the joined keys no longer fit: -1
    const big = failsCleanly(h, 'for k in pairs(_home) do end');
    expect(big).toMatchObject({ kind: 6 });
    expect(big.message).toContain('the host failed to list the keys of external table 1');
    expect(big.message).toContain('host without keys paging');
    expect(h.run('return _home.a + _home.b, _home.key2000')).toEqual([3n, 2000n]);
  });
});

describe('a host that answers js_ext_table_get with malformed bytes', () => {
  let answer: Uint8Array | number = 0;
  const h: RawHost = RawHost.create({
    overrides: {
      js_ext_table_get: (id, kp, kl, vp, max) => {
        if (h.keyAt(kp, kl) !== '\x04v') return RawHost.prototype.js_ext_table_get.call(h, id, kp, kl, vp, max);
        if (typeof answer === 'number') return answer;
        if (answer.length <= max) h.mem.set(answer, vp);
        return answer.length;
      },
    },
  });
  const bytes = (...b: number[]) => Uint8Array.from(b);
  const cases: [string, Uint8Array, string][] = [
    ['no bytes', bytes(), 'empty'],
    ['an unknown tag', bytes(0x0c, 1, 2), 'unknown tag 12'],
    ['a tag that only crosses the host channel', bytes(9, 1, 2), 'a value that is never stored (tags 09, 0A, 0B)'],
    ['tag 06', bytes(6, 1, 0, 0, 0), 'tag 06 (reserved, never produced)'],
    ['tag 08', bytes(8, 0, 0, 0, 0), 'an inline table (tag 08 is never stored)'],
    ['nil with a payload', bytes(0, 0), 'nil with a payload'],
    ['a short boolean', bytes(1), 'bad boolean'],
    ['a boolean that is not 0 or 1', bytes(1, 2), 'bad boolean'],
    ['a short integer', bytes(2, 1, 2, 3), 'number payload is not 8 bytes'],
    ['a long float', bytes(3, 0, 0, 0, 0, 0, 0, 0, 0, 0), 'number payload is not 8 bytes'],
    ['a string without its length', bytes(4, 1, 0), 'length missing'],
    ['a string length bigger than the value', bytes(4, 10, 0, 0, 0, 97, 98), 'length does not match the bytes'],
    ['a string length smaller than the value', bytes(4, 1, 0, 0, 0, 97, 98), 'length does not match the bytes'],
    ['a string length of 4 GiB', bytes(4, 255, 255, 255, 255, 97), 'length does not match the bytes'],
    ['a function shorter than its checksum', bytes(5, 3, 0, 0, 0, 1, 2, 3), 'function payload too short'],
    ['a function whose length does not match', bytes(5, 20, 0, 0, 0, 1, 2, 3), 'length does not match the bytes'],
    ['a short table reference', bytes(7, 1, 0), 'table reference is not 4 bytes'],
    ['a reference to table 0', bytes(7, 0, 0, 0, 0), 'table reference to an id that is not a table'],
    ['an unknown tag in a value larger than the first offer', Uint8Array.from({ length: 20000 }, (_, i) => (i === 0 ? 0x0c : 0)), 'unknown tag 12'],
    ['a string length mismatch in a large value', (() => { const b = new Uint8Array(20000); b[0] = 4; b[1] = 1; return b; })(), 'length does not match the bytes'],
  ];
  for (const [name, value, why] of cases) {
    it(`refuses ${name}`, () => {
      answer = value;
      const e = failsCleanly(h, 'return _home.v');
      expect(e.message).toBe(`[string "return _home.v"]:1: malformed value from the host: ${why}`);
      expect(e.kind).toBe(2);
    });
  }

  function functionValue(code: Uint8Array, sum = fnv1a64(code)): Uint8Array {
    const payload = new Uint8Array(code.length + 8);
    payload.set(code);
    new DataView(payload.buffer).setBigUint64(code.length, sum, true);
    return encodeValue({ fn: payload });
  }

  it('refuses a function whose checksum fails, never running it', () => {
    const [dumped] = h.run('return string.dump(function() _home.ran = true end)');
    const code = dumped as Uint8Array;
    answer = functionValue(code, fnv1a64(code) ^ 1n);
    expect(failsCleanly(h, 'return _home.v()').message).toContain('malformed value from the host: function bytecode fails its checksum');
    expect(h.run('return _home.ran')).toEqual([null]);
    answer = functionValue(code);
    h.run('_home.v()');
    expect(h.run('return _home.ran')).toEqual([true]);
  });

  it('refuses bytecode that is not a chunk, or a function with more than one upvalue', () => {
    answer = functionValue(utf8('not bytecode at all'));
    expect(failsCleanly(h, 'return _home.v').message).toContain('malformed value from the host: ');
    const [dumped] = h.run('local a, b = 1, 2 return string.dump(function() return a + b end)');
    answer = functionValue(dumped as Uint8Array);
    expect(failsCleanly(h, 'return _home.v').message).toContain('malformed value from the host: function with more than one upvalue');
  });

  it('treats a negative answer other than -1 as a host failure (kind 6)', () => {
    for (const n of [-2, -1000, -2147483648]) {
      answer = n;
      expect(failsCleanly(h, 'return _home.v')).toMatchObject({ kind: 6, message: '[string "return _home.v"]:1: the host failed to read a value of external table 1' });
    }
  });

  it('survives a host whose sizes keep changing (growing, or alternating)', () => {
    let size = 20000;
    const grow: RawHost = RawHost.create({
      overrides: {
        js_ext_table_get: (_id, _kp, _kl, vp, max) => {
          size = size === 20000 ? 19000 : 20000; // never the size it said last
          if (size <= max) grow.mem.fill(0, vp, vp + size);
          return size;
        },
      },
    });
    expect(failsCleanly(grow, 'return _home.v').message).toContain('the host kept changing the size of a value of external table 1');
    let n = 16385;
    const growing: RawHost = RawHost.create({ overrides: { js_ext_table_get: () => n++ } });
    expect(failsCleanly(growing, 'return _home.v').message).toContain('the host kept changing the size');
  });

  it('survives an impossible size (2 GiB): an error, not a trap', () => {
    answer = 0x7fffffff;
    expect(failsCleanly(h, 'return _home.v').kind).toBe(3);
  });
});

describe('a host that answers js_ext_table_keys with malformed pages', () => {
  let page: ((bp: number, max: number) => number) | undefined;
  const h: RawHost = RawHost.create({
    overrides: { js_ext_table_keys: (id, bp, max) => (page ? page(bp, max) : RawHost.prototype.js_ext_table_keys.call(h, id, bp, max)) },
  });
  h.run('_home.a = 1');
  const write = (bp: number, ...words: (number | string)[]) => {
    let at = bp;
    for (const w of words) {
      if (typeof w === 'number') {
        h.view.setUint32(at, w, true);
        at += 4;
      } else {
        for (const c of w) h.mem[at++] = c.charCodeAt(0);
      }
    }
    return at - bp;
  };
  const cases: [string, (bp: number, max: number) => number, string][] = [
    ['fewer than 4 bytes', () => 2, 'malformed page'],
    ['a page that is not the last with no keys', (bp) => write(bp, 7), 'malformed page'],
    ['a key of length 0', (bp) => write(bp, 0, 0), 'malformed page'],
    ['a key longer than the page', (bp) => write(bp, 0, 100, '\x04a'), 'malformed page'],
    ['bytes left after the last key', (bp) => write(bp, 0, 2, '\x04a', 'xyz'), 'malformed page'],
    ['"too small" again and again', (_bp, max) => max + 1, 'malformed page'],
    ['"too small" beyond any key', () => 1 << 20, 'malformed page'],
    ['a key with an unknown tag', (bp) => write(bp, 0, 2, '\x09a'), 'malformed key from the host (tag 9, 2 bytes)'],
    ['an integer key that is not a number', (bp) => write(bp, 0, 4, '\x02abc'), 'malformed key from the host (tag 2, 4 bytes)'],
    ['an integer key that overflows', (bp) => write(bp, 0, 26, '\x02' + '9'.repeat(25)), 'malformed key from the host (tag 2, 26 bytes)'],
    ['a float key that is NaN', (bp) => write(bp, 0, 4, '\x03nan'), 'malformed key from the host (tag 3, 4 bytes)'],
    ['a boolean key that is not 0 or 1', (bp) => write(bp, 0, 2, '\x012'), 'malformed key from the host (tag 1, 2 bytes)'],
  ];
  for (const [name, answer, why] of cases) {
    it(`refuses ${name}`, () => {
      page = answer;
      expect(failsCleanly(h, 'for k in pairs(_home) do end').message).toContain(why);
      page = undefined;
    });
  }

  it('reports -1 (or any negative answer) as a host failure, kind 6', () => {
    page = () => -5;
    expect(failsCleanly(h, 'for k in pairs(_home) do end')).toMatchObject({ kind: 6 });
    page = undefined;
  });

  it('accepts a well-formed page written by hand', () => {
    h.run('_home[12] = 1 _home[true] = 1'); // a listed key the host does not hold is skipped
    page = (bp) => write(bp, 0, 2, '\x04a', 3, '\x0212', 2, '\x04b', 2, '\x011');
    expect(h.run('local r = {} for k in pairs(_home) do r[#r + 1] = tostring(k) .. ":" .. type(k) end return table.concat(r, " ")').map(str)).toEqual([
      'a:string 12:number true:boolean',
    ]);
    page = undefined;
  });
});

describe('a host that fails, throws or calls back', () => {
  it('a failing import is a Lua error of kind 6 that pcall can catch; ids print unsigned', () => {
    const ops: (keyof Imports)[] = ['js_ext_table_set', 'js_ext_table_delete'];
    for (const op of ops) {
      const h = RawHost.create({ overrides: { [op]: () => -1 } });
      h.exports.attach_memory_table(0x80000001);
      const e = failsCleanly(h, '_home.x = 1 _home.x = nil');
      expect(e.kind).toBe(6);
      expect(e.message).toContain('external table 2147483649');
      expect(h.run('return pcall(function() _home.y = 1 _home.y = nil end)')[0]).toBe(false);
    }
  });

  it('an import that throws unwinds to the caller; the instance then refuses every compute (kind 5)', () => {
    const h = RawHost.create({ overrides: { js_ext_table_get: () => { throw new Error('host bug'); } } });
    expect(() => h.compute('return _home.x')).toThrow('host bug');
    const e = h.fail('return 1');
    expect(e.kind).toBe(5);
    expect(e.message).toContain('compute called while another compute is running or after one was interrupted');
  });

  it('a compute started from inside an import is refused; the outer compute goes on', () => {
    let inner: { ok: boolean; kind?: number; message?: string } | undefined;
    const h: RawHost = RawHost.create({
      overrides: {
        js_ext_table_get: () => {
          const buf = h.exports.get_buffer_ptr();
          const n = h.exports.compute(buf + 60000, 1);
          inner = { ok: n >= 0, kind: h.exports.get_error_kind() };
          return -1;
        },
      },
    });
    expect(h.run('return _home.x, "outer"')).toEqual([null, utf8('outer')]);
    expect(inner).toEqual({ ok: false, kind: 5 });
    expect(h.run('return 3')).toEqual([3n]);
  });

  it('run_gc and set_random_seed called from inside an import are ignored', () => {
    const h: RawHost = RawHost.create({
      overrides: {
        js_ext_table_get: () => {
          h.exports.run_gc();
          h.exports.set_random_seed(5n, 5n);
          return -1;
        },
      },
    });
    expect(h.run('local t = {} for i = 1, 100 do t[i] = {} end return _home.x, #t')).toEqual([null, 100n]);
  });
});
