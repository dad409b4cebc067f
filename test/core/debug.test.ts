// The debug library the sandbox provides, against native Lua 5.4: upvalues (identity, joining,
// reading and writing), locals of active frames and coroutines, metatables of basic types. And
// what stays out cannot switch the instruction limit off.
import { execFileSync } from 'node:child_process';
import { Lua, LuaError } from '../../js/src/node';

const SCRIPT = `
local out = {}
local function add(...) local t = table.pack(...) for i = 1, t.n do t[i] = tostring(t[i]) end out[#out + 1] = table.concat(t, " ") end
local a, b = 1, 2
local function f() return a + b end
local function g() return a end
add(debug.getupvalue(f, 1)) add(debug.getupvalue(f, 2)) add(debug.getupvalue(f, 3))
add(debug.upvalueid(f, 1) == debug.upvalueid(g, 1), debug.upvalueid(f, 2) == debug.upvalueid(g, 1))
add(debug.setupvalue(f, 2, 40), f(), b)
local x1, x2 = 100, 200
local function p() return x1 end
local function q() return x2 end
debug.upvaluejoin(p, 1, q, 1)
add(p(), debug.upvalueid(p, 1) == debug.upvalueid(q, 1))
add(pcall(debug.upvaluejoin, p, 1, print, 1))
local function h(x, y)
  local z = x * 2
  add(debug.getlocal(1, 1)) add(debug.getlocal(1, 2)) add(debug.getlocal(1, 3)) add((debug.getlocal(1, 4)))
  add(debug.setlocal(1, 3, 99))
  return z
end
add(h(5, 6))
add(debug.getlocal(h, 1), debug.getlocal(h, 2), debug.getlocal(h, 3))
local function v(...) add(debug.getlocal(1, -1)) add(debug.getlocal(1, -2)) add(debug.getlocal(1, -3)) end
v("va1", "va2")
local co = coroutine.create(function(p1) local q1 = p1 + 1 coroutine.yield() return q1 end)
coroutine.resume(co, 10)
add(debug.getlocal(co, 1, 1)) add(debug.getlocal(co, 1, 2))
add(debug.setlocal(co, 1, 2, 77)) add(coroutine.resume(co))
add(pcall(debug.getlocal, 50, 1))
add(getmetatable("").__index == string, debug.getmetatable(1), debug.getmetatable(nil))
debug.setmetatable(10, {__index = {double = function(n) return n * 2 end}})
add((5):double(), (2.5):double())
debug.setmetatable(10, nil)
add((select(2, pcall(function() return (5):double() end)):gsub("^.-:%d+: ", "")))
debug.setmetatable(nil, {__index = function() return "nilidx" end}) add((nil).x) debug.setmetatable(nil, nil)
local t = setmetatable({}, {__metatable = "locked"})
add(getmetatable(t), type(debug.getmetatable(t)), debug.setmetatable(t, nil) == t, getmetatable(t))
add(debug.getuservalue(1), debug.getuservalue({}))
add(debug.getinfo(h, "S").what, debug.getinfo(h, "u").nparams)
return table.concat(out, "\\n")
`;

describe('the debug library', () => {
  it('answers as native Lua 5.4 does', async () => {
    const lua = await Lua.create();
    const ours = lua.compute(SCRIPT).values[0] as string;
    const native = execFileSync('lua5.4', ['-e', `io.write((function() ${SCRIPT} end)())`], { encoding: 'utf8' });
    expect(ours.split('\n').length).toBeGreaterThan(25);
    expect(ours).toBe(native);
  });

  it('has no sethook, gethook, getregistry or debug: nothing switches the instruction limit off', async () => {
    const lua = await Lua.create({ instructionLimit: 50_000 });
    expect(lua.compute('return debug.sethook, debug.gethook, debug.getregistry, debug.debug').values).toEqual([undefined, undefined, undefined, undefined]);
    // every other debug function, tried on the loop, still ends at the limit
    const e = (() => {
      try {
        lua.compute(`local co = coroutine.wrap(function() while true do debug.getinfo(1) debug.getlocal(1, 1) debug.setlocal(1, 1, 0) end end)
          debug.setmetatable(nil, {__index = function() return debug.traceback() end}) co()`);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(LuaError);
    expect((e as LuaError).kind).toBe('limit');
    expect(lua.compute('return 1').values).toEqual([1]);
  });
});
