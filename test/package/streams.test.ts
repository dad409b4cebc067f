// No 64 KiB walls through the API (issue 13): output streamed as the compute runs, binary-exact;
// results and code of any size; require through `modules`; stdin from the host.
import { Writable } from 'node:stream';
import { Lua, LuaError } from '../../js/src/node';

describe('output streams', () => {
  it('1 MB of output arrives complete and in order through stdout, the first bytes before the compute ends', async () => {
    const chunks: Uint8Array[] = [];
    let seenByHost = -1;
    const lua = await Lua.create({ stdout: (b: Uint8Array) => { chunks.push(b.slice()); } });
    lua.global.set('probe', () => { seenByHost = chunks.reduce((n, c) => n + c.length, 0); });
    const r = lua.compute(`
      for i = 1, 10000 do io.write(string.format("%05d", i), string.rep(".", 94), "\\n") end
      probe()
      for i = 10001, 10500 do io.write(string.format("%05d", i), string.rep(".", 94), "\\n") end`);
    const text = Buffer.concat(chunks).toString('latin1');
    const lines = text.split('\n');
    expect(lines.length).toBe(10501);
    expect(lines.slice(0, 10500).every((l, i) => l === String(i + 1).padStart(5, '0') + '.'.repeat(94))).toBe(true);
    expect(seenByHost).toBeGreaterThan(900_000); // streamed while the chunk ran
    expect(r.output).toBe(''); // nothing collected when a sink takes it
  });

  it('a Node writable is a sink, and bytes are exact', async () => {
    const got: Buffer[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { got.push(Buffer.from(chunk)); done(); } });
    const lua = await Lua.create({ stdout: sink, stderr: (b: Uint8Array) => got.push(Buffer.from('E:' + Buffer.from(b).toString('latin1'), 'latin1')) });
    lua.compute('io.write("\\xff\\xfe ok\\n") io.stderr:write("\\x00!")');
    expect(Buffer.concat(got)).toEqual(Buffer.from('\xff\xfe ok\nE:\x00!', 'latin1'));
  });

  it('without a sink, output is collected up to outputLimit and the rest counted in outputDropped', async () => {
    const lua = await Lua.create({ outputLimit: 1000 });
    const r = lua.compute('io.write(string.rep("a", 1500)) return 1');
    expect(r.output).toBe('a'.repeat(1000));
    expect(r.outputDropped).toBe(500);
    const whole = await Lua.create();
    expect(whole.compute('io.write(string.rep("b", 300000))').outputBytes.length).toBe(300000);
  });
});

describe('results and code of any size', () => {
  it('a 30,000-element array and a 700 KB string come back whole', async () => {
    const lua = await Lua.create();
    const t = lua.compute('local t = {} for i = 1, 30000 do t[i] = i end return t').value as number[];
    expect(t.length).toBe(30000);
    expect(t[29999]).toBe(30000);
    const s = lua.compute('return string.rep("z", 700000)').value as string;
    expect(s.length).toBe(700000);
  });

  it('a 300 KB chunk of generated code runs', async () => {
    const lua = await Lua.create();
    const lines = ['local n = 0'];
    for (let i = 0; lines.join('\n').length < 300_000; i++) lines.push(`n = n + ${i % 7} -- line ${i} of generated code`);
    const code = lines.join('\n') + '\nreturn n';
    expect(code.length).toBeGreaterThan(300_000);
    const expected = Array.from({ length: lines.length - 1 }, (_, i) => i % 7).reduce((a, b) => a + b, 0);
    expect(lua.compute(code).value).toBe(expected);
  });
});

describe('require through modules', () => {
  const sources = {
    mylib: 'local util = require("mylib.util") local M = {} function M.twice(x) return util.add(x, x) end return M',
    'mylib.util': 'return { add = function(a, b) return a + b end }',
    broken: 'local M = {}\nerror("oops")\nreturn M',
    bad: 'return +',
  };

  it('an object of sources: nested requires, loaded once', async () => {
    const lua = await Lua.create({ modules: sources });
    expect(lua.compute('local a = require("mylib") local b = require("mylib") return a.twice(21), a == b, package.loaded["mylib.util"] ~= nil').values).toEqual([42, true, true]);
  });

  it('a module error names its file and line; a syntax error too; a missing module says where it looked', async () => {
    const lua = await Lua.create({ modules: sources });
    expect(() => lua.compute('require("broken")')).toThrow(/broken\.lua:2: oops/);
    expect(() => lua.compute('require("bad")')).toThrow(/bad\.lua:1:/);
    expect(() => lua.compute('require("nope")')).toThrow(/module 'nope' not found:[\s\S]*no module 'nope' in modules/);
  });

  it('a loader function, called with the name and package.path; async under computeAsync', async () => {
    const asked: string[] = [];
    const lua = await Lua.create({ modules: (name: string) => { asked.push(name); return name === 'greet' ? 'return function(n) return "hi " .. n end' : undefined; } });
    expect(lua.compute('return require("greet")("ann")').value).toBe('hi ann');
    expect(asked).toEqual(['greet']);
    const later = await Lua.create({ modules: async (name: string) => (name === 'slow' ? 'return 7' : undefined) });
    expect((await later.computeAsync('return require("slow") * 6')).value).toBe(42);
  });

  it('nothing is readable that the host did not serve', async () => {
    const lua = await Lua.create();
    expect(lua.compute('return io.open, os.execute, loadfile, dofile').values).toEqual([undefined, undefined, undefined, undefined]);
    expect(() => lua.compute('require("os")')).not.toThrow(); // the loaded library itself
    expect(() => lua.compute('require("etc.passwd")')).toThrow(LuaError);
  });
});

describe('stdin', () => {
  it('a string, bytes, or a reader function', async () => {
    expect((await Lua.create({ stdin: 'a\nb\n' })).compute('return io.read(), io.read()').values).toEqual(['a', 'b']);
    expect((await Lua.create({ stdin: new Uint8Array([0xff, 0x0a]) })).compute('return #io.read("a")').value).toBe(2);
    const pieces = ['12 ', '34\n', 'tail'];
    const lua = await Lua.create({ stdin: () => pieces.shift() ?? null });
    expect(lua.compute('return io.read("n"), io.read("n"), io.read("a")').values).toEqual([12, 34, '\ntail']);
  });
});
