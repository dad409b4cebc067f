#!/usr/bin/env node
// The `lua-home` command: run a file, run -e code, or a REPL, with `_home` kept in a state
// directory (a NodeFileStore) between runs.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Lua } from '../vm/lua.js';
import { luaRelease } from '../abi/abi.js';
import { LuaError } from '../errors.js';
import { NodeFileStore, StateLockedError } from '../stores/file.js';
import { MemoryStore } from '../stores/memory.js';
import type { Store } from '../stores/types.js';

const VERSION = '0.1.0';
const DEFAULT_STATE = '.lua-home-state';

const USAGE = `usage: lua-home [options] [script [args...]]
       lua-home serve [options]    (an HTTP service of many VMs: lua-home serve --help)
Runs Lua 5.4 in lua-home's sandboxed VM; _home is kept in a state directory between runs.

  script             run this Lua file ("-" reads the script from standard input)
  -e CODE            run CODE (may be given more than once; runs before the script)
  -i                 enter the REPL after running -e code or the script
  --state DIR        where _home is kept (default: ./${DEFAULT_STATE})
  --no-state         keep _home in memory only, for this run
  --limit N          stop any one chunk after N steps of the VM (loop turns, jumps, calls;
                     default: no limit)
  -v, --version      print the version
  -h, --help         print this help

With no script and no -e, the REPL starts: expressions print their values as Lua's own REPL
prints them; an incomplete statement continues on the next line (prompt ">>").
Exit status: 0 on success, 1 when Lua raised an error, 2 on a usage error.`;

interface Options {
  exprs: string[];
  script?: string;
  args: string[];
  interactive: boolean;
  state: string | null;
  limit: number;
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Options | 'help' | 'version' {
  const o: Options = { exprs: [], args: [], interactive: false, state: DEFAULT_STATE, limit: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      if (i + 1 >= argv.length) throw new UsageError(`'${a}' needs an argument`);
      return argv[++i];
    };
    if (a === '-h' || a === '--help') return 'help';
    if (a === '-v' || a === '--version') return 'version';
    if (a === '-e') o.exprs.push(value());
    else if (a === '-i') o.interactive = true;
    else if (a === '--state') o.state = value();
    else if (a.startsWith('--state=')) o.state = a.slice('--state='.length);
    else if (a === '--no-state') o.state = null;
    else if (a === '--limit' || a.startsWith('--limit=')) {
      const text = a === '--limit' ? value() : a.slice('--limit='.length);
      const n = Number(text);
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new UsageError(`--limit wants a whole number of instructions, not '${text}'`);
      o.limit = n;
    } else if (a === '--') {
      if (i + 1 < argv.length) {
        o.script = argv[i + 1];
        o.args = argv.slice(i + 2);
      }
      break;
    } else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option '${a}'`);
    else {
      o.script = a;
      o.args = argv.slice(i + 1);
      break;
    }
  }
  return o;
}

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
function replChunk(input: string): string {
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

// A first line starting with '#' becomes a comment; the script's bytes are kept as they are.
function stripShebang(code: Uint8Array): Uint8Array {
  return code[0] === 0x23 ? Buffer.concat([Buffer.from('--'), code.subarray(1)]) : code;
}

function argChunk(script: string | undefined, args: string[]): string {
  const items = [`[-1] = ${luaLiteral('lua-home')}`];
  if (script !== undefined) items.push(`[0] = ${luaLiteral(script)}`);
  args.forEach((a, i) => items.push(`[${i + 1}] = ${luaLiteral(a)}`));
  return `arg = { ${items.join(', ')} }`;
}

class Cli {
  failed = false;
  constructor(readonly lua: Lua, readonly out: NodeJS.WritableStream, readonly err: NodeJS.WritableStream) {}

  /** Runs one chunk; prints its output; reports an error. True when it succeeded. */
  async run(code: string | Uint8Array): Promise<boolean> {
    try {
      const r = this.lua.compute(code);
      this.out.write(r.outputBytes); // output is bytes: written exactly
      await this.lua.flush();
      return true;
    } catch (e) {
      this.report(e);
      return false;
    }
  }

  /** Prints a failure; `fatal` ones (not the REPL's) make the exit status 1. */
  report(e: unknown, fatal = true): void {
    if (fatal) this.failed = true;
    if (e instanceof LuaError) {
      this.out.write(e.outputBytes);
      this.err.write(`lua-home: ${e.message}\n`);
    } else {
      this.err.write(`lua-home: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }

  async repl(input: NodeJS.ReadableStream, showPrompts: boolean): Promise<void> {
    if (showPrompts) this.out.write(`lua-home ${VERSION} (Lua ${luaRelease(this.lua.exports)}; _home kept between runs)\n`);
    const rl = createInterface({ input, output: showPrompts ? this.out : undefined, terminal: showPrompts });
    const prompt = (p: string) => {
      if (showPrompts) {
        rl.setPrompt(p);
        rl.prompt();
      }
    };
    let pending: string | undefined;
    prompt('> ');
    for await (const line of rl) {
      const input = pending === undefined ? line : `${pending}\n${line}`;
      let status: unknown;
      try {
        const r = this.lua.compute(replChunk(input));
        this.out.write(r.outputBytes);
        status = r.values[0];
        if (status === 'error') {
          const message = r.values[1];
          this.err.write(message instanceof Uint8Array ? message : String(message));
          this.err.write('\n');
        }
        await this.lua.flush();
      } catch (e) {
        this.report(e, false);
        status = 'error';
      }
      pending = status === 'more' ? input : undefined;
      prompt(pending === undefined ? '> ' : '>> ');
    }
    if (pending !== undefined) this.err.write(`lua-home: incomplete input at end of file: ${JSON.stringify(pending.slice(0, 60))}\n`);
    if (showPrompts) this.out.write('\n');
  }
}

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'serve') return (await import('./serve.js')).serveMain(argv.slice(1)); // loads fastify only here
  let opts: ReturnType<typeof parseArgs>;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`lua-home: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (opts === 'version') {
    const lua = await Lua.create({ store: new MemoryStore() }); // the module says which Lua it runs
    process.stdout.write(`lua-home ${VERSION} (Lua ${luaRelease(lua.exports)})\n`);
    return 0;
  }
  let store: Store;
  if (opts.state === null) store = new MemoryStore();
  else store = new NodeFileStore(opts.state);
  let lua: Lua;
  try {
    lua = await Lua.create({ store, autosave: true, instructionLimit: opts.limit });
  } catch (e) {
    if (e instanceof StateLockedError) process.stderr.write(`lua-home: ${e.message}\n`);
    else process.stderr.write(`lua-home: cannot open the state in ${opts.state}: ${(e as Error).message}\n`);
    await store.close();
    return 1;
  }
  const cli = new Cli(lua, process.stdout, process.stderr);
  try {
    let ok = await cli.run(argChunk(opts.script, opts.args));
    for (const e of opts.exprs) if (ok) ok = await cli.run(e);
    if (ok && opts.script !== undefined) {
      let code: Uint8Array;
      try {
        code = opts.script === '-' ? await readStdin() : readFileSync(opts.script);
      } catch (e) {
        process.stderr.write(`lua-home: cannot read ${opts.script}: ${(e as Error).message}\n`);
        return 1;
      }
      ok = await cli.run(stripShebang(code));
    }
    const wantRepl = opts.interactive || (opts.script === undefined && opts.exprs.length === 0);
    if (ok && wantRepl) await cli.repl(process.stdin, Boolean(process.stdin.isTTY));
    return cli.failed ? 1 : 0;
  } finally {
    try {
      await lua.flush();
    } catch (e) {
      process.stderr.write(`lua-home: saving _home failed: ${(e as Error).message}\n`);
    }
    lua.close();
    await store.close();
  }
}

// Run when executed as a program (not when imported by tests).
const isMain = typeof require !== 'undefined' ? require.main === module : false;
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e) => {
      process.stderr.write(`lua-home: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
