// js/src/abi/abi.ts is checked against the C++ declarations of the exports (cpp/), so the two
// cannot drift: names, arity and 64-bit parameters, error kinds and constants.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUFFER_SIZE, ERROR_KIND_CODES, MAX_CODE_BYTES, MEMORY_PAGES } from '../../js/src/abi/abi';

const root = join(__dirname, '..', '..');
const cpp = join(root, 'cpp');
const abiTs = readFileSync(join(root, 'js', 'src', 'abi', 'abi.ts'), 'utf8');

type WasmType = 'i32' | 'i64' | 'f64' | 'none';

function cType(t: string): WasmType {
  t = t.replace(/\bconst\b/g, '').trim();
  if (t === 'void') return 'none';
  if (t.endsWith('*')) return 'i32';
  if (/^(u?int64_t|long long|unsigned long long)$/.test(t)) return 'i64';
  if (t === 'double') return 'f64';
  if (/^(u?int32_t|int|unsigned|size_t)$/.test(t)) return 'i32';
  throw new Error(`no wasm type for C type '${t}'`);
}

/** Every export the C++ declares: name -> [params, result]. */
function cppExports(): Map<string, [WasmType[], WasmType]> {
  const out = new Map<string, [WasmType[], WasmType]>();
  for (const f of readdirSync(cpp).filter((f) => f.endsWith('.cpp'))) {
    const text = readFileSync(join(cpp, f), 'utf8');
    const re = /(?:LH_EXPORT\((\w+)\)|__attribute__\(\(export_name\("(\w+)"\)\)\))\s+([\w *]+?)\s*\b(\w+)\(([^)]*)\)/g;
    for (const m of text.matchAll(re)) {
      const name = m[1] ?? m[2];
      // each parameter is `type name` (or an unnamed pointer type): drop the name
      const params = m[5].trim() === '' ? [] : m[5].split(',').map((p) => cType(p.trim().replace(/\s*\b\w+$/, '')));
      out.set(name, [params, cType(m[3])]);
    }
  }
  return out;
}

/** The methods of interface LuaWasmExports: name -> [params, result] as TS types. */
function tsExports(): Map<string, [string[], string]> {
  const body = /export interface LuaWasmExports \{([\s\S]*?)\n\}/.exec(abiTs)![1];
  const out = new Map<string, [string[], string]>();
  for (const m of body.matchAll(/^\s+(\w+)\(([^)]*)\): (\w+);/gm)) {
    const params = m[2].trim() === '' ? [] : m[2].split(',').map((p) => p.split(':')[1].trim());
    out.set(m[1], [params, m[3]]);
  }
  return out;
}

const tsOf = (t: WasmType) => (t === 'i64' ? 'bigint' : t === 'none' ? 'void' : 'number');

describe('abi.ts', () => {
  const c = cppExports();
  const ts = tsExports();

  it('declares exactly the exports the C++ declares', () => {
    expect(c.size).toBeGreaterThan(20);
    expect([...ts.keys()].sort()).toEqual([...c.keys()].sort());
    const listed = /const FUNCTION_EXPORTS = \[([\s\S]*?)\] as const/.exec(abiTs)![1].match(/'(\w+)'/g)!.map((s) => s.slice(1, -1));
    expect([...listed].sort()).toEqual([...c.keys()].sort());
  });

  it('gives each export the C++ signature (64-bit values as bigint)', () => {
    for (const [name, [params, result]] of c) {
      expect([name, ts.get(name)]).toEqual([name, [params.map(tsOf), tsOf(result)]]);
    }
  });

  it('has the error kinds of cpp/vm_state.h', () => {
    const header = readFileSync(join(cpp, 'vm_state.h'), 'utf8');
    const kinds = Object.fromEntries([...header.matchAll(/kError(\w+) = (\d+),/g)].map((m) => [Number(m[2]), m[1].toLowerCase()]));
    expect(ERROR_KIND_CODES).toEqual(kinds);
  });

  it('has the constants of cpp/lh_limits.h', () => {
    const limits = readFileSync(join(cpp, 'lh_limits.h'), 'utf8');
    const constant = (name: string) => Number(/constexpr uint32_t (\w+) = (\d+);/g.exec(limits.slice(limits.indexOf(name) - 20))![2]);
    expect(BUFFER_SIZE).toBe(constant('kBufferSize'));
    expect(MEMORY_PAGES).toBe(constant('kMemoryPages'));
    expect(MAX_CODE_BYTES).toBe(BUFFER_SIZE); // kMaxCodeBytes = kBufferSize
    expect(limits).toContain('constexpr uint32_t kMaxCodeBytes = kBufferSize;');
  });
});
