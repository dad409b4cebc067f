// The sandbox: no files, processes or environment; output captured; a host-fed deterministic
// clock and random seed; text-only load; require from package.preload; a minimal debug.
import { RawHost, str, utf8 } from '../support/raw-host';

const h = RawHost.create();
const strings = (code: string) => h.run(code).map(str);

describe('what is absent', () => {
  it('without the host channel, stdin is empty and require finds only package.preload', () => {
    expect(h.run('return io.read(), io.read("a"), io.stdin:read("l"), io.lines()()').map((v) => (v === null || v === undefined ? 'nil' : str(v)))).toEqual(['nil', '', 'nil']); // io.lines at the end gives no value, as in lua5.4
    expect(h.fail('require("mylib")').message).toContain("module 'mylib' not found");
    expect(strings('package.preload.m = function() return "pre" end return require("m"), package.cpath')).toEqual(['pre', '']);
  });

  it('nothing opens, reads or runs files, processes or the environment', () => {
    const absent = ['io.open', 'io.popen', 'io.input', 'io.output', 'io.close', 'io.tmpfile',
      'os.execute', 'os.getenv', 'os.remove', 'os.rename', 'os.exit', 'os.tmpname', 'os.setlocale', 'dofile', 'loadfile',
      'package.loadlib', 'package.searchpath'];
    const [missing] = h.run(`local found = {} for _, name in ipairs({${absent.map((n) => `"${n}"`).join(', ')}}) do
      local v = load("return " .. name)() if v ~= nil then found[#found + 1] = name end end return table.concat(found, ",")`);
    expect(str(missing)).toBe('');
    expect(h.fail('io.open("/etc/passwd")').message).toContain("attempt to call a nil value (field 'open')");
    expect(h.fail('dofile("/etc/passwd")').message).toContain("attempt to call a nil value (global 'dofile')");
  });

  it('debug has everything but sethook, gethook, getregistry and debug', () => {
    expect(strings('local k = {} for name in pairs(debug) do k[#k + 1] = name end table.sort(k) return table.concat(k, ",")')).toEqual([
      'getinfo,getlocal,getmetatable,getupvalue,getuservalue,setlocal,setmetatable,setupvalue,setuservalue,traceback,upvalueid,upvaluejoin']);
    expect(strings('return debug.traceback("tb")')[0]).toMatch(/^tb\nstack traceback:/);
    expect(h.run('return debug.getinfo(1, "l").currentline')).toEqual([1n]);
    expect(h.run('return require("debug") == debug')).toEqual([true]);
  });

  it('the libraries that are there are the documented ones', () => {
    expect(strings(`local k = {} for name, v in pairs(_G) do if type(v) == "table" and name ~= "_G" and name ~= "_home" and name ~= "Memory" then k[#k + 1] = name end end
      table.sort(k) return table.concat(k, ",")`)).toEqual(['coroutine,debug,ext,io,math,os,package,string,table,utf8']);
  });
});

describe('output', () => {
  it('io.write and io.stdout:write go to the captured output', () => {
    expect(h.compute('io.write("a") io.stdout:write("b") print("c")')).toMatchObject({ ok: true, output: 'abc\n' });
  });

  it('io.stdout:write checks its self', () => {
    expect(h.fail('io.stdout.write({}, "x")').message).toContain("bad argument #1 to 'write'");
  });

  it('warn is off until "@on", then goes to the output', () => {
    expect(h.compute('warn("hidden")')).toMatchObject({ ok: true, output: '' });
    expect(h.compute('warn("@on") warn("shown ", "here") warn("@off") warn("hidden")')).toMatchObject({ ok: true, output: 'Lua warning: shown here\n' });
  });
});

describe('the clock', () => {
  it('without set_clock is the documented deterministic zero', () => {
    const fresh = RawHost.create();
    expect(fresh.run('return os.time(), os.clock(), os.date("!%Y-%m-%d %H:%M:%S"), os.date("%c")')).toEqual([
      0n, 0, utf8('1970-01-01 00:00:00'), utf8('Thu Jan  1 00:00:00 1970'),
    ]);
  });

  it('set_clock(unix, cpu) sets os.time, os.clock and os.date', () => {
    const fresh = RawHost.create();
    fresh.exports.set_clock(1700000000.75, 12.25);
    expect(fresh.run('return os.time(), os.clock(), os.date("!%Y-%m-%d %H:%M:%S"), os.date("%Y-%m-%dT%H:%M:%S"), os.date("*t").yday')).toEqual([
      1700000000n, 12.25, utf8('2023-11-14 22:13:20'), utf8('2023-11-14T22:13:20'), 318n,
    ]);
    fresh.exports.set_clock(NaN, 99); // NaN leaves that part unchanged
    expect(fresh.run('return os.time(), os.clock()')).toEqual([1700000000n, 99]);
    fresh.exports.set_clock(-86400, NaN);
    expect(fresh.run('return os.time(), os.clock(), os.date("!%F")')).toEqual([-86400n, 99, utf8('1969-12-31')]);
  });

  it('does not move during a compute', () => {
    const fresh = RawHost.create();
    fresh.exports.set_clock(1000, 1);
    expect(fresh.run('local a, c = os.time(), os.clock() for i = 1, 1e5 do end return os.time() - a, os.clock() - c')).toEqual([0n, 0]);
  });

  it('with channel flag 4, is asked of the host (op 9) once per compute, at its first reading', () => {
    let asks = 0;
    let answer: (mem: Uint8Array, at: number) => number = () => -1;
    const fresh = RawHost.create({
      overrides: {
        js_ext_table_get(id, kp, kl, vp, max) {
          if (id !== 0) return fresh.js_ext_table_get(id, kp, kl, vp, max);
          if (fresh.mem[kp] !== 9 || kl !== 1) return -1;
          asks++;
          return answer(fresh.mem, vp);
        },
      },
    });
    const clock = (unix: number, cpu: number) => (mem: Uint8Array, at: number) => {
      const v = new DataView(mem.buffer, at);
      v.setUint8(0, 0);
      v.setFloat64(1, unix, true);
      v.setFloat64(9, cpu, true);
      return 17;
    };
    const exports = fresh.exports as unknown as { set_host_channel(flags: number): void };
    fresh.exports.set_clock(5, 1);
    exports.set_host_channel(1); // without flag 4: set_clock's clock, no request
    expect(fresh.run('return os.time(), os.clock()')).toEqual([5n, 1]);
    expect(asks).toBe(0);
    exports.set_host_channel(1 | 4);
    answer = clock(1700000000.5, 2.5);
    expect(fresh.run('return 1')).toEqual([1n]);
    expect(asks).toBe(0); // never read: never asked
    expect(fresh.run('local a = os.time() return a, os.clock(), os.date("!%H:%M:%S"), os.time()')).toEqual([
      1700000000n, 2.5, utf8('22:13:20'), 1700000000n,
    ]);
    expect(asks).toBe(1); // once for the compute
    answer = clock(NaN, 7); // NaN leaves that part
    expect(fresh.run('return os.time(), os.clock()')).toEqual([1700000000n, 7]);
    expect(asks).toBe(2);
    answer = (mem, at) => { // an error value: a codec string
      const message = utf8('no clock today');
      mem[at] = 1;
      mem[at + 1] = 4;
      new DataView(mem.buffer).setUint32(at + 2, message.length, true);
      mem.set(message, at + 6);
      return 6 + message.length;
    };
    expect(fresh.fail('return os.time()')).toMatchObject({ kind: 6, message: expect.stringMatching(/the host failed to give the clock: no clock today$/) });
    answer = () => -2;
    expect(fresh.fail('return os.clock()')).toMatchObject({ kind: 6, message: expect.stringMatching(/the host failed to give the clock$/) });
    expect(fresh.run('return pcall(os.date)')[0]).toBe(false); // a Lua error pcall catches
  });

  it('os.time(t) and os.difftime work in UTC', () => {
    expect(h.run('return os.time({year = 2000, month = 1, day = 1, hour = 0}), os.difftime(10, 3), os.date("!%H:%M", 3600 * 5 + 60 * 7)')).toEqual([
      946684800n, 7, utf8('05:07'),
    ]);
  });
});

describe('math.random', () => {
  const sequence = (host: RawHost) => h.run.call(host, 'local t = {} for i = 1, 5 do t[i] = math.random(1, 1000000) end return table.concat(t, ",")').map(str)[0];

  it('is deterministic without set_random_seed', () => {
    expect(sequence(RawHost.create())).toBe(sequence(RawHost.create()));
  });

  it('set_random_seed: the same seed gives the same sequence, another seed another', () => {
    const a = RawHost.create(), b = RawHost.create(), c = RawHost.create();
    a.exports.set_random_seed(42n, 7n);
    b.exports.set_random_seed(42n, 7n);
    c.exports.set_random_seed(43n, 7n);
    const sa = sequence(a);
    expect(sequence(b)).toBe(sa);
    expect(sequence(c)).not.toBe(sa);
    expect(sequence(RawHost.create())).not.toBe(sa);
    a.exports.set_random_seed(42n, 7n); // seeding again restarts the sequence
    expect(sequence(a)).toBe(sa);
  });
});

describe('load', () => {
  it('accepts text, with a chunk name and an environment', () => {
    expect(h.run('return load("return 1 + 1")(), load("return x", "=c", "t", {x = 5})(), load("return ...", "c")(7)')).toEqual([2n, 5n, 7n]);
    expect(h.run('local parts = {"return ", "40 + 2"} local i = 0 return load(function() i = i + 1 return parts[i] end)()')).toEqual([42n]);
  });

  it('refuses binary chunks: string.dump output, and any mode with "b"', () => {
    const [ok, msg] = h.run('return load(string.dump(function() return 1 end))');
    expect(ok).toBeNull();
    expect(str(msg)).toContain("attempt to load a binary chunk (mode is 't')");
    expect(h.fail('load("return 1", "c", "b")').message).toContain('binary chunks are not allowed');
    expect(h.fail('load("return 1", "c", "bt")').message).toContain('binary chunks are not allowed');
    expect(h.run('return (load("\\27Lua junk"))')).toEqual([null]);
  });

  it('a binary chunk given to compute is a syntax error (kind 1)', () => {
    const [dumped] = h.run('return string.dump(function() return 1 end)');
    const r = h.computeBytes(dumped as Uint8Array);
    expect(r).toMatchObject({ ok: false, kind: 1 });
    expect(!r.ok && r.message).toContain("attempt to load a binary chunk (mode is 't')");
  });
});

describe('require', () => {
  it('serves package.preload and package.loaded', () => {
    expect(h.run(`package.preload.mymod = function(name, extra) return {name = name, extra = extra} end
      local m = require("mymod") return m.name, m.extra, require("mymod") == m, package.loaded.mymod == m`)).toEqual([
      utf8('mymod'), utf8(':preload:'), true, true,
    ]);
    expect(h.run('return require("string") == string, require("os") == os, require("io") == io, require("ext") == ext, require("package") == package'))
      .toEqual([true, true, true, true, true]);
  });

  it('finds nothing else: a clear error naming package.preload', () => {
    const e = h.fail('require("socket")');
    expect(e.message).toContain("module 'socket' not found");
    expect(e.message).toContain("no field package.preload['socket']");
  });
});
