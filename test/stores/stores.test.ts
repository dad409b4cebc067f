// Durable _home: the three stores, incremental and atomic saves, transactional computes, exported
// state, garbage collection of unreachable tables, and VM images.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChangeBatch, ImageBuildError, IndexedDBStore, Lua, LuaError, MemoryStore, NodeFileStore, StateCorruptError, Store, TablesState,
} from '../../js/src/node';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lua-home-stores-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A store that records every batch it is given. */
class Recording implements Store {
  batches: ChangeBatch[] = [];
  constructor(readonly inner: Store) {}
  load(): Promise<TablesState | undefined> {
    return this.inner.load();
  }
  save(batch: ChangeBatch): Promise<void> {
    this.batches.push(batch);
    return this.inner.save(batch);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const stores: [string, () => Store][] = [
  ['MemoryStore', () => new MemoryStore()],
  ['NodeFileStore', () => new NodeFileStore(join(dir, 'state'))],
  ['IndexedDBStore', () => new IndexedDBStore(`db-${Math.random()}`)],
];

describe.each(stores)('%s', (_name, make) => {
  it('restores every external table, binds _home to its id, and never reuses an id', async () => {
    const store = make();
    const a = await Lua.create({ store });
    const ids = a.compute(`_home.n = 41 _home.player = { name = "Ada", bag = { "lamp", "key" } }
      local t = ext.table() t.x = 1 _home.t = t
      return ext.id(_home), ext.id(_home.player), ext.id(_home.player.bag), ext.id(t)`).values as number[];
    await a.save();
    a.close();
    const reopened = store instanceof MemoryStore ? store : store instanceof NodeFileStore ? new NodeFileStore(join(dir, 'state')) : store;
    if (reopened !== store) await store.close();
    const b = await Lua.create({ store: reopened });
    expect(b.compute('_home.n = _home.n + 1 return _home.n, _home.player.name, _home.player.bag[2], _home.t.x, ext.id(_home)').values)
      .toEqual([42, 'Ada', 'key', 1, ids[0]]);
    const fresh = b.compute('local t = ext.table() return ext.id(t)').value as number;
    expect(fresh).toBeGreaterThan(Math.max(...ids));
    expect(b.newTable().id).toBeGreaterThan(fresh);
    await reopened.close();
  });

  it('saves only what changed since the last save, as one batch per save', async () => {
    const store = new Recording(make());
    const lua = await Lua.create({ store });
    lua.compute('for i = 1, 1000 do _home[i] = i end');
    await lua.save();
    expect(store.batches[0].changes.length).toBe(1000);
    lua.compute('for i = 1, 10 do _home[i * 7] = "changed" end _home[3] = nil');
    lua.compute('_home[14] = "twice"');
    await lua.save();
    expect(store.batches.length).toBe(2);
    expect(store.batches[1].changes.length).toBe(11);
    await lua.save();
    expect(store.batches[2].changes.length).toBe(0);
    await store.close();
  });

  it('autosave saves after every successful compute, and not after a failed one', async () => {
    const store = new Recording(make());
    const lua = await Lua.create({ store, autosave: true });
    lua.compute('_home.a = 1');
    expect(() => lua.compute('_home.b = 2 error("no")')).toThrow(LuaError);
    lua.compute('_home.c = 3');
    await lua.flush();
    expect(store.batches.map((b) => b.changes.length)).toEqual([1, 1]);
    const state = await store.load();
    expect([...(state!.tables.get(state!.homeId)!.keys())].sort()).toEqual(['\x04a', '\x04c']);
    await store.close();
  });
});

describe('transactional computes', () => {
  const failures: [string, string, (lua: Lua) => void][] = [
    ['a Lua error', 'runtime', (lua) => lua.compute('_home.a = "x" _home.t.deep.v = 0 _home.new = {1} error("no")')],
    ['memory exhaustion', 'memory', (lua) => lua.compute('_home.a = "x" _home.t = nil local t = {} while true do t[#t + 1] = ("x"):rep(64) .. #t end')],
    ['the instruction limit', 'limit', (lua) => {
      lua.setInstructionLimit(100_000);
      try {
        lua.compute('_home.a = "x" _home.t.deep = nil while true do end');
      } finally {
        lua.setInstructionLimit(0);
      }
    }],
    ['a host import that fails', 'host', (lua) => {
      const write = lua.host.write.bind(lua.host);
      let n = 0;
      lua.host.write = (id, key, value) => {
        if (++n === 3) throw new Error('disk on fire');
        write(id, key, value);
      };
      try {
        lua.compute('_home.a = "x" _home.b = "y" _home.c = "z" _home.d = "w"');
      } finally {
        lua.host.write = write;
      }
    }],
  ];

  it.each(failures)('%s leaves every external table as it was, and saves nothing', async (_what, kind, fail) => {
    const store = new Recording(new NodeFileStore(join(dir, 'state')));
    const lua = await Lua.create({ store, autosave: true });
    lua.compute('_home.a = 1 _home.t = { deep = { v = 1 }, list = { 1, 2, 3 } }');
    await lua.flush();
    const before = lua.host.snapshot();
    let error: unknown;
    try {
      fail(lua);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LuaError);
    expect((error as LuaError).kind).toBe(kind);
    expect(lua.host.snapshot()).toEqual(before);
    await lua.flush();
    expect(store.batches.length).toBe(1);
    expect(lua.compute('return _home.a, _home.t.deep.v, #_home.t.list').values).toEqual([1, 1, 3]);
    await store.close();
  });
});

describe('exported state', () => {
  it('round-trips through exportState and Lua.create({ state }), versioned and checksummed', async () => {
    const a = await Lua.create();
    a.compute('_home.s = "ü\\0x" _home.bin = "\\xff\\xfe" _home.n = math.maxinteger _home.f = 0.1 _home.t = { 1, { 2 } } _home.t[3] = _home.t');
    const bytes = a.exportState();
    expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe('LUAHOMES');
    const b = await Lua.create({ state: bytes });
    expect(b.compute('return _home.s, _home.n, _home.f, _home.t[2][1], rawequal(_home.t[3], _home.t)').values)
      .toEqual(['ü\0x', 9223372036854775807n, 0.1, 2, true]);
    expect(b.home.get('bin')).toEqual(Uint8Array.of(0xff, 0xfe));
    // A store given with the state receives all of it at the first save.
    const store = new MemoryStore();
    const c = await Lua.create({ state: bytes, store });
    await c.save();
    const d = await Lua.create({ store });
    expect(d.compute('return _home.t[2][1]').value).toBe(2);
  });

  it('refuses damaged, truncated and foreign bytes with a clear error', async () => {
    const bytes = (await (async () => {
      const l = await Lua.create();
      l.compute('_home.x = 1');
      return l.exportState();
    })());
    const flipped = bytes.slice();
    flipped[bytes.length >> 1] ^= 0x10;
    await expect(Lua.create({ state: flipped })).rejects.toThrow(StateCorruptError);
    await expect(Lua.create({ state: bytes.subarray(0, bytes.length - 3) })).rejects.toThrow(/the exported state is damaged or not a lua-home file/);
    await expect(Lua.create({ state: new TextEncoder().encode('{"not":"lua-home"}') })).rejects.toThrow(StateCorruptError);
    await expect(Lua.create({ state: new Uint8Array(0) })).rejects.toThrow(StateCorruptError);
  });
});

describe('garbage: tables no longer reachable from _home', () => {
  it('are dropped when state is loaded or exported, and leave the snapshot at the next compaction', async () => {
    const state = join(dir, 'state');
    const lua = await Lua.create({ store: new NodeFileStore(state, { compactAfter: 64 * 1024 }), autosave: true });
    for (let i = 0; i < 300; i++) lua.compute(`_home.doc = { n = ${i}, body = { ("x"):rep(100), { ${i} } } }`);
    await lua.flush();
    expect(lua.host.tables.size).toBeGreaterThan(600); // the running VM's host still has the old copies
    const exported = await Lua.create({ state: lua.exportState() });
    expect(exported.host.tables.size).toBe(4); // _home, doc, body, body[2]
    await lua.store.close();
    const store = new NodeFileStore(state, { compactAfter: 64 * 1024 });
    const reloaded = await Lua.create({ store });
    expect(reloaded.host.tables.size).toBe(4);
    expect(reloaded.compute('return _home.doc.n, _home.doc.body[2][1]').values).toEqual([299, 299]);
    reloaded.compute('_home.filler = ("f"):rep(70000)'); // a save past 64 KiB: compaction
    await reloaded.save();
    const onDisk = readdirSync(state).filter((f) => f !== 'lock').reduce((n, f) => n + statSync(join(state, f)).size, 0);
    expect(onDisk).toBeLessThan(90 * 1024); // the filler and four small tables, no garbage
    await store.close();
    for (const s of [new MemoryStore()]) {
      const a = await Lua.create({ store: s });
      a.compute('_home.t = { 1 } _home.t = { 2 }');
      await a.save();
      const b = await Lua.create({ store: s });
      expect(b.host.tables.size).toBe(2);
    }
  });

  it('a table kept in a global while unreachable from _home survives compaction when stored back', async () => {
    const state = join(dir, 'state');
    const lua = await Lua.create({ store: new NodeFileStore(state, { compactAfter: 4096 }), autosave: true });
    lua.compute('_home.doc = { title = "kept" } keep = _home.doc _home.doc = nil');
    lua.compute('_home.filler = ("f"):rep(5000)'); // compaction while only the global holds doc
    lua.compute('_home.doc = keep'); // only the reference changes
    await lua.flush();
    await lua.store.close();
    const back = await Lua.create({ store: new NodeFileStore(state) });
    expect(back.compute('return _home.doc.title').value).toBe('kept');
    await back.store.close();
  });
});

describe('the file store', () => {
  it('appends one checksummed record per save, compacts into a snapshot, and starts a new journal', async () => {
    const state = join(dir, 'state');
    const store = new NodeFileStore(state, { compactAfter: 4096 });
    const lua = await Lua.create({ store });
    lua.compute('_home.a = 1');
    await lua.save();
    const first = statSync(join(state, 'journal-0')).size;
    lua.compute('_home.b = 2');
    await lua.save();
    expect(statSync(join(state, 'journal-0')).size).toBeGreaterThan(first);
    lua.compute('_home.big = ("y"):rep(5000)');
    await lua.save();
    expect(readdirSync(state).sort()).toEqual(['journal-1', 'lock', 'snapshot']);
    lua.compute('_home.c = 3');
    await lua.save();
    await store.close();
    expect(readdirSync(state).sort()).toEqual(['journal-1', 'snapshot']);
    const again = await Lua.create({ store: new NodeFileStore(state) });
    expect(again.compute('return _home.a, _home.b, #_home.big, _home.c').values).toEqual([1, 2, 5000, 3]);
    await again.store.close();
  });

  it('a torn final record (a crash during an append) is dropped whole; the saves before it load', async () => {
    const state = join(dir, 'state');
    const lua = await Lua.create({ store: new NodeFileStore(state) });
    lua.compute('_home.a = 1');
    await lua.save();
    const good = statSync(join(state, 'journal-0')).size;
    lua.compute('_home.a = 2 _home.b = 2');
    await lua.save();
    await lua.store.close();
    const journal = readFileSync(join(state, 'journal-0'));
    for (const cut of [good + 1, good + 11, good + 12, journal.length - 1]) {
      const copy = join(dir, `copy-${cut}`);
      rmSync(copy, { recursive: true, force: true });
      require('node:fs').mkdirSync(copy);
      require('node:fs').writeFileSync(join(copy, 'journal-0'), journal.subarray(0, cut));
      const back = await Lua.create({ store: new NodeFileStore(copy) });
      expect(back.compute('return _home.a, _home.b').values).toEqual([1, undefined]);
      // The next save goes after the last intact record.
      back.compute('_home.c = 3');
      await back.save();
      await back.store.close();
      const again = await Lua.create({ store: new NodeFileStore(copy) });
      expect(again.compute('return _home.a, _home.b, _home.c').values).toEqual([1, undefined, 3]);
      await again.store.close();
    }
  });
});

describe('IndexedDB (fake-indexeddb)', () => {
  it('keeps _home across VMs and saves incrementally in one transaction', async () => {
    const factory = new IDBFactory();
    const lua = await Lua.create({ store: new IndexedDBStore('app', factory) });
    lua.compute('_home.visits = 1 _home.list = { "a", "b" }');
    await lua.save();
    lua.compute('_home.visits = _home.visits + 1 _home.list[3] = "c"');
    await lua.save();
    await lua.store.close();
    const again = await Lua.create({ store: new IndexedDBStore('app', factory) });
    expect(again.compute('return _home.visits, #_home.list, _home.list[3]').values).toEqual([2, 3, 'c']);
    await again.store.close();
  });
});

describe('VM images', () => {
  it('resume globals, closures with their upvalues and suspended coroutines, with the external tables', async () => {
    const lua = await Lua.create({ clock: 0, randomSeed: 1 });
    lua.compute(`
      local secret = 10
      function bump() secret = secret + 1 return secret end
      gen = coroutine.wrap(function() for i = 1, math.huge do coroutine.yield(i * i) end end)
      gen() gen()
      counter = setmetatable({}, { __call = function(self) return bump() * 2 end })
      _home.saved = { n = 5 }`);
    const image = await lua.saveImage();
    expect(image.length).toBeLessThan(300 * 1024); // gzip: 2 MiB of memory, mostly empty
    expect([image[0], image[1]]).toEqual([0x1f, 0x8b]);
    const back = await Lua.create({ image });
    expect(back.compute('return bump(), gen(), counter(), _home.saved.n').values).toEqual([11, 9, 24, 5]);
    // The original goes on independently.
    expect(lua.compute('return bump(), gen()').values).toEqual([11, 9]);
  });

  it('refuses an image of another build, and damaged images', async () => {
    const lua = await Lua.create();
    const image = await lua.saveImage();
    // Rewrite the build id inside the (decompressed) image and compress it again.
    const raw = new Uint8Array(await new Response(new Blob([image]).stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
    raw[12] ^= 0xff;
    const { crc32 } = await import('../../js/src/stores/format');
    new DataView(raw.buffer).setUint32(raw.length - 4, crc32(raw, 0, raw.length - 4), true);
    const other = new Uint8Array(await new Response(new Blob([raw]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer());
    await expect(Lua.create({ image: other })).rejects.toThrow(ImageBuildError);
    await expect(Lua.create({ image: other })).rejects.toThrow(/made by another build of lua\.wasm/);
    await expect(Lua.create({ image: image.subarray(0, image.length >> 1) })).rejects.toThrow(StateCorruptError);
    await expect(Lua.create({ image: new Uint8Array([1, 2, 3]) })).rejects.toThrow(StateCorruptError);
  });
});
