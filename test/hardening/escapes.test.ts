// Escape attempts: each is refused with a clear error, and leaves the VM and _home intact.
import { Lua, LuaError } from '../../js/src/node';

let lua: Lua;
beforeEach(async () => {
  lua = await Lua.create({ instructionLimit: 200_000 });
  lua.compute('_home.secret = "s3cret" _home.t = { x = 1 }');
});

const ret = (code: string) => lua.compute(code).values;
function refuses(code: string, message: RegExp): void {
  let error: unknown;
  try {
    lua.compute(code);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(LuaError);
  expect((error as LuaError).message).toMatch(message);
}

describe('proxies cannot be forged, retargeted or unlocked', () => {
  it('no function turns an id into a proxy; ext has only table and id', () => {
    expect(ret('local n = {} for k in pairs(ext) do n[#n + 1] = k end table.sort(n) return table.concat(n, ",")')).toEqual(['id,table']);
    expect(ret('return debug.getregistry, debug.sethook, debug.gethook')).toEqual([undefined, undefined, undefined]);
    // A fresh table is new, never an existing one.
    expect(ret('local t = ext.table() return ext.id(t) ~= ext.id(_home), t.secret')).toEqual([true, undefined]);
  });

  it('the metatable is a string; setmetatable is refused, with or without it', () => {
    expect(ret('return getmetatable(_home), getmetatable(_home.t)')).toEqual(['external table', 'external table']);
    refuses('setmetatable(_home, nil)', /cannot change a protected metatable/);
    refuses('setmetatable(_home, { __index = function() return "forged" end })', /cannot change a protected metatable/);
    refuses('setmetatable({}, getmetatable(_home))', /bad argument #2 to 'setmetatable' \(nil or table expected, got string\)/);
    refuses('getmetatable(_home).__index = print', /attempt to index a string value/);
    expect(ret('return _home.secret, ext.id(_home)')).toEqual(['s3cret', lua.home.id]);
  });

  it('rawset and rawget reach the host; no hidden field can be written to retarget a proxy', () => {
    const id = lua.home.id;
    lua.compute('rawset(_home, "id", 99) rawset(_home, 1, 99) for _, k in ipairs({ "__id", "__proxy", "n" }) do _home[k] = 12345 end');
    expect(ret('return ext.id(_home), rawget(_home, "secret"), _home.id')).toEqual([id, 's3cret', 99]);
    expect(lua.home.get('id')).toBe(99);
  });
});

describe('no bytecode gets in', () => {
  it('load refuses binary chunks, string.dump output and mode "b"', () => {
    refuses('return load(string.dump(function() return 1 end))()', /attempt to call a nil value|binary/);
    expect(ret('local f, e = load(string.dump(function() return 1 end)) return f, e')[1]).toMatch(/attempt to load a binary chunk/);
    refuses('load("return 1", "x", "b")', /binary chunks are not allowed \(lua-home loads text only\)/);
    expect(ret('local f, e = load("\\27Lua\\84\\0", "x") return f, e')[1]).toMatch(/attempt to load a binary chunk/);
    refuses('\x1bLua', /binary chunk|syntax|unexpected symbol/);
  });

  it('a stored function whose bytecode was altered in the host is refused, never run', () => {
    lua.compute('_home.f = function() return "original" end');
    const t = lua.host.tables.get(lua.home.id)!;
    const key = '\x04f';
    const bytes = t.get(key)!.slice();
    bytes[bytes.length - 12] ^= 0x01; // inside the bytecode, before the checksum
    t.set(key, bytes);
    refuses('return _home.f()', /malformed value from the host|checksum/);
  });
});

describe('the debug library', () => {
  it('keeps what cannot break the sandbox, and refuses C functions and C frames', () => {
    expect(ret(`local n = {} for k in pairs(debug) do n[#n + 1] = k end table.sort(n) return table.concat(n, ",")`)).toEqual([
      'getinfo,getlocal,getmetatable,getupvalue,getuservalue,setlocal,setmetatable,setupvalue,setuservalue,traceback,upvalueid,upvaluejoin']);
    refuses('debug.sethook(function() end, "c")', /attempt to call a nil value \(field 'sethook'\)/);
    refuses('debug.getupvalue(load, 1)', /bad argument #1 to 'getupvalue' \(Lua function expected, got function\)/);
    refuses('debug.setupvalue(load, 1, print)', /bad argument #1 to 'setupvalue' \(Lua function expected, got function\)/);
    refuses('debug.upvalueid(print, 1)', /bad argument #1 to 'upvalueid' \(Lua function expected, got function\)/);
    // a Lua function inside table.concat (a C frame holding a buffer box) cannot read its locals
    refuses(`local t = setmetatable({}, {__index = function(_, i) if i == 2 then return debug.getlocal(2, 1) end return "x" end})
      return table.concat(t, "", 1, 3)`, /level of a C function/);
    refuses('debug.setlocal(2, 1, 1)', /level of a C function/);
    refuses('debug.setmetatable(_home, nil)', /cannot change the metatable of an external table/);
  });
});

describe('VMs are isolated', () => {
  it('another VM in the process cannot reach this one\'s tables, whatever ids it uses', async () => {
    const other = await Lua.create();
    expect(other.compute('return _home.secret').value).toBeUndefined();
    const ids = other.compute('local ids = {} for i = 1, 20 do local t = ext.table() t.v = i ids[#ids + 1] = ext.id(t) _home[i] = t end return table.concat(ids, ",")').value as string;
    for (const id of ids.split(',').map(Number)) expect(lua.host.tables.get(id)?.get('\x04secret')).toBeUndefined();
    expect(ret('return _home.secret, _home[1]')).toEqual(['s3cret', undefined]);
  });
});

describe('finalizers and coroutines', () => {
  it('a finalizer that never ends is stopped by the instruction limit, during a compute and during gc', () => {
    lua.compute('setmetatable({}, { __gc = function() while true do end end })');
    refuses('collectgarbage() return "survived"', /instruction limit exceeded/);
    expect(ret('return 1 + 1')).toEqual([2]);
    lua.compute('setmetatable({}, { __gc = function() while true do end end })');
    lua.gc(); // returns: the finalizer is stopped
    expect(ret('return _home.secret')).toEqual(['s3cret']);
  });

  it('a finalizer\'s writes during a failed compute are rolled back with it', () => {
    lua.compute('setmetatable({}, { __gc = function() _home.by_gc = true end })');
    refuses('collectgarbage() _home.x = 1 error("no")', /no/);
    expect(lua.home.get('by_gc')).toBeUndefined();
    expect(lua.home.get('x')).toBeUndefined();
  });

  it('coroutines may live in globals across computes, under each compute\'s limit; _home refuses them', () => {
    lua.compute('co = coroutine.wrap(function() local i = 0 while true do i = i + 1 coroutine.yield(i) end end) co()');
    expect(ret('return co(), co()')).toEqual([2, 3]);
    refuses('_home.co = coroutine.create(function() end)', /cannot store a thread/);
    lua.compute('spin = coroutine.wrap(function() while true do end end)');
    refuses('spin()', /instruction limit exceeded/);
  });
});

describe('nothing outside', () => {
  it('files, processes, the environment and native modules are out of reach', () => {
    expect(ret(`return io.open, io.popen, io.input, io.output, io.tmpfile,
      os.execute, os.getenv, os.remove, os.rename, os.tmpname, os.exit, os.setlocale,
      dofile, loadfile, package.loadlib, package.searchpath`)).toEqual(new Array(16).fill(undefined));
    // io.read and io.lines read stdin only (the host's, when it gives one); package.path names no files.
    refuses('return io.lines("/etc/passwd")', /no files in the sandbox/);
    refuses('return io.read("/etc/passwd")', /invalid format/);
    expect(ret('return package.path, package.cpath')).toEqual(['?.lua;?/init.lua', '']);
    refuses('require("socket.core")', /module 'socket.core' not found/);
    expect(ret('local io = require("io") return io.open, io.popen, type(io.write)')).toEqual([undefined, undefined, 'function']);
  });
});
