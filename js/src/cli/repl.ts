// The CLI's REPL: lines read here, run in the VM's worker (so Ctrl-C stops a running input and
// returns to the prompt), history kept from one run to the next in a file.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { writeAll } from './fdio.js';
import { InterruptedError, Session } from './session.js';

const HISTORY_LINES = 1000; // kept in the history file

/** The history file: $LUA_HOME_HISTORY, else ~/.lua_home_history. */
export function historyFile(env: NodeJS.ProcessEnv): string {
  return env.LUA_HOME_HISTORY || join(homedir(), '.lua_home_history');
}

function loadHistory(file: string): string[] {
  let lines: string[];
  try {
    lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  } catch {
    return [];
  }
  if (lines.length > HISTORY_LINES) {
    lines = lines.slice(-HISTORY_LINES);
    try {
      writeFileSync(file, lines.join('\n') + '\n');
    } catch { /* a history that cannot be trimmed still works */ }
  }
  return lines;
}

function saveLine(file: string, line: string): void {
  try {
    appendFileSync(file, line + '\n');
  } catch { /* no history, but the REPL goes on */ }
}

export interface ReplOptions {
  /** A terminal: prompts, line editing, history. */
  terminal: boolean;
  banner: string;
  history: string;
}

/** Reads and runs inputs until the end of stdin. Reports errors; never fails the run. */
export async function repl(session: Session, options: ReplOptions): Promise<void> {
  const { terminal } = options;
  if (terminal) writeAll(1, options.banner + '\n');
  const rl = createInterface({
    input: process.stdin,
    output: terminal ? process.stdout : undefined,
    terminal,
    history: terminal ? loadHistory(options.history).reverse() : undefined,
    historySize: HISTORY_LINES,
  });
  let pending: string | undefined;
  const prompt = () => {
    if (!terminal) return;
    rl.setPrompt(pending === undefined ? '> ' : '>> ');
    rl.prompt();
  };
  // Ctrl-C at the prompt drops the input typed so far; on an empty prompt it ends the REPL.
  rl.on('SIGINT', () => {
    if (pending === undefined && rl.line === '') {
      rl.close();
      return;
    }
    pending = undefined;
    writeAll(1, '^C\n');
    (rl as unknown as { line: string }).line = '';
    prompt();
  });
  prompt();
  for await (const line of rl) {
    if (terminal && line.trim() !== '') saveLine(options.history, line);
    const input = pending === undefined ? line : `${pending}\n${line}`;
    pending = undefined;
    // While the input runs, the terminal is back in cooked mode: Ctrl-C is a SIGINT (cli.ts stops the input).
    if (terminal) process.stdin.setRawMode?.(false);
    try {
      const r = await session.run({ op: 'repl', input });
      if (!r.ok) writeAll(2, `lua-home: ${r.error.message}\n${r.error.traceback ? r.error.traceback + '\n' : ''}`);
      else if (r.status === 'more') pending = input;
      else if (r.status === 'error') writeAll(2, `${r.message ?? ''}\n`);
    } catch (e) {
      if (!(e instanceof InterruptedError)) {
        rl.close(); // os.exit (ExitRequest), or a failure: the REPL ends
        throw e;
      }
      writeAll(2, 'lua-home: interrupted!\n');
    } finally {
      if (terminal) process.stdin.setRawMode?.(true);
    }
    if (session.brokenPipe) break;
    prompt();
  }
  if (pending !== undefined) writeAll(2, `lua-home: incomplete input at end of file: ${JSON.stringify(pending.slice(0, 60))}\n`);
  if (terminal) writeAll(1, '\n');
}
