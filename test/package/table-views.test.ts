import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
// Table views are views of this VM's own tables: ids it gave out, references it can read back,
// no writes once it is closed, and structures of any depth in and out.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Lua, LuaClosedError, TableView } from '../../js/src/node';

const TABLE_REF = Symbol.for('lua-home.tableRef');

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('lua.table(id)', () => {
  it('refuses ids that are not u32 table ids this VM gave out, with a RangeError', async () => {
    const lua = await Lua.create();
    const next = lua.compute('ext.table() ext.table() return 0').value as number; // tables 2 and 3
    expect(next).toBe(0);
    for (const id of [1.5, 2 ** 32 + 1, 2 ** 32, 0, -1, NaN, Infinity, 4, 1000, 2 ** 32 - 1]) {
      expect(() => lua.table(id)).toThrow(RangeError);
    }
    expect(() => lua.table('1' as unknown as number)).toThrow(RangeError);
    expect(() => lua.table(4)).toThrow(/has not created table 4 yet \(its next table id is 4\)/);
    expect(lua.host.tables.size).toBe(0); // nothing was created
    expect(lua.table(1)).toBe(lua.home);
    expect(lua.table(3).size).toBe(0);
    expect(lua.table(lua.newTable().id).id).toBe(4);
  });

  it('writes through an accepted id land where Lua reads them, also after a save and reload', async () => {
    const lua = await Lua.create();
    lua.home.set('t', {});
    const t = lua.table((lua.home.get('t') as TableView).id);
    t.set('x', 1);
    const state = lua.exportState();
    const again = await Lua.create({ state });
    expect(again.compute('return _home.t.x').value).toBe(1);
    expect(() => again.table(1.5)).toThrow(RangeError);
  });
});

describe('references stored from JavaScript', () => {
  it('a view of another VM is a TypeError, and nothing is stored', async () => {
    const a = await Lua.create();
    const b = await Lua.create();
    a.home.set('t', { secret: 'a' });
    b.home.set('mine', { own: 'b' }); // b has a table with the id a's view names
    const view = a.home.get('t') as TableView;
    expect(() => b.home.set('x', view)).toThrow(TypeError);
    expect(() => b.home.set('x', view)).toThrow(/table view of another Lua VM/);
    expect(() => b.home.set('x', { nested: [view] })).toThrow(TypeError);
    expect(b.home.has('x')).toBe(false);
    expect(b.compute('return _home.x').value).toBeUndefined();
  });

  it('objects posing as views (ids 0, NaN, -1, 2^40, or a real view\'s id) are TypeErrors', async () => {
    const lua = await Lua.create();
    for (const id of [0, NaN, -1, 2 ** 40, 1]) {
      expect(() => lua.home.set('x', { id, [TABLE_REF]: true })).toThrow(TypeError);
    }
    expect(() => lua.home.set('x', new TableView(lua, 2 ** 40))).toThrow(/cannot store a view of table 1099511627776/);
    expect(lua.home.size).toBe(0);
  });

  it('a view of the same VM is stored as a reference', async () => {
    const lua = await Lua.create();
    const t = lua.newTable();
    t.set('v', 5);
    lua.home.set('r', t).set('list', [t, t]);
    expect(lua.compute('return _home.r.v, rawequal(_home.r, _home.list[1]), rawequal(_home.list[1], _home.list[2])').values)
      .toEqual([5, true, true]);
  });
});

describe('views after close()', () => {
  it('set and delete throw LuaClosedError; reads still work', async () => {
    const lua = await Lua.create();
    const home = lua.home;
    home.set('k', 1);
    lua.close();
    expect(() => home.set('k', 2)).toThrow(LuaClosedError);
    expect(() => home.delete('k')).toThrow(LuaClosedError);
    expect(home.get('k')).toBe(1);
    expect(lua.host.tables.get(home.id)?.size).toBe(1);
  });
});

describe('deep structures', () => {
  const DEPTH = 20_000;

  it('home.set of a 20,000-deep structure stores every level (no JS stack overflow)', async () => {
    const lua = await Lua.create();
    let deep: Record<string, unknown> = { leaf: 'bottom' };
    for (let i = 0; i < DEPTH; i++) deep = { next: deep };
    lua.home.set('deep', deep);
    expect(lua.compute('local t, n = _home.deep, 0 while t.next do t, n = t.next, n + 1 end return n, t.leaf').values)
      .toEqual([DEPTH, 'bottom']);
  });

  it('toJS of a 20,000-deep chain built in Lua (no JS stack overflow), cycles kept', async () => {
    const lua = await Lua.create();
    lua.compute(`local t = ext.table() _home.chain = t
      for i = 1, ${DEPTH} do local n = ext.table() t.next = n t = n end
      t.leaf = "bottom" t.back = _home.chain`);
    const js = (lua.home.get('chain') as TableView).toJS() as Record<string, unknown>;
    let t = js;
    let n = 0;
    while (t.next) {
      t = t.next as Record<string, unknown>;
      n++;
    }
    expect([n, t.leaf, t.back === js]).toEqual([DEPTH, 'bottom', true]);
  });
});

describe('the view cache', () => {
  it('holds views weakly: 20,000 dropped views are let go', () => {
    // In a process of its own, with gc exposed: collection in a busy Jest worker is not reliable.
    const out = gcScript(`
      const lua = await Lua.create();
      lua.compute('for i = 1, 20000 do ext.table() end');
      for (let id = 2; id <= 20001; id++) lua.table(id);
      const before = lua.cachedViews;
      for (let i = 0; i < 100 && lua.cachedViews > 100; i++) { await new Promise((r) => setTimeout(r, 10)); gc(); }
      console.log(JSON.stringify([before, lua.cachedViews]));`);
    const [before, after] = JSON.parse(out) as number[];
    expect(before).toBe(20000);
    expect(after).toBeLessThan(100);
  });

  it('gives the same view for an id while it is alive', async () => {
    const lua = await Lua.create();
    const t = lua.newTable();
    await new Promise((r) => setTimeout(r, 0));
    gc();
    expect(lua.table(t.id)).toBe(t);
  });
});

// Runs `body` (inside an async function, with Lua and gc in scope) in a node process with
// --expose-gc, over the built package; returns its stdout.
function gcScript(body: string): string {
  const dist = join(__dirname, '..', '..', 'dist', 'cjs', 'node.js');
  return execFileSync(process.execPath, ['--expose-gc', '-e', `const { Lua } = require(${JSON.stringify(dist)}); (async () => { ${body} })();`], { encoding: 'utf8', timeout: 60_000 });
}
