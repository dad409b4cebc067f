// A zero-dependency host for lua.wasm, written from docs/ABI.md alone: the five imports over
// JavaScript Maps (with the keys paging protocol), compute, and the value codec.
// Usage: node examples/raw-host/host.mjs [path/to/lua.wasm] [lua code ...]
import { readFile } from 'node:fs/promises';

const wasmPath = process.argv[2] ?? new URL('../../build/lua.wasm', import.meta.url);
const codes = process.argv.length > 3 ? process.argv.slice(3) : [
  '_home.visits = (_home.visits or 0) + 1',
  '_home.player = { name = "Ada", inventory = { "lamp", "key" } }',
  'print("hello from Lua", _VERSION) return _home.visits, _home.player.inventory[2]',
  'local n = 0 for k in pairs(_home) do n = n + 1 end return n',
  'error("boom")',
];

// ---- The external-table host: id -> Map(key bytes as a latin1 string -> value bytes).
const tables = new Map();
const cursors = new Map(); // cursor -> { iterator, pending key }
let nextCursor = 1;
let memory;

const bytes = () => new Uint8Array(memory.buffer);
const view = () => new DataView(memory.buffer);
const keyAt = (ptr, len) => String.fromCharCode(...bytes().subarray(ptr, ptr + len));
const table = (id) => {
  let t = tables.get(id);
  if (!t) tables.set(id, (t = new Map()));
  return t;
};

const env = {
  js_ext_table_set(id, kp, kl, vp, vl) {
    table(id >>> 0).set(keyAt(kp, kl), bytes().slice(vp, vp + vl));
    return 0;
  },
  js_ext_table_get(id, kp, kl, vp, max) {
    const v = tables.get(id >>> 0)?.get(keyAt(kp, kl));
    if (v === undefined) return -1;
    if (v.length <= max) bytes().set(v, vp);
    return v.length; // larger than max: the guest calls again with a bigger buffer
  },
  js_ext_table_delete(id, kp, kl) {
    tables.get(id >>> 0)?.delete(keyAt(kp, kl));
    return 0;
  },
  js_ext_table_size(id) {
    return tables.get(id >>> 0)?.size ?? 0;
  },
  // Request: u32 cursor at buf (0 = start). Answer: u32 next cursor (0 = last page), then
  // (u32 length, key bytes)*; or a length > max meaning "call again with that much room".
  js_ext_table_keys(id, buf, max) {
    let cursor = view().getUint32(buf, true);
    let state;
    if (cursor === 0) {
      state = { iterator: table(id >>> 0).keys(), pending: undefined };
      cursor = nextCursor++;
      cursors.set(cursor, state);
    } else {
      state = cursors.get(cursor);
      if (!state) return -1;
    }
    let pos = 4;
    for (;;) {
      let key = state.pending;
      if (key === undefined) {
        const next = state.iterator.next();
        if (next.done) {
          cursors.delete(cursor);
          view().setUint32(buf, 0, true);
          return pos;
        }
        key = next.value;
      }
      if (pos + 4 + key.length > max) {
        state.pending = key;
        if (pos === 4) return 8 + key.length;
        view().setUint32(buf, cursor, true);
        return pos;
      }
      state.pending = undefined;
      view().setUint32(buf + pos, key.length, true);
      for (let i = 0; i < key.length; i++) bytes()[buf + pos + 4 + i] = key.charCodeAt(i);
      pos += 4 + key.length;
    }
  },
};

// ---- The value codec (docs/ABI.md, "Value codec").
function decode(v, at) {
  const tag = v.getUint8(at++);
  switch (tag) {
    case 0: return [null, at];
    case 1: return [v.getUint8(at) === 1, at + 1];
    case 2: { // integers beyond 2^53 stay exact as bigint
      const n = v.getBigInt64(at, true);
      return [Number.isSafeInteger(Number(n)) ? Number(n) : n, at + 8];
    }
    case 3: return [v.getFloat64(at, true), at + 8];
    case 4: {
      const n = v.getUint32(at, true);
      const s = new TextDecoder().decode(new Uint8Array(v.buffer, v.byteOffset + at + 4, n));
      return [s, at + 4 + n];
    }
    case 5: return [`<function, ${v.getUint32(at, true)} bytes>`, at + 4 + v.getUint32(at, true)];
    case 7: return [`<external table ${v.getUint32(at, true)}>`, at + 4];
    case 8: {
      const n = v.getUint32(at, true);
      const entries = [];
      at += 4;
      for (let i = 0; i < n; i++) {
        const [k, a1] = decode(v, at);
        const [val, a2] = decode(v, a1);
        entries.push([k, val]);
        at = a2;
      }
      return [Object.fromEntries(entries.map(([k, val]) => [String(k), val])), at];
    }
    default: throw new Error(`unknown tag ${tag}`);
  }
}

const module = await WebAssembly.compile(await readFile(wasmPath));
const { exports: lua } = await WebAssembly.instantiate(module, { env });
memory = lua.memory;
if (lua.init() !== 0) throw new Error('init failed');

const buffer = lua.get_buffer_ptr();
for (const code of codes) {
  const encoded = new TextEncoder().encode(code);
  bytes().set(encoded, buffer);
  const n = lua.compute(buffer, encoded.length);
  if (n < 0) {
    const message = new TextDecoder().decode(bytes().subarray(buffer, buffer - n - 1));
    console.log(`error (kind ${lua.get_error_kind()}): ${message}`);
    continue;
  }
  const v = new DataView(memory.buffer, buffer, n);
  const outputLength = v.getUint32(0, true);
  const output = new TextDecoder().decode(bytes().subarray(buffer + 4, buffer + 4 + outputLength));
  const values = [];
  for (let at = 4 + outputLength; at < n; ) {
    const [value, next] = decode(v, at);
    values.push(value);
    at = next;
  }
  if (output) process.stdout.write(output);
  console.log('results:', values.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ') || '(none)');
}
