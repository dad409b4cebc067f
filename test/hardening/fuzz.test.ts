// Seeded, reproducible fuzzing (brief here; `npm run fuzz` runs the same code far longer):
// random and mutated code; random and garbled answers from js_ext_table_get and
// js_ext_table_keys; random valid values through the host; random damage to saved state.
// Always a result or a clear error, never a trap; the VM computes correctly afterwards.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeValue, RawHost, Value } from '../support/raw-host';
import { ImageBuildError, Lua, NodeFileStore, StateCorruptError } from '../../js/src/node';
import { repeat, Rng, SCALE, SEED } from './util';

const long = SCALE > 1 ? SCALE * 60_000 : 60_000;

const CORPUS = [
  'local t = {} for i = 1, 10 do t[i] = i * i end return #t, t[3]',
  '_home.n = (_home.n or 0) + 1 return _home.n',
  'local s = ("abc"):rep(3) return s:upper(), s:find("ca"), #s',
  'local function f(n) if n < 2 then return n end return f(n-1) + f(n-2) end return f(10)',
  'local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end) return co(1), co(5)',
  'return string.format("%5.2f|%d|%s|%q", 1/3, 42, "x", "y\\n")',
  'local t = setmetatable({}, { __index = function(t, k) return k .. "!" end }) return t.hi',
  '_home.t = { a = { b = { c = 1 } } } return _home.t.a.b.c',
  'for k, v in pairs(_home) do _home[k] = nil end return next(_home)',
  'local ok, e = pcall(error, { code = 1 }) return ok, type(e)',
  'return utf8.char(72, 228, 8364), utf8.len("häll€")',
  'local x = 0 for i = 1, 100 do x = x ~ (i << 3) end return x, math.type(x), 7 // 2, 7 / 2, -7 % 3',
  'return load("return 1 + ...")(41), select("#", table.unpack({1, 2, nil, 4}, 1, 4))',
  'local t = {5, 3, 8, 1} table.sort(t, function(a, b) return a > b end) return table.concat(t, ",")',
  'local e = ext.table() e.x = {1, 2} _home.e = e return ext.id(e) ~= nil, #_home.e.x',
  'print("a", 1, nil, true) io.write("b", 2.5, "\\n") return',
  'goto done do local x = 1 end ::done:: return "jumped"',
  'local a <const> = 10 local b <close> = nil return a',
];
const TOKENS = ['end', 'function', '(', ')', '{', '}', '[', ']', '=', '==', '..', '...', 'local', 'return', 'nil', '"', "'",
  '[[', ']]', '--', '\n', ';', ',', 'for', 'while', 'do', 'repeat', 'until', 'if', 'then', 'else', '#', '%', '^', '~', '::', 'goto',
  '_home', 'ext.table()', 'coroutine.wrap', 'string.rep("x", 1e5)', 'pcall', 'error', 'setmetatable', '1e308', '0x', '\\', '\0'];

function mutate(rng: Rng): Uint8Array {
  const enc = new TextEncoder();
  switch (rng.int(4)) {
    case 0: return rng.bytes(rng.int(200)); // random bytes
    case 1: { // byte-level damage to a valid program
      const b = enc.encode(rng.pick(CORPUS));
      const out = Uint8Array.from(b);
      for (let i = 0, n = 1 + rng.int(4); i < n; i++) out[rng.int(out.length)] = rng.u32() & 255;
      return out.subarray(0, rng.int(4) === 0 ? rng.int(out.length + 1) : out.length);
    }
    case 2: { // token soup spliced into a valid program
      const src = rng.pick(CORPUS);
      const at = rng.int(src.length + 1);
      let soup = '';
      for (let i = 0, n = 1 + rng.int(6); i < n; i++) soup += ' ' + rng.pick(TOKENS);
      return enc.encode(src.slice(0, at) + soup + src.slice(at));
    }
    default: { // two programs crossed over
      const a = rng.pick(CORPUS);
      const b = rng.pick(CORPUS);
      return enc.encode(a.slice(0, rng.int(a.length)) + b.slice(rng.int(b.length)));
    }
  }
}

describe('fuzzing the code', () => {
  it(`random and mutated chunks (${(3000 * SCALE).toLocaleString('en')}): a result or an error, never a trap`, () => {
    const h = RawHost.create();
    h.exports.set_instruction_limit(200_000);
    let errors = 0;
    repeat(3000 * SCALE, SEED, (rng, i) => {
      const r = h.computeBytes(mutate(rng));
      if (!r.ok) {
        errors++;
        expect([1, 2, 3, 4, 5]).toContain(r.kind);
        expect(r.message.length).toBeGreaterThan(0);
      }
      if (i % 100 === 0) expect(h.run('return 1 + 1')).toEqual([2n]);
    });
    expect(errors).toBeGreaterThan(100); // the generator does produce broken code
    expect(h.run('return 6 * 7')).toEqual([42n]);
  }, long);
});

function randomValue(rng: Rng, depth = 0): Value {
  switch (rng.int(depth > 0 ? 6 : 7)) {
    case 0: return null;
    case 1: return rng.int(2) === 1;
    case 2: return BigInt.asIntN(64, (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()));
    case 3: return new Float64Array(new Uint32Array([rng.u32(), rng.u32()]).buffer)[0];
    case 4: return rng.bytes(rng.int(40));
    case 5: return { ref: 1 + rng.int(5) };
    default: return rng.bytes(rng.int(25) === 0 ? 17000 + rng.int(20000) : rng.int(300)); // some larger than the first offer
  }
}

describe('fuzzing the host\'s answers', () => {
  const READERS = [
    'local v = _home.x return type(v)',
    'local n = 0 for k, v in pairs(_home) do n = n + 1 end return n',
    'return #_home',
    'local k, v = next(_home) return type(k), type(v)',
    'return rawget(_home, "x") ~= nil, _home[1], _home[true]',
    'local t = _home.x if type(t) == "table" then return #t, next(t) end return tostring(t)',
    'local f = _home.x if type(f) == "function" then return pcall(f) end',
  ];

  it(`garbled js_ext_table_get and js_ext_table_keys answers (${(4000 * SCALE).toLocaleString('en')}): errors, never traps`, () => {
    let rng = new Rng(SEED);
    let garble = false;
    const h = RawHost.create({
      overrides: {
        js_ext_table_get: (id, kp, kl, vp, max) => {
          if (!garble) return h.js_ext_table_get(id, kp, kl, vp, max);
          switch (rng.int(6)) {
            case 0: return -1;
            case 1: return -2 - rng.int(1000);
            case 2: return max + 1 + rng.int(100000); // "call again with a bigger buffer", forever
            case 3: {
              const n = rng.int(Math.min(max, 64) + 1);
              h.mem.set(rng.bytes(n), vp);
              return n;
            }
            case 4: { // a valid tag with a wrong length
              const b = encodeValue(randomValue(rng));
              const n = Math.max(0, Math.min(max, b.length + rng.int(9) - 4));
              h.mem.set(b.subarray(0, Math.min(n, b.length)), vp);
              return n;
            }
            default: {
              const b = encodeValue(randomValue(rng));
              if (b.length <= max) h.mem.set(b, vp);
              return b.length;
            }
          }
        },
        js_ext_table_keys: (id, bp, max) => {
          if (!garble) return h.js_ext_table_keys(id, bp, max);
          switch (rng.int(5)) {
            case 0: return -1;
            case 1: return rng.int(4); // shorter than the cursor
            case 2: return max + 1 + rng.int(1 << 20);
            case 3: {
              const n = 4 + rng.int(Math.min(max - 4, 200));
              h.mem.set(rng.bytes(n), bp);
              return n;
            }
            default: { // a well-formed page of random keys, or a lie about its length
              const keys = Array.from({ length: 1 + rng.int(5) }, () => rng.bytes(1 + rng.int(12)));
              const view = new DataView(h.exports.memory.buffer);
              let at = bp + 4;
              view.setUint32(bp, rng.int(3) === 0 ? rng.u32() : 0, true);
              for (const k of keys) {
                view.setUint32(at, k.length, true);
                h.mem.set(k, at + 4);
                at += 4 + k.length;
              }
              return rng.int(4) === 0 ? at - bp + rng.int(8) - 4 : at - bp;
            }
          }
        },
      },
    });
    h.exports.set_instruction_limit(500_000);
    h.run('_home.x = 1 _home[1] = "a" _home[true] = {}');
    let errors = 0;
    repeat(4000 * SCALE, SEED + 1, (r, i) => {
      rng = r;
      garble = true;
      const out = h.compute(r.pick(READERS));
      garble = false;
      if (!out.ok) {
        errors++;
        expect(out.message.length).toBeGreaterThan(0);
      }
      if (i % 50 === 0) expect(h.run('return 1 + 1')).toEqual([2n]);
    });
    expect(errors).toBeGreaterThan(500);
    const malformed = h.compute('return _home.x');
    expect(malformed.ok).toBe(true);
  }, long);

  it(`random valid values from the host come back unchanged (${(1500 * SCALE).toLocaleString('en')})`, () => {
    const h = RawHost.create();
    repeat(1500 * SCALE, SEED + 2, (rng) => {
      const v = randomValue(rng);
      const bytes = encodeValue(v);
      h.table(1).set('\x04v', bytes);
      const r = h.compute('return _home.v');
      if (!r.ok) throw new Error(r.message);
      if (v === null) expect(r.values).toEqual([null]);
      else if (typeof v === 'number' && Number.isNaN(v)) expect(r.values[0]).toBeNaN(); // NaN payloads are not kept by JS numbers
      else expect(encodeValue(r.values[0])).toEqual(bytes);
    });
  }, long);
});

describe('fuzzing saved state', () => {
  let dir: string;
  let exported: Uint8Array;
  let image: Uint8Array;
  let golden: string;
  const expected = [7, 'seven', 3];
  const check = async (lua: Lua) => expect(lua.compute('return _home.n, _home.s, #_home.list').values).toEqual(expected);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lua-home-fuzz-'));
    golden = join(dir, 'golden');
    const store = new NodeFileStore(golden, { compactAfter: 512 });
    const lua = await Lua.create({ store });
    lua.compute('_home.pad = ("p"):rep(600) _home.list = { 1, 2 }');
    await lua.save(); // compaction: a snapshot
    lua.compute('_home.n = 7 _home.list[3] = 3');
    await lua.save();
    lua.compute('_home.s = "seven"');
    await lua.save();
    exported = lua.exportState();
    image = await lua.saveImage();
    await store.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function damage(rng: Rng, bytes: Uint8Array): Uint8Array {
    const b = Uint8Array.from(bytes);
    switch (rng.int(4)) {
      case 0: // bit flips
        for (let i = 0, n = 1 + rng.int(3); i < n; i++) b[rng.int(b.length)] ^= 1 << rng.int(8);
        return b;
      case 1: return b.subarray(0, rng.int(b.length)); // truncation
      case 2: return Uint8Array.from([...b, ...rng.bytes(1 + rng.int(40))]); // junk appended
      default: return rng.bytes(rng.int(b.length * 2 + 1)); // random bytes
    }
  }

  it(`damaged exports and images (${(300 * SCALE).toLocaleString('en')}): refused, or the same state`, async () => {
    const rng = new Rng(SEED + 3);
    let refused = 0;
    for (let i = 0; i < 300 * SCALE; i++) {
      const bytes = damage(rng, i % 2 ? exported : image);
      const r = await Lua.create(i % 2 ? { state: bytes } : { image: bytes }).then((l) => l, (e) => e);
      if (r instanceof Lua) await check(r);
      else {
        expect(r instanceof StateCorruptError || r instanceof ImageBuildError).toBe(true);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(200 * SCALE);
  }, long);

  it(`damaged snapshots and journals (${(200 * SCALE).toLocaleString('en')}): refused, or a state of some save; files untouched`, async () => {
    const rng = new Rng(SEED + 4);
    const files = readdirSync(golden);
    const valid = [[7, 'seven', 3], [7, undefined, 3], [undefined, undefined, 2]]; // some save (a torn tail loses the last ones)
    for (let i = 0; i < 200 * SCALE; i++) {
      const d = join(dir, `case-${i}`);
      mkdirSync(d);
      for (const f of files) copyFileSync(join(golden, f), join(d, f));
      const victim = rng.pick(files);
      writeFileSync(join(d, victim), damage(rng, readFileSync(join(golden, victim))));
      const before = readdirSync(d).map((f) => [f, readFileSync(join(d, f))]);
      const store = new NodeFileStore(d);
      const r = await Lua.create({ store }).then((l) => l, (e) => e);
      if (r instanceof Lua) {
        expect(valid).toContainEqual(r.compute('return _home.n, _home.s, #_home.list').values);
        await store.close();
      } else {
        expect(r).toBeInstanceOf(StateCorruptError);
      }
      expect(readdirSync(d).map((f) => [f, readFileSync(join(d, f))])).toEqual(before);
      rmSync(d, { recursive: true });
    }
  }, long);
});

describe('the fuzzers themselves', () => {
  it('are reproducible: the same seed gives the same inputs', () => {
    const a = new Rng(5);
    const b = new Rng(5);
    const c = new Rng(6);
    const run = (r: Rng) => Array.from({ length: 20 }, () => mutate(r).join());
    const first = run(a);
    expect(run(b)).toEqual(first);
    expect(run(c)).not.toEqual(first);
  });
});
