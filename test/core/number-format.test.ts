// lua-home formats numbers without musl's printf on the hot paths (cpp/libc_shim.h): the text
// must be exactly what "%lld" and "%.14g" give, which Lua's tostring and string.format promise.
import { execFileSync } from 'node:child_process';
import { RawHost, str } from '../support/raw-host';

const CHECK = `
local bad, n = {}, 0
local function check(x)
  n = n + 1
  local a = tostring(x)
  local b = math.type(x) == "integer" and string.format("%d", x) or string.format("%.14g", x)
  if math.type(x) == "float" and b:find("^-?%d+$") then b = b .. ".0" end
  if a ~= b or (x .. "") ~= a then bad[#bad + 1] = string.format("%a: %s vs %s", x, a, b) end
end
math.randomseed(SEED)
for i = 1, 25000 do
  local x = string.unpack("<d", string.pack("<i8", math.random(math.mininteger, math.maxinteger)))
  if x == x then check(x) end
  check(math.random(-10^9, 10^9) / 10^math.random(0, 20))     -- decimal-looking: near-ties live here
  check(math.random(1, 10^6) * 10.0^math.random(-35, 35))
  check(math.random(math.mininteger, math.maxinteger))
end
for _, x in ipairs({ 0, 0.0, -0.0, 0.5, 1.5, 2.5, 0.1, 1/3, 1e-4, 1e-5, 1e13, 1e14, 1e14 - 1, 99999999999999.5,
  9999999999999.95, 1e29, 9.99999999999995e29, 1e30, 1e-30, 5e-324, 2^53, 2^63, -2^63, 1.7976931348623157e308,
  math.huge, -math.huge, math.maxinteger, math.mininteger, -1, 1 }) do check(x) if x ~= 0 then check(-x) end end
return n, #bad, table.concat(bad, "\\n", 1, math.min(#bad, 10))`;

describe('numbers to text', () => {
  it.each([1, 2])('tostring, .. and string.format agree with snprintf on random numbers (seed %d)', (seed) => {
    const h = RawHost.create();
    const [n, bad, sample] = h.run(CHECK.replace('SEED', String(seed)));
    expect(Number(n)).toBeGreaterThan(90_000);
    expect(str(sample)).toBe('');
    expect(bad).toBe(0n);
  });

  it('prints what native Lua 5.4 prints', () => {
    const code = `local out, seed = {}, 987654321
      local function rnd() seed = seed * 6364136223846793005 + 1442695040888963407 return seed end
      for i = 1, 900 do
        local x = string.unpack("<d", string.pack("<i8", rnd()))
        if x == x then out[#out + 1] = tostring(x) end
        out[#out + 1] = tostring((rnd() % 2000000001 - 1000000000) / 10.0^(rnd() % 21))
        out[#out + 1] = ((rnd() % 1000000) * 10.0^(rnd() % 71 - 35)) .. "," .. rnd()
      end
      return table.concat(out, " ")`;
    const ours = str(RawHost.create().run(code)[0]);
    const native = execFileSync('lua5.4', ['-e', `io.write((function() ${code} end)())`], { encoding: 'utf8' });
    expect(ours.split(' ').length).toBeGreaterThan(2500);
    expect(ours).toBe(native);
  });
});

// lua-home's strtod is musl's scanner converted to double (cpp/strtod.c): Lua's tonumber, the
// lexer and key decoding all read numbers through it. It must round exactly as a correctly
// rounded strtod does: V8's Number() is one (it keeps every digit that matters).
describe('text to numbers', () => {
  let seed = 0x9e3779b9;
  const rnd = (n: number) => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    seed ^= seed >>> 13;
    return (seed >>> 0) % n;
  };
  const bits = new DataView(new ArrayBuffer(8));
  const randomDouble = () => {
    bits.setUint32(0, rnd(2 ** 32));
    bits.setUint32(4, rnd(2 ** 32));
    return bits.getFloat64(0);
  };
  // The exact decimal expansion of k * 2^e.
  const exact = (k: bigint, e: number): string => {
    if (e >= 0) return (k << BigInt(e)).toString();
    const digits = (k * 5n ** BigInt(-e)).toString().padStart(-e + 1, '0');
    return digits.slice(0, digits.length + e) + '.' + digits.slice(digits.length + e);
  };
  // The midpoint between a finite positive double and the next one up, exactly, in decimal.
  const midpoint = (x: number): string => {
    bits.setFloat64(0, x);
    const hi = bits.getUint32(0), lo = bits.getUint32(4);
    const be = (hi >>> 20) & 0x7ff;
    let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
    if (be !== 0) m |= 1n << 52n;
    const e = (be === 0 ? 1 : be) - 1075;
    return exact(2n * m + 1n, e - 1);
  };

  function inputs(): string[] {
    const out: string[] = [];
    for (let i = 0; i < 1800; i++) {
      const x = Math.abs(randomDouble());
      if (Number.isFinite(x)) {
        out.push(String(x), x.toPrecision(17), x.toExponential(20), x.toPrecision(rnd(16) + 1));
        if (x > 1e-200 && x < 1e200) {
          const mid = midpoint(x); // a tie: rounds to the even neighbour
          out.push(mid, mid + '0000000000001', mid.replace(/5$/, '49999'));
        }
      }
      let digits = String(rnd(9) + 1);
      for (let n = rnd(40); n > 0; n--) digits += String(rnd(10));
      const point = rnd(digits.length + 1);
      out.push(`${digits.slice(0, point)}.${digits.slice(point) || '0'}e${rnd(680) - 350}`);
    }
    for (let i = 0; i < 300; i++) {
      const sub = rnd(2 ** 31) * 2 ** -1074 * (rnd(2) ? 1 : 2 ** -20); // subnormals and their ties
      out.push(String(sub), sub > 0 ? midpoint(sub) : '0');
    }
    out.push('2.4703282292062327e-324', '2.4703282292062328e-324', '4.9406564584124654e-324', '1e-400',
      '1.7976931348623157e308', '1.7976931348623158e308', '1.7976931348623159e308', '1e309', '0.0', '-0.0',
      '9007199254740993', '9007199254740992.5', '0.1', '  1.5e3  ', '123456789012345678901234567890',
      '0x1p-1074', '0x1.fffffffffffffp1023', '0x1.fffffffffffff8p1023', '0x.8p1', '0xA.8p0', '0x1p-1075', '0x10');
    return out;
  }

  const expected = (s: string) => (/^\s*-?0x/i.test(s) ? hexValue(s.trim()) : Number(s));
  function hexValue(s: string): number {
    const m = /^(-?)0x([0-9a-f]*)\.?([0-9a-f]*)p([-+]?\d+)$/i.exec(s);
    if (!m) return Number(s);
    const mant = BigInt('0x' + (m[2] + m[3] || '0'));
    const e = Number(m[4]) - 4 * m[3].length;
    // Round through the exact decimal, which Number() rounds correctly.
    const v = Number(exact(mant, e));
    return m[1] ? -v : v;
  }

  it('tonumber rounds every input as a correctly rounded strtod does (random, ties, subnormals, hex)', () => {
    const h = RawHost.create();
    const all = inputs();
    let checked = 0;
    const bad: string[] = [];
    for (let i = 0; i < all.length; ) {
      const batch: string[] = [];
      let size = 0;
      while (i < all.length && size < 50_000) {
        batch.push(all[i]);
        size += all[i++].length + 4;
      }
      const code = `local S = {${batch.map((s) => `"${s}"`).join(',')}}
        local out = {} for i, s in ipairs(S) do out[i] = string.pack("<d", tonumber(s) * 1.0) end
        return table.concat(out)`;
      const got = h.run(code)[0] as Uint8Array;
      const view = new DataView(got.buffer, got.byteOffset, got.byteLength);
      batch.forEach((s, j) => {
        const want = expected(s);
        const ours = view.getFloat64(8 * j, true);
        checked++;
        if (!Object.is(ours, want)) bad.push(`${s.length > 60 ? s.slice(0, 60) + '…' : s}: ${ours} (want ${want})`);
      });
    }
    expect(checked).toBeGreaterThan(12_000);
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('the lexer and integer-or-float rules are Lua\'s', () => {
    const h = RawHost.create();
    expect(h.run('return 0.1 + 0.2, 1e308 * 10, 2^53 + 1.0, tonumber("1e"), tonumber("inf"), tonumber("nan"), tonumber(" 0x10 "), math.type(tonumber("10")), math.type(tonumber("1e1"))'))
      .toEqual([0.1 + 0.2, Infinity, 2 ** 53, null, null, null, 16n, str2('integer'), str2('float')]);
  });
});

function str2(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
