// The Lua source the CLI runs besides the user's: string literals, the REPL's wrapper, the arg table.

/** A Lua long-string literal holding `text` exactly (CR LF is kept as two bytes by escaping). */
export function luaLiteral(text: string): string {
  if (!/[\r\0]/.test(text)) {
    let eq = '';
    while (text.includes(`]${eq}]`) || text.endsWith(`]${eq}`)) eq += '=';
    return `[${eq}[\n${text}]${eq}]`;
  }
  // Fallback: a quoted string with decimal escapes for every byte that needs one.
  let out = '"';
  for (const b of new TextEncoder().encode(text)) {
    if (b === 0x22 || b === 0x5c || b < 0x20 || b === 0x7f) out += `\\${b.toString().padStart(3, '0')}`;
    else out += String.fromCharCode(b);
  }
  return out + '"';
}

// The REPL runs each input inside the VM, as lua.c does: first as `return <input>`, then as a
// statement; a syntax error at <eof> means "more input needed". Results are printed by Lua's own
// print (so tables print as `table: 0x...`, floats as Lua writes them).
export function replChunk(input: string): string {
  return `local src = ${luaLiteral(input)}
local f, err = load("return " .. src, "=stdin", "t")
if not f then f, err = load(src, "=stdin", "t") end
if not f then
  if err:sub(-5) == "<eof>" then return "more" end
  return "error", err
end
local function handler(m)
  if type(m) ~= "string" then return m end
  local tb = debug.traceback(m, 2)
  local cut = tb:find("\\n\\t%[C%]: in function 'xpcall'")
  return cut and tb:sub(1, cut - 1) .. "\\n\\t[C]: in ?" or tb
end
local r = table.pack(xpcall(f, handler))
if not r[1] then
  local e = r[2]
  if type(e) ~= "string" then
    local mt = getmetatable(e)
    e = (type(mt) == "table" and mt.__tostring) and tostring(e) or ("(error object is a " .. type(e) .. " value)")
  end
  return "error", e
end
if r.n > 1 then print(table.unpack(r, 2, r.n)) end
return "ok"`;
}

/** Sets global `arg` as lua does: its arguments from index `first` (negative: the interpreter and options). */
export const ARG_CHUNK = `local first = ...
local t = table.pack(select(2, ...))
arg = {}
for i = 1, t.n do arg[first + i - 1] = t[i] end`;

/** Sets package.path (from LUA_PATH). */
export const PATH_CHUNK = 'package.path = ...';

/** -l: global `g` = require(mod), as lua's -l g=mod. */
export const REQUIRE_CHUNK = `local g, mod = ...
local ok, value = pcall(require, mod) -- called from C, as lua's -l: the message has no position
if not ok then error(value, 0) end
_ENV[g] = value`;

/**
 * Installs os.exit (through host function `exit`, given as the chunk's argument) and returns the
 * function that runs a script chunk as lua.c's docall does: the error message as its msghandler
 * makes it (a traceback after a string, an object's __tostring alone), raised again so that the
 * chunk fails (and _home rolls back). os.exit ends the chunk as a success (its changes are kept).
 */
export const RUNNER_CHUNK = `local exit = ...
local xpcall, error, type, tostring, getmetatable = xpcall, error, type, tostring, getmetatable
local traceback, find, sub, stdout = debug.traceback, string.find, string.sub, io.stdout
local mark = setmetatable({}, { __tostring = function() return "os.exit" end })
os.exit = function(code)
  stdout:flush()
  exit(code)
  error(mark, 0)
end
local function handler(m)
  if m == mark then return m end
  if type(m) ~= "string" then
    local mt = getmetatable(m)
    if type(mt) == "table" and mt.__tostring then
      local s = tostring(m)
      if type(s) == "string" then return s end
    end
    m = "(error object is a " .. type(m) .. " value)"
  end
  local tb = traceback(m, 2)
  local cut = find(tb, "\\n\\t%[C%]: in function 'xpcall'")
  return cut and sub(tb, 1, cut - 1) .. "\\n\\t[C]: in ?" or tb
end
return function(f, ...)
  local ok, m = xpcall(f, handler, ...)
  if not ok and m ~= mark then error(m, 0) end
end`;
