// The CLI's worker thread: one Lua VM whose print and io.write reach fd 1 as they are produced,
// whose io.read reads fd 0, whose require reads the module path on disk, and whose _home store
// lives in the main thread (reached by messages), so the main thread can stop it at any time.
import { parentPort } from 'node:worker_threads';
import { luaRelease } from '../abi/abi.js';
import { LuaError } from '../errors.js';
import { Lua } from '../vm/lua.js';
import type { LuaFunctionHandle } from '../vm/interop.js';
import { errorToWire, MessageStore } from '../worker/protocol.js';
import { replChunk, RUNNER_CHUNK } from './chunks.js';
import { BrokenPipeError, readSome, writeAll } from './fdio.js';
import { ModuleFinder } from './modules.js';
import type { FromCliWorker, Job, JobError, JobResult, ToCliWorker } from './protocol.js';

if (!parentPort) throw new Error('lua-home: cli-worker.js runs only as the CLI\'s worker thread');
const port = parentPort;
const post = (m: FromCliWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);
let exitCode: number | undefined; // set by os.exit

// Output that cannot be written (the reader went away) stops the program, as SIGPIPE stops lua.
// After os.exit nothing more is written: the chunk only unwinds (a pcall around os.exit lets it
// go on, unseen, to its end; the program then exits).
function sink(fd: number): (bytes: Uint8Array) => void {
  return (bytes) => {
    if (exitCode !== undefined) return;
    try {
      writeAll(fd, bytes);
    } catch (e) {
      if (e instanceof BrokenPipeError) post({ kind: 'broken-pipe' });
      throw e;
    }
  };
}

// An error as the CLI prints it: the message, and a traceback but after a syntax error.
function jobError(e: unknown): JobError {
  if (!(e instanceof LuaError)) return { message: e instanceof Error ? e.message : String(e), traceback: '', kind: 'host' };
  return { message: e.message, traceback: e.kind === 'syntax' ? '' : e.traceback, kind: e.kind };
}

const store = new MessageStore(post); // the main thread owns the store
let lua: Lua | undefined;

let runner: LuaFunctionHandle | undefined; // RUNNER_CHUNK's function

// os.exit(code): true or absent is 0, false is 1, a number is itself.
function exit(code: unknown): void {
  exitCode = code === undefined || code === null || code === true ? 0 : code === false ? 1 : Number(code) & 0xff;
}

function run(vm: Lua, job: Job): JobResult {
  switch (job.op) {
    case 'chunk': {
      const f = vm.load(job.code, job.name); // a syntax error: the message alone, as lua prints it
      try {
        (runner as LuaFunctionHandle).call(f, ...job.args);
      } catch (e) {
        // The runner formatted a runtime error as lua.c does; the limit and memory errors are their message alone.
        if (e instanceof LuaError) return { ok: false, error: { message: e.message, traceback: '', kind: e.kind } };
        throw e;
      } finally {
        f.release();
      }
      return { ok: true };
    }
    case 'compute':
      vm.compute(job.code, ...job.args);
      return { ok: true };
    case 'repl': {
      const r = vm.compute(replChunk(job.input));
      const message = r.values[1];
      return { ok: true, status: String(r.values[0]), message: message === undefined ? undefined : String(message) };
    }
  }
}

port.on('message', (message: ToCliWorker) => {
  if (message.kind === 'store') {
    store.answer(message);
  } else if (message.kind === 'create') {
    const { module, instructionLimit, moduleBase, packagePath, lineOutput } = message.init;
    const finder = new ModuleFinder(moduleBase, packagePath ?? '?.lua;?/init.lua');
    Lua.create({
      wasm: module, store, autosave: true, instructionLimit, lineOutput,
      stdout: sink(1), stderr: sink(2), stdin: (max) => readSome(0, max), modules: finder.loader,
    }).then(
      (vm) => {
        lua = vm;
        runner = vm.compute(RUNNER_CHUNK, exit).value as LuaFunctionHandle;
        post({ kind: 'created', release: luaRelease(vm.exports) });
      },
      (e) => post({ kind: 'failed', error: errorToWire(e) }),
    );
  } else {
    const { id, job } = message;
    let result: JobResult;
    try {
      result = run(lua as Lua, job);
    } catch (e) {
      result = { ok: false, error: jobError(e) };
    }
    if (exitCode !== undefined) result = { ...result, exit: exitCode };
    // The reply waits for the save of what the chunk changed: a chunk reported done is kept.
    (lua as Lua).flush().then(
      () => post({ kind: 'done', id, result }),
      (e) => post({ kind: 'done', id, result: result.ok ? { ok: false, error: { message: `saving _home failed: ${(e as Error).message}`, traceback: '', kind: 'host' } } : result }),
    );
  }
});
