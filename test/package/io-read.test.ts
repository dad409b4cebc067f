// io.read in every format, io.lines and io.stdin:read, against native lua5.4 on the same input:
// the same printed results (Lua.create({ stdin }) as the source).
import { execFileSync } from 'node:child_process';
import { Lua } from '../../js/src/node';

// Prints every value a read returned, with its type, so that nil, numbers and strings differ.
const SHOW = 'local function show(...) local n = select("#", ...) local t = {} for i = 1, n do local v = select(i, ...) t[i] = type(v) .. ":" .. (math.type(v) or "") .. ":" .. string.format("%q", v) end print(n, table.concat(t, " ")) end ';

const CASES: [name: string, input: string, code: string][] = [
  ['lines', 'one\ntwo\n\nfour', 'show(io.read()) show(io.read("l")) show(io.read("l")) show(io.read("l")) show(io.read("l"))'],
  ['lines with their newline', 'a\nb\n', 'show(io.read("L")) show(io.read("L")) show(io.read("L"))'],
  ['all', 'x\ny\n', 'show(io.read("a")) show(io.read("a"))'],
  ['counts', 'abcdefgh', 'show(io.read(3)) show(io.read(0)) show(io.read(10)) show(io.read(0)) show(io.read(1))'],
  ['several formats in one call', '12 3.5 rest\nnext\n', 'show(io.read("n", "n", "l", "L"))'],
  ['numbers', '42 -7 0x1F 3.25e2 .5 -0.0 1e400 0x.8p1\n', 'for i = 1, 8 do show(io.read("n")) end'],
  ['not a number', 'abc 5', 'show(io.read("n")) show(io.read("a"))'],
  ['a number at the end', '  17', 'show(io.read("n")) show(io.read("n"))'],
  ['old-style formats', 'l1\nl2\nrest', 'show(io.read("*l")) show(io.read("*L")) show(io.read("*a"))'],
  ['io.lines', 'p\nq\nr\n', 'for l in io.lines() do show(l) end'],
  ['io.stdin:read and lines', 'u\nv\nw\n', 'show(io.stdin:read("l")) for l in io.stdin:lines() do show(l) end'],
  ['binary bytes', '\u00ff\u0000\u0001z', 'local s = io.read("a") print(#s, s:byte(1, -1))'],
  ['empty input', '', 'show(io.read()) show(io.read("a")) show(io.read(0)) show(io.read("n"))'],
];

describe('io.read against lua5.4', () => {
  it.each(CASES)('%s', async (_name, input, code) => {
    const bytes = Buffer.from(input, 'latin1');
    const native = execFileSync('lua5.4', ['-e', SHOW + code], { input: bytes, encoding: 'latin1' });
    const lua = await Lua.create({ stdin: new Uint8Array(bytes) });
    const ours = Buffer.from(lua.compute(SHOW + code).outputBytes).toString('latin1');
    expect(ours).toBe(native);
  });
});
