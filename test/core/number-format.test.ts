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
