// The messages between the CLI (main thread) and the worker thread that runs its Lua VM.
import type { StoreAnswer, StoreRequest, WireError } from '../worker/protocol.js';

/** How the worker makes its VM. */
export interface CliWorkerInit {
  /** lua.wasm, compiled once in the main thread. */
  module: WebAssembly.Module;
  instructionLimit: number;
  /** Where relative package.path templates start (the script's directory). */
  moduleBase: string;
  /** package.path as the CLI sets it (LUA_PATH), or undefined for the VM's default. */
  packagePath: string | undefined;
  /** stdout flushed at every newline (a terminal). */
  lineOutput: boolean;
}

/** One piece of work for the VM. */
export type Job =
  /** `code` compiled as `name` (Lua's chunk name) and called with `args`. */
  | { op: 'chunk'; code: Uint8Array | string; name: string; args: string[] }
  /** `code` run as it is, with `args` (the CLI's own setup chunks). */
  | { op: 'compute'; code: string; args: unknown[] }
  /** One REPL input (cli/repl.ts): its status, 'ok', 'more' or 'error' and a message. */
  | { op: 'repl'; input: string };

/** A chunk's failure, as the CLI prints it. */
export interface JobError {
  message: string;
  /** Lua's traceback, when lua would print one. */
  traceback: string;
  kind: string;
}

export type JobResult =
  | { ok: true; status?: string; message?: string; exit?: number }
  | { ok: false; error: JobError; exit?: number };

export type ToCliWorker =
  | { kind: 'create'; init: CliWorkerInit }
  | { kind: 'job'; id: number; job: Job }
  | StoreAnswer;

export type FromCliWorker =
  | { kind: 'created'; release: string }
  | { kind: 'failed'; error: WireError }
  | { kind: 'done'; id: number; result: JobResult }
  | StoreRequest
  | { kind: 'broken-pipe' };
