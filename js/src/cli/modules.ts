// What `require` may read from disk under the CLI: package.path's templates (`?.lua`,
// `?/init.lua`, LUA_PATH), relative ones taken from the script's directory, and nothing outside
// the directories the CLI chose when it started (the script's, and those LUA_PATH names).
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve, sep } from 'node:path';

/** The package.path the VM starts with (cpp/package_lib.cpp). */
export const DEFAULT_PATH = '?.lua;?/init.lua';

/** package.path from LUA_PATH_5_4 or LUA_PATH, as lua does (';;' stands for the default). */
export function pathFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const value = env.LUA_PATH_5_4 ?? env.LUA_PATH;
  if (value === undefined) return undefined;
  if (!value.includes(';;')) return value;
  return value.replace(';;', `;${DEFAULT_PATH};`).replace(/^;/, '').replace(/;$/, '');
}

/** The fixed part of a template (up to its last separator before the first '?'). */
function templateDir(template: string, base: string): string {
  const q = template.indexOf('?');
  const head = q < 0 ? template : template.slice(0, q);
  const cut = head.lastIndexOf('/');
  return resolve(base, cut < 0 ? '.' : head.slice(0, cut + 1));
}

function isInside(file: string, root: string): boolean {
  return file === root || file.startsWith(root.endsWith(sep) ? root : root + sep);
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Finds modules on disk for the VM's `modules` loader. */
export class ModuleFinder {
  private readonly roots: string[];

  /** `base`: where relative templates start (the script's directory); `path`: package.path as the CLI set it. */
  constructor(readonly base: string, path: string) {
    this.roots = [resolve(base), ...path.split(';').filter((t) => t !== '').map((t) => templateDir(t, base))];
  }

  /** The file `name` resolves to under `path` (package.path as Lua has it now), if it is there and may be read. */
  find(name: string, path: string): string | undefined {
    const stem = name.replace(/\./g, '/');
    for (const template of path.split(';')) {
      if (template === '') continue;
      const candidate = template.replace(/\?/g, stem);
      const file = resolve(this.base, candidate);
      if (!isAbsolute(file) || !this.roots.some((root) => isInside(file, root))) continue;
      if (isFile(file)) return file;
    }
    return undefined;
  }

  /** The loader for Lua.create's `modules` option: a module's source, or undefined. */
  readonly loader = (name: string, path: string): Uint8Array | undefined => {
    const file = this.find(name, typeof path === 'string' && path !== '' ? path : DEFAULT_PATH);
    return file === undefined ? undefined : readFileSync(file);
  };
}

/** The directory relative module templates start from: the script's, else the working directory. */
export function moduleBase(script: string | undefined): string {
  return script === undefined || script === '-' ? process.cwd() : dirname(resolve(script));
}
