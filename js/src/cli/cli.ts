#!/usr/bin/env node
// The `lua-home` command, a drop-in for `lua`: runs a script, -e code, -l modules, stdin or a
// REPL as lua does, in lua-home's sandboxed VM, with `_home` kept in a state directory.
import { readFileSync } from 'node:fs';
import { isatty } from 'node:tty';
import { Lua } from '../vm/lua.js';
import { luaRelease } from '../abi/abi.js';
import { loadModule } from '../vm/loader.js';
import { NodeFileStore, StateLockedError } from '../stores/file.js';
import { MemoryStore } from '../stores/memory.js';
import type { Store } from '../stores/types.js';
import { ARG_CHUNK, PATH_CHUNK, REQUIRE_CHUNK } from './chunks.js';
import { readAll, writeAll } from './fdio.js';
import { moduleBase, pathFromEnv } from './modules.js';
import type { Job } from './protocol.js';
import { historyFile, repl } from './repl.js';
import { ExitRequest, InterruptedError, Session } from './session.js';

export { luaLiteral } from './chunks.js';

const VERSION = '0.1.0';
const DEFAULT_STATE = '.lua-home-state';
const PROGNAME = 'lua-home';
const EXIT_INTERRUPTED = 130; // 128 + SIGINT, as a shell reports a program Ctrl-C stopped

const USAGE = `usage: lua-home [options] [script [args...]]
       lua-home serve [options]    (an HTTP service of many VMs: lua-home serve --help)
Runs Lua 5.4 as the lua command does, in lua-home's sandboxed VM.

  -e stat      execute string 'stat'
  -i           enter interactive mode after executing 'script'
  -l mod       require library 'mod' into global 'mod'
  -l g=mod     require library 'mod' into global 'g'
  -v           show version information
  -E           ignore environment variables (LUA_INIT, LUA_PATH)
  -W           turn warnings on
  --           stop handling options
  -            stop handling options and execute stdin
  --state DIR  where _home is kept (default: ./${DEFAULT_STATE})
  --no-state   keep _home in memory only, for this run
  --limit N    stop any one chunk after N steps of the VM (loop turns, jumps, calls;
               default: no limit)
  -h, --help   print this help
  --version    print the version and exit

With no script and no -e: a REPL when stdin is a terminal, else stdin runs as one chunk.
The REPL keeps its history in ~/.lua_home_history (or $LUA_HOME_HISTORY).
Exit status: 0 on success, 1 when Lua raised an error, 2 on a usage error, 130 when
interrupted (Ctrl-C stops the running chunk; in the REPL it returns to the prompt).

Where lua-home differs from lua:
  - _home (alias Memory) is a table kept between runs in the state directory (--state,
    --no-state); a chunk that fails or is interrupted changes nothing in it.
  - The VM is a sandbox of 2 MiB: no os.execute, io.open, io.popen, dofile, loadfile or
    binary chunks; the script cannot open files or processes. io.read, io.lines and
    io.write use stdin and stdout only.
  - require reads only Lua files found through package.path ('?.lua;?/init.lua', or
    LUA_PATH), with relative templates taken from the script's directory, and only under
    that directory and the directories LUA_PATH names. No C modules (package.cpath).
  - --limit N stops a runaway chunk (lua has no instruction limit).
  - Ctrl-C exits with status 130 (lua reports "interrupted!" and exits with 1).`;

type Action =
  | { kind: 'e'; code: string }
  | { kind: 'l'; global: string; module: string }
  | { kind: 'W' };

interface Options {
  actions: Action[];
  script?: string;
  /** Index of the script in the command line (0: the program's name; argv.length + 1: none). */
  scriptAt: number;
  interactive: boolean;
  version: boolean;
  ignoreEnv: boolean;
  state: string | null;
  limit: number;
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Options | 'help' | 'version' {
  const o: Options = { actions: [], scriptAt: argv.length + 1, interactive: false, version: false, ignoreEnv: false, state: DEFAULT_STATE, limit: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    // An option's argument: attached (-eCODE, as lua allows) or the next word.
    const value = (attached: string): string => {
      if (attached !== '') return attached;
      if (i + 1 >= argv.length) throw new UsageError(`'${a}' needs an argument`);
      return argv[++i];
    };
    if (a === '-h' || a === '--help') return 'help';
    if (a === '--version') return 'version';
    if (a === '--') {
      if (i + 1 < argv.length) {
        o.script = argv[i + 1];
        o.scriptAt = i + 2;
      }
      break;
    }
    if (a === '-' || !a.startsWith('-')) {
      o.script = a;
      o.scriptAt = i + 1;
      break;
    }
    if (a.startsWith('-e')) o.actions.push({ kind: 'e', code: value(a.slice(2)) });
    else if (a.startsWith('-l')) {
      const spec = value(a.slice(2));
      const eq = spec.indexOf('=');
      o.actions.push(eq < 0 ? { kind: 'l', global: spec, module: spec } : { kind: 'l', global: spec.slice(0, eq), module: spec.slice(eq + 1) });
    } else if (a === '-i') {
      o.interactive = true;
      o.version = true;
    } else if (a === '-v') o.version = true;
    else if (a === '-E') o.ignoreEnv = true;
    else if (a === '-W') o.actions.push({ kind: 'W' });
    else if (a === '--state') o.state = value('');
    else if (a.startsWith('--state=')) o.state = a.slice('--state='.length);
    else if (a === '--no-state') o.state = null;
    else if (a === '--limit' || a.startsWith('--limit=')) {
      const text = a === '--limit' ? value('') : a.slice('--limit='.length);
      const n = Number(text);
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new UsageError(`--limit wants a whole number of instructions, not '${text}'`);
      o.limit = n;
    } else throw new UsageError(`unknown option '${a}'`);
  }
  return o;
}

// A first line starting with '#' becomes a comment (line numbers stay); the bytes are kept as they are.
function stripShebang(code: Uint8Array): Uint8Array {
  return code[0] === 0x23 ? Buffer.concat([Buffer.from('--'), code.subarray(1)]) : code;
}

function report(message: string, traceback = ''): void {
  writeAll(2, `${PROGNAME}: ${message}\n${traceback ? traceback + '\n' : ''}`);
}

/** Runs the command; resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'serve') return (await import('./serve.js')).serveMain(argv.slice(1)); // loads fastify only here
  let opts: ReturnType<typeof parseArgs>;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    writeAll(2, `${PROGNAME}: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (opts === 'help') {
    writeAll(1, USAGE + '\n');
    return 0;
  }
  const release = async () => luaRelease((await Lua.create({ store: new MemoryStore() })).exports); // the module says which Lua it runs
  if (opts === 'version') {
    writeAll(1, `lua-home ${VERSION} (Lua ${await release()})\n`);
    return 0;
  }
  const env = opts.ignoreEnv ? {} : process.env;
  const stdinIsTerminal = isatty(0);
  const runStdin = opts.script === '-' || (opts.script === undefined && opts.actions.length === 0 && !opts.version && !stdinIsTerminal);
  const wantRepl = opts.interactive || (opts.script === undefined && opts.actions.length === 0 && !opts.version && stdinIsTerminal);
  if (opts.version && !opts.interactive) writeAll(1, `lua-home ${VERSION} (Lua ${await release()})\n`);
  if (opts.script === undefined && opts.actions.length === 0 && !runStdin && !wantRepl) return 0; // -v alone

  const store: Store = opts.state === null ? new MemoryStore() : new NodeFileStore(opts.state);
  const session = new Session(store, {
    module: await loadModule(),
    instructionLimit: opts.limit,
    moduleBase: moduleBase(opts.script),
    packagePath: pathFromEnv(env),
    lineOutput: isatty(1),
  });
  let inRepl = false;
  let stopping = false;
  const onSigint = () => {
    if (inRepl && session.busy) {
      session.interrupt(true).catch((e) => report(`the VM could not restart: ${(e as Error).message}`));
    } else if (session.busy) {
      session.interrupt(false).catch(() => undefined); // the job rejects: main reports and exits
    } else if (!stopping) {
      stopping = true;
      report('interrupted!');
      session.close().then(() => store.close()).finally(() => process.exit(EXIT_INTERRUPTED));
    }
  };
  process.on('SIGINT', onSigint);
  try {
    try {
      await session.start();
    } catch (e) {
      if (e instanceof StateLockedError) report(e.message);
      else report(`cannot open the state in ${opts.state}: ${(e as Error).message}`);
      return 1;
    }
    const run = async (job: Job): Promise<boolean> => {
      const r = await session.run(job);
      if (!r.ok) report(r.error.message, r.error.traceback);
      return r.ok;
    };
    const chunk = (code: Uint8Array | string, name: string, args: string[] = []): Promise<boolean> => run({ op: 'chunk', code, name, args });
    try {
      // arg: the command line, the script at index 0 (lua.c's createargtable).
      const words = [PROGNAME, ...argv];
      const at = opts.scriptAt <= argv.length ? opts.scriptAt : 0;
      if (!(await run({ op: 'compute', code: ARG_CHUNK, args: [-at, ...words] }))) return 1;
      if (env.LUA_PATH_5_4 !== undefined || env.LUA_PATH !== undefined) {
        if (!(await run({ op: 'compute', code: PATH_CHUNK, args: [pathFromEnv(env)] }))) return 1;
      }
      const init = env.LUA_INIT_5_4 ?? env.LUA_INIT;
      if (init !== undefined) {
        const ok = init.startsWith('@') ? await runFile(init.slice(1), chunk, []) : await chunk(init, '=LUA_INIT');
        if (!ok) return 1;
      }
      for (const a of opts.actions) {
        let ok: boolean;
        if (a.kind === 'e') ok = await chunk(a.code, '=(command line)');
        else if (a.kind === 'l') ok = await chunk(REQUIRE_CHUNK, '=(command line)', [a.global, a.module]);
        else ok = await run({ op: 'compute', code: 'if warn then warn("@on") end', args: [] });
        if (!ok) return 1;
      }
      if (opts.script !== undefined || runStdin) {
        const args = opts.script === undefined ? [] : argv.slice(opts.scriptAt);
        const ok = runStdin ? await chunk(stripShebang(readAll(0)), '=stdin', args) : await runFile(opts.script as string, chunk, args);
        if (!ok) return 1;
      }
      if (wantRepl) {
        inRepl = true;
        await repl(session, {
          terminal: stdinIsTerminal && isatty(1),
          banner: `lua-home ${VERSION} (Lua ${session.release}; _home kept between runs)`,
          history: historyFile(process.env),
        });
      }
      return session.brokenPipe ? 1 : 0;
    } catch (e) {
      if (e instanceof ExitRequest) return e.code;
      if (!(e instanceof InterruptedError)) throw e;
      report('interrupted!');
      return EXIT_INTERRUPTED;
    }
  } finally {
    await session.close();
    await store.close();
    process.off('SIGINT', onSigint);
  }
}

// A script file, as lua's luaL_loadfile reads it: chunk name '@file', a '#' first line skipped.
async function runFile(file: string, chunk: (code: Uint8Array, name: string, args: string[]) => Promise<boolean>, args: string[]): Promise<boolean> {
  let code: Uint8Array;
  try {
    code = readFileSync(file);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (e as Error).message;
    report(`cannot open ${file}: ${why}`);
    return false;
  }
  return chunk(stripShebang(code), `@${file}`, args);
}

// Run when executed as a program (not when imported by tests).
const isMain = typeof require !== 'undefined' ? require.main === module : false;
if (isMain) {
  const argv = process.argv.slice(2);
  main(argv).then(
    (code) => {
      process.exitCode = code;
      if (argv[0] !== 'serve') process.exit(code); // stdin may still be open (a REPL left by os.exit)
    },
    (e) => {
      process.stderr.write(`lua-home: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
