// Damaged, truncated and foreign files for every format are refused with a clear error, and the
// files are byte-identical afterwards: a refusal never overwrites what was saved.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lua, NodeFileStore, StateCorruptError } from '../../js/src/node';

let dir: string;
let golden: string; // a state directory with a snapshot and a journal of two records
let exported: Uint8Array;
let image: Uint8Array;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lua-home-corrupt-'));
  golden = join(dir, 'golden');
  const store = new NodeFileStore(golden, { compactAfter: 1024 });
  const lua = await Lua.create({ store });
  lua.compute('_home.big = ("z"):rep(2000) _home.t = { 1, 2, { x = "y" } }');
  await lua.save(); // compacts: snapshot + journal-1
  lua.compute('_home.n = 1');
  await lua.save();
  lua.compute('_home.n = 2 _home.s = "two"');
  await lua.save();
  exported = lua.exportState();
  image = await lua.saveImage();
  await store.close();
  expect(readdirSync(golden).sort()).toEqual(['journal-1', 'snapshot']);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let copies = 0;
/** A copy of the golden state with `file` replaced by `bytes`. */
function damaged(file: string, bytes: Uint8Array): string {
  const d = join(dir, `copy-${copies++}`);
  mkdirSync(d);
  for (const f of readdirSync(golden)) copyFileSync(join(golden, f), join(d, f));
  writeFileSync(join(d, file), bytes);
  return d;
}

function filesOf(d: string): Map<string, Buffer> {
  return new Map(readdirSync(d).map((f) => [f, readFileSync(join(d, f))]));
}

async function expectRefused(d: string, pattern: RegExp): Promise<void> {
  const before = filesOf(d);
  const store = new NodeFileStore(d);
  await expect(Lua.create({ store })).rejects.toThrow(StateCorruptError);
  await expect(Lua.create({ store: new NodeFileStore(d) })).rejects.toThrow(pattern);
  expect(filesOf(d)).toEqual(before); // untouched, and no lock left behind
}

// Deterministic positions spread over the file, plus its first and last bytes.
const positions = (length: number, n = 24) => [...new Set([0, 1, 7, 8, 12, length - 1, length - 4,
  ...Array.from({ length: n }, (_, i) => Math.floor(((i + 0.5) * length) / n))])].filter((p) => p >= 0 && p < length);

describe('the snapshot', () => {
  const snapshot = () => readFileSync(join(golden, 'snapshot'));

  it('a flipped bit anywhere is refused', async () => {
    for (const p of positions(snapshot().length)) {
      const bytes = snapshot();
      bytes[p] ^= 1 << (p % 8);
      await expectRefused(damaged('snapshot', bytes), /the snapshot .* is damaged or not a lua-home file/);
    }
  });

  it('a truncated one is refused', async () => {
    for (const n of [0, 4, 8, 20, snapshot().length >> 1, snapshot().length - 1]) {
      await expectRefused(damaged('snapshot', snapshot().subarray(0, n)), /the snapshot .* is damaged or not a lua-home file/);
    }
  });

  it('a foreign file is refused', async () => {
    await expectRefused(damaged('snapshot', new TextEncoder().encode('{"_home": {}}\n')), /not a lua-home file/);
    await expectRefused(damaged('snapshot', Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Uint8Array(64)])), /not a lua-home file/);
  });
});

describe('the journal', () => {
  const journal = () => readFileSync(join(golden, 'journal-1'));

  it('a flipped bit anywhere is refused (even in a length: later records are never silently dropped)', async () => {
    for (const p of positions(journal().length, 40)) {
      const bytes = journal();
      bytes[p] ^= 1 << (p % 8);
      await expectRefused(damaged('journal-1', bytes), /the journal .* is damaged or not a lua-home file/);
    }
  });

  it('a truncated header is refused; a record cut short is a crash\'s torn tail and is dropped whole', async () => {
    for (const n of [0, 5, 8, 15]) {
      await expectRefused(damaged('journal-1', journal().subarray(0, n)), /the journal .* is damaged or not a lua-home file/);
    }
    const torn = damaged('journal-1', journal().subarray(0, journal().length - 3));
    const before = filesOf(torn);
    const lua = await Lua.create({ store: new NodeFileStore(torn) });
    expect(lua.compute('return _home.n, _home.s').values).toEqual([1, undefined]); // the last save was torn
    await lua.store.close();
    expect(filesOf(torn)).toEqual(before); // loading writes nothing; only the next save trims the tail
  });

  it('a foreign file or a journal of another generation is refused', async () => {
    await expectRefused(damaged('journal-1', new TextEncoder().encode('not a journal at all, just text')), /not a lua-home file/);
    const other = journal();
    other[12] ^= 0x02; // the generation field
    await expectRefused(damaged('journal-1', other), /generation/);
  });
});

describe('exported state', () => {
  it('every flipped bit, every truncation and foreign bytes are refused', async () => {
    for (const p of positions(exported.length, 40)) {
      const bytes = exported.slice();
      bytes[p] ^= 1 << (p % 8);
      await expect(Lua.create({ state: bytes })).rejects.toThrow(StateCorruptError);
    }
    for (const n of [0, 3, 8, 16, exported.length >> 1, exported.length - 1]) {
      await expect(Lua.create({ state: exported.subarray(0, n) })).rejects.toThrow(/the exported state is damaged or not a lua-home file/);
    }
    await expect(Lua.create({ state: exported.subarray(0) })).resolves.toBeDefined();
  });
});

describe('VM images', () => {
  it('flipped bits, truncations and foreign bytes are refused', async () => {
    let refused = 0;
    for (const p of positions(image.length, 16)) {
      const bytes = image.slice();
      bytes[p] ^= 1 << (p % 8);
      // A few bytes of the gzip header (time stamp, flags of origin) carry nothing: a flip there
      // must load the very same VM; every other flip must be refused.
      const r = await Lua.create({ image: bytes }).then((lua) => lua, (e) => e);
      if (r instanceof Lua) {
        expect(p).toBeGreaterThanOrEqual(4);
        expect(p).toBeLessThan(10);
        expect(r.compute('return _home.n, _home.s').values).toEqual([2, 'two']);
      } else {
        expect(r).toBeInstanceOf(StateCorruptError);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(15);
    for (const n of [0, 2, 10, image.length >> 1, image.length - 1]) {
      await expect(Lua.create({ image: image.subarray(0, n) })).rejects.toThrow(/the VM image is damaged or not a lua-home file/);
    }
    await expect(Lua.create({ image: exported })).rejects.toThrow(/the VM image is damaged or not a lua-home file/);
    const ok = await Lua.create({ image });
    expect(ok.compute('return _home.n, _home.s').values).toEqual([2, 'two']);
  });
});
