// The module's shape: fixed memory, exactly five imports, the documented exports with their
// signatures, _initialize optional, and room for the Lua heap.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseWasm, RawHost, WASM_PATH, wasmModule, str, WasmFuncType } from '../support/raw-host';

const abiDoc = readFileSync(join(__dirname, '..', '..', 'docs', 'ABI.md'), 'utf8');
const layout = parseWasm(readFileSync(WASM_PATH));

/** The rows `| \`name\` | \`signature\` | ... |` of the table under a heading of docs/ABI.md. */
function docTable(heading: string): Map<string, string> {
  const start = abiDoc.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no heading ${heading} in docs/ABI.md`);
  const rest = abiDoc.slice(start + heading.length + 2);
  const end = rest.search(/\n#/);
  const rows = new Map<string, string>();
  for (const m of (end < 0 ? rest : rest.slice(0, end)).matchAll(/^\| `(\w+)` \| `([^`]+)` \|/gm)) rows.set(m[1], m[2]);
  return rows;
}

/** A signature of docs/ABI.md (`(id u32, p ptr) -> i32`) as wasm value types. */
function wasmType(signature: string): WasmFuncType {
  const m = /^\((.*)\) -> (.*)$/.exec(signature);
  if (!m) throw new Error(`bad signature ${signature}`);
  const type = (word: string) => (word === 'i64' ? 'i64' : word === 'f64' ? 'f64' : 'i32'); // u32, ptr, untyped: i32
  const params = m[1].trim() === '' ? [] : m[1].split(',').map((p) => type(p.trim().split(/\s+/).pop()!));
  const results = m[2].trim() === '()' ? [] : [type(m[2].trim())];
  return { params, results };
}

const documented = docTable('## Exports (the documented ABI)');
const additive = docTable('### Additive exports');
const imports = docTable('## Host imports');

describe('the memory', () => {
  it('is defined by the module, exported, exactly 32 pages with initial = maximum', () => {
    expect(layout.memories).toEqual([{ min: 32, max: 32 }]);
    expect(layout.imports.filter((i) => i.kind === 'memory')).toEqual([]);
    expect(layout.exports.filter((e) => e.kind === 'memory').map((e) => e.name)).toEqual(['memory']);
  });

  // Issue 2's budget was 250 KB and 100 KB gzipped for the sealed module; the host channel
  // (arguments, host functions, handles, async, streams, io, require) and work-bounded steps
  // raised it to 280 KB and 120 KB, still a third below wasmoon (413 KB, 147 KB gzipped).
  it('is at most 280 KB, and 120 KB gzipped (the cold files are built for size)', () => {
    const bytes = readFileSync(WASM_PATH);
    expect(bytes.length).toBeLessThanOrEqual(280 * 1024);
    expect(gzipSync(bytes, { level: 9 }).length).toBeLessThanOrEqual(120 * 1024);
  });

  it('is 2,097,152 bytes in an instance and never grows', () => {
    const h = RawHost.create();
    expect(h.exports.memory.buffer.byteLength).toBe(2097152);
    expect(() => h.exports.memory.grow(1)).toThrow(RangeError);
    expect(h.exports.memory.grow(0)).toBe(32);
    // The module itself does not grow it either: a compute that exhausts the heap stays in 2 MiB.
    expect(h.fail('local t = {} while true do t[#t + 1] = {} end').kind).toBe(3);
    expect(h.exports.memory.buffer.byteLength).toBe(2097152);
  });
});

describe('the imports', () => {
  it('are exactly the five env.js_ext_table_* functions, with the documented signatures', () => {
    expect(WebAssembly.Module.imports(wasmModule()).map((i) => `${i.module}.${i.name}:${i.kind}`).sort()).toEqual(
      ['delete', 'get', 'keys', 'set', 'size'].map((n) => `env.js_ext_table_${n}:function`),
    );
    expect([...imports.keys()].sort()).toEqual(layout.imports.map((i) => i.name).sort());
    for (const i of layout.imports) expect([i.name, i.type]).toEqual([i.name, wasmType(imports.get(i.name)!)]);
  });
});

describe('the exports', () => {
  const exported = new Map(layout.exports.map((e) => [e.name, e]));

  it('include every export the ABI documents (and docs/ABI.md lists them all)', () => {
    const abi = ['init', 'compute', 'get_buffer_ptr', 'get_buffer_size', 'get_memory_stats', 'run_gc', 'attach_memory_table',
      'get_memory_table_id', 'sync_external_table_counter', 'set_memory_alias_enabled', 'lua_alloc'];
    expect([...documented.keys()]).toEqual(abi);
    expect([...additive.keys()]).toEqual(expect.arrayContaining(['set_instruction_limit', 'get_error_kind', 'get_output_dropped',
      'get_external_table_counter', 'set_clock', 'set_random_seed']));
    for (const name of [...documented.keys(), ...additive.keys()]) expect([name, exported.get(name)?.kind]).toEqual([name, 'function']);
  });

  it('have the signatures docs/ABI.md gives them', () => {
    for (const [name, signature] of [...documented, ...additive]) {
      expect([name, exported.get(name)!.type]).toEqual([name, wasmType(signature)]);
    }
  });

  it('add nothing that docs/ABI.md does not name', () => {
    const named = new Set([...documented.keys(), ...additive.keys(), 'memory', '_initialize']);
    const runtime = /Other exports that Emscripten's runtime adds \(([^)]*)\)/.exec(abiDoc.replace(/\n/g, ' '));
    expect(runtime).not.toBeNull();
    for (const m of runtime![1].matchAll(/`(\w+)`/g)) named.add(m[1]);
    expect(layout.exports.map((e) => e.name).filter((n) => !named.has(n))).toEqual([]);
  });
});

describe('_initialize', () => {
  it('is never needed: a host that does not call it runs everything', () => {
    const h = RawHost.create();
    expect(h.exports._initialize).toBeDefined();
    expect(h.run('_home.n = 41 return _home.n + 1')).toEqual([42n]);
  });

  it('is harmless before init', () => {
    const h = RawHost.create({ init: false });
    h.exports._initialize!();
    expect(h.exports.init()).toBe(0);
    expect(h.run('return 6 * 7')).toEqual([42n]);
  });

  it('is harmless after init: the VM, its globals, _home and the counters are kept', () => {
    const h = RawHost.create();
    h.run('x = 5 _home.t = {1, 2}');
    const counter = h.exports.get_external_table_counter();
    h.exports._initialize!();
    expect(h.exports.get_memory_table_id()).toBe(1);
    expect(h.exports.get_external_table_counter()).toBe(counter);
    expect(h.run('return x, _home.t[2]')).toEqual([5n, 2n]);
  });
});

describe('init', () => {
  it('returns 0 and is idempotent: a second call changes nothing', () => {
    const h = RawHost.create();
    h.run('kept = "yes"');
    expect(h.exports.init()).toBe(0);
    expect(h.exports.get_memory_table_id()).toBe(1);
    expect(h.run('return kept').map(str)).toEqual(['yes']);
  });
});

describe('the Lua heap', () => {
  it('has at least 1.5 MiB of the 2 MiB', () => {
    // A list of 4 KB blocks grown until memory runs out: no reallocation of a large block
    // (which needs old and new at once) limits it. Lua's own count of its bytes at that point.
    const h = RawHost.create();
    const [bytes, blocks, err] = h.run(`
      local head, n = nil, 0
      local ok, e = pcall(function() while true do n = n + 1 head = {head, string.rep("x", 4000) .. n} end end)
      return collectgarbage("count") * 1024, n, e`);
    expect(str(err)).toBe('not enough memory');
    expect(bytes as number).toBeGreaterThanOrEqual(1.5 * 1024 * 1024);
    expect(Number(blocks)).toBeGreaterThan(380);
    // And the VM is usable again.
    expect(h.run('return 1 + 1')).toEqual([2n]);
  });
});
