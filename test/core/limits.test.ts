// Limits: the instruction limit, memory exhaustion, Lua and C recursion, deep tables. Each
// ends in an error result (never a trap, never a corrupted VM), and the next compute works.
import { RawHost, STACK_BYTES, stackHighWater, str, utf8 } from '../support/raw-host';

describe('the instruction limit', () => {
  const h = RawHost.create();
  afterEach(() => h.exports.set_instruction_limit(0));
  const MESSAGE = 'instruction limit exceeded (10000 instructions)';
  /** Each chunk fails with the limit's error (the chunk is in the comparison, for the report). */
  const stopsAtLimit = (codes: string[]) => {
    for (const code of codes) expect([code, h.compute(code)]).toMatchObject([code, { ok: false, kind: 4, message: MESSAGE }]);
  };

  it('stops `while true do end` with kind 4 and the documented message', () => {
    h.exports.set_instruction_limit(10000);
    expect(h.fail('while true do end')).toMatchObject({ kind: 4, message: MESSAGE });
    expect(h.run('return 1 + 1')).toEqual([2n]);
  });

  it('cannot be absorbed by pcall, xpcall or coroutines', () => {
    h.exports.set_instruction_limit(10000);
    stopsAtLimit([
      'while true do pcall(function() while true do end end) end',
      'local ok = pcall(function() while true do end end) return "absorbed"',
      'local ok = xpcall(function() while true do end end, function(m) return m end) return "absorbed"',
      'local ok, e = coroutine.resume(coroutine.create(function() while true do end end)) return "absorbed"',
      'local ok = pcall(coroutine.wrap(function() while true do end end)) return "absorbed"',
      'local ok = pcall(string.gsub, "aaa", "a", function() while true do end end) return "absorbed"',
    ]);
    expect(h.run('return "works"').map(str)).toEqual(['works']);
  });

  it('counts steps per compute, and stops at the limit', () => {
    h.exports.set_instruction_limit(10000);
    for (let i = 0; i < 5; i++) expect(h.run('local x = 0 for i = 1, 1000 do x = x + i end return x')).toEqual([500500n]);
    const r = h.compute('n = 0 for i = 1, 1e9 do n = n + 1 end');
    expect(r).toMatchObject({ ok: false, kind: 4 });
    h.exports.set_instruction_limit(0);
    const [n] = h.run('return n');
    // A turn of `n = n + 1` (GETTABUP, ADDI, SETTABUP, FORLOOP) is one step: its loop iteration.
    // Steps are counted at jumps, loop iterations, calls and returns (docs/ABI.md), so a turn
    // costs at least one step and the loop stops within its 10,000th turn. Compiling the chunk
    // allocates about a kilobyte, charged at one step per 64 bytes ("Steps").
    expect(Number(n)).toBeGreaterThan(10000 - 40);
    expect(Number(n)).toBeLessThanOrEqual(10000);
  });

  it('stops pattern matching that backtracks for ever, inside one library call', () => {
    // Without a step per backtracking attempt these run for hours: the VM counts no steps while
    // string.find is running.
    h.exports.set_instruction_limit(10000);
    stopsAtLimit([
      'return string.find(string.rep("a", 5000), string.rep("a-", 12) .. "b")',
      'return string.match(string.rep("x", 4000), string.rep(".-", 9) .. "y")',
      'for w in string.gmatch(string.rep("ab", 3000), "(.-)(.-)(.-)(.-)c") do end',
      'return (string.gsub(string.rep("a", 3000), string.rep("a*", 8) .. "b", ""))',
      'local ok, e = pcall(string.find, string.rep("a", 5000), string.rep(".-", 10) .. "b") return "absorbed", e',
    ]);
    // Ordinary matching is not disturbed: a step per attempt, like any loop.
    expect(h.run('return (string.gsub(string.rep("ab", 100), "(a)(b)", "%2%1"))').map(str)).toEqual(['ba'.repeat(100)]);
    expect(h.run('return string.find("hello world", "o w")')).toEqual([5n, 7n]);
    h.exports.set_instruction_limit(0); // Lua's own depth check still applies, with its own message
    expect(h.fail('return string.find(string.rep("a", 300), string.rep("a?", 300) .. string.rep("a", 300))').message).toContain('pattern too complex');
  });

  it('0 removes the limit', () => {
    h.exports.set_instruction_limit(10000);
    h.exports.set_instruction_limit(0);
    expect(h.run('local x = 0 for i = 1, 1e6 do x = x + 1 end return x')).toEqual([1000000n]);
  });
});

describe('memory exhaustion', () => {
  it('gives "not enough memory" (kind 3); the VM stays usable and its heap returns to the baseline', () => {
    const h = RawHost.create();
    h.run('keep = "a global that survives"');
    h.exports.run_gc();
    const baseline = h.heapInUse();
    const e = h.fail('local t = {} while true do t[#t + 1] = string.rep("x", 1000) .. #t end');
    expect(e).toMatchObject({ kind: 3, message: 'not enough memory' });
    expect(h.run('return keep, 1 + 1')).toEqual([utf8('a global that survives'), 2n]);
    h.exports.run_gc();
    // Near the baseline: the chunk cache now holds the two new chunks (about 1 KB each).
    expect(h.heapInUse()).toBeLessThan(baseline + 8 * 1024);
    // And the memory really is back: 1 MB can be allocated again.
    expect(h.run('local s = string.rep("y", 500000) return #s')).toEqual([500000n]);
  });

  it('during a deep copy into _home or while encoding results is also an error', () => {
    const h = RawHost.create();
    expect(h.fail('local t = {} for i = 1, 1e7 do t[i] = i end _home.t = t').kind).toBe(3);
    expect(h.fail('local t = {} for i = 1, 1e7 do t[i] = i end return t').kind).toBe(3);
    expect(h.run('return 1')).toEqual([1n]);
  });

  it('an allocation failure injected anywhere (set_alloc_fail_at) is an error, never a trap', () => {
    const h = RawHost.create();
    const code = '_home.t = {a = {1, 2, 3}, s = string.rep("s", 100)} local r = {} for k, v in pairs(_home.t) do r[#r + 1] = k end return r';
    for (let n = 1; n <= 60; n++) {
      h.exports.set_alloc_fail_at(n);
      const r = h.compute(code);
      expect(r.ok || r.kind === 3).toBe(true);
      h.exports.set_alloc_fail_at(0);
      expect(h.run('return 7')).toEqual([7n]);
    }
  });
});

describe('recursion', () => {
  it('deep Lua recursion is a stack overflow error', () => {
    const h = RawHost.create();
    const e = h.fail('local function f(n) return 1 + f(n + 1) end f(1)');
    expect(e.kind).toBe(2);
    expect(e.message).toBe('[string "local function f(n) return 1 + f(n + 1) end f..."]:1: stack overflow');
    expect(h.run('local function f(n) if n == 0 then return 0 end return 1 + f(n - 1) end return f(1000)')).toEqual([1000n]);
  });

  // The native (shadow) stack has no guard: C recursion must stop while it fits.
  const deep = (n: number) => `local function deep() local t = {} local c = t for i = 1, ${n} do c.n = {} c = c.n end return t end`;
  const cases: [string, string, RegExp][] = [
    ['nested pcall', 'local function f() local ok, e = pcall(f) error(e, 0) end f()', /C stack overflow/],
    ['string.gsub callbacks', 'local function f(s) return (s:gsub(".", f)) end f("x")', /C stack overflow/],
    ['__index chains', 'local mt = {} mt.__index = function(t, k) return setmetatable({}, mt)[k] end return setmetatable({}, mt).x', /C stack overflow/],
    ['__tostring in string.format', 'local function f() return string.format("%s", setmetatable({}, {__tostring = f})) end f()', /C stack overflow/],
    ['table.sort comparators', 'local function f() table.sort({1, 2, 3}, function(a, b) f() return a < b end) end f()', /C stack overflow/],
    ['coroutines resuming coroutines', 'local function f() return coroutine.wrap(f)() end f()', /C stack overflow/],
    ['nested syntax', `return ${'('.repeat(300)}1${')'.repeat(300)}`, /C stack overflow|too many/],
    ['a 10,000-deep table copied into _home', `${deep(10000)} _home.deep = deep()`, /tables nested too deeply \(more than 200 levels\)/],
    ['a 10,000-deep table returned', `${deep(10000)} return deep()`, /tables nested too deeply \(more than 200 levels\)/],
    ['a deep copy at the deepest C level (string.format)',
      `${deep(199)} local d = deep() local function f() return string.format("%s", setmetatable({}, {__tostring = function() _home.d = d return f() end})) end f()`,
      /C stack overflow/],
    ['a deep copy at the deepest C level (gsub)',
      `${deep(199)} local d = deep() local function f(s) return (s:gsub(".", function(c) _home.d = d return f(c) end)) end f("x")`,
      /C stack overflow/],
  ];
  for (const [name, code, message] of cases) {
    it(`${name}: a clear error, within the native stack, and the VM works after`, () => {
      const h = RawHost.create();
      let r: ReturnType<RawHost['compute']> | undefined;
      const used = stackHighWater(h, () => (r = h.compute(code)));
      expect(r).toMatchObject({ ok: false });
      expect(r!.ok === false && r!.message).toMatch(message);
      expect(used).toBeLessThan(STACK_BYTES - 16 * 1024); // some stack always left unused
      expect(h.run('return 1 + 1')).toEqual([2n]);
      h.run('_home.after = {1, {2, {3}}}');
      expect(h.run('return _home.after[2][2][1]')).toEqual([3n]);
    });
  }

  it('tables nested 199 deep copy and return; 200 is the limit', () => {
    const h = RawHost.create();
    const d = (n: number) => `local t = {} local c = t for i = 1, ${n} do c.n = {} c = c.n end`;
    h.run(`${d(199)} _home.d = t`);
    expect(h.run(`${d(199)} return true, t ~= nil`)).toEqual([true, true]);
    expect(h.compute(`${d(199)} return t`).ok).toBe(true);
    expect(h.fail(`${d(200)} return t`).message).toBe('tables nested too deeply (more than 200 levels)');
    expect(h.fail(`${d(200)} _home.d2 = t`).message).toContain('tables nested too deeply (more than 200 levels)');
    expect(h.run('return _home.d2')).toEqual([null]);
  });
});
