// bench/workloads compute the same checksum on lua-home as on native Lua 5.4 (at a small scale;
// no timing is asserted: speed is measured by `npm run bench`).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lua } from '../../js/src/node';

const dir = join(__dirname, '..', '..', 'bench', 'workloads');
const small: Record<string, number> = { 'fib.lua': 18, 'floats.lua': 40, 'garbage.lua': 5000, 'loops.lua': 50000,
  'methods.lua': 5000, 'sort.lua': 1, 'strings.lua': 500, 'tables.lua': 10 };
const files = readdirSync(dir).filter((f) => f.endsWith('.lua')).sort();

describe('bench workloads', () => {
  it('are all sized here', () => expect(files.sort()).toEqual(Object.keys(small).sort()));

  it.each(files)('%s: lua-home and native lua5.4 agree', async (file) => {
    const code = readFileSync(join(dir, file), 'utf8');
    const lua = await Lua.create();
    lua.compute(`N = ${small[file]}`);
    const ours = lua.compute(code).value;
    const native = execFileSync('lua5.4', ['-e', `N = ${small[file]} local r = dofile(${JSON.stringify(join(dir, file))}) print(math.type(r) == "integer" and string.format("%d", r) or tostring(r))`], { encoding: 'utf8' }).trim();
    expect(typeof ours === 'number' || typeof ours === 'bigint').toBe(true);
    expect(String(ours)).toBe(native);
  });
});
