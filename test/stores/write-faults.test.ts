// A save resolves only when every byte of it is durable; a failed write or fsync leaves no torn
// record for later saves to land behind; a failed compaction leaves the old snapshot and journal
// in charge. Faults are injected in the file store's write path, and met for real on a tiny tmpfs.
import { execFileSync } from 'node:child_process';
import { closeSync, fsyncSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lua, NodeFileStore, StoreWriteError } from '../../js/src/node';
import type { FileOps, FileStoreInternals } from '../../js/src/stores/file';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lua-home-faults-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const errno = (code: string) => Object.assign(new Error(`${code}: injected`), { code });

/** The real calls, with faults switched on and off by the test. */
class Faulty implements FileOps {
  /** Bytes each write may write at most (a short write). */
  shortWrites = Infinity;
  /** Bytes that may still be written before writes fail with ENOSPC. */
  room = Infinity;
  failFsync: string | undefined;
  writes: string[] = [];

  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    if (this.room <= 0) throw errno('ENOSPC');
    const n = Math.min(length, this.shortWrites, this.room);
    this.room -= n;
    return writeSync(fd, buffer, offset, n, position);
  }

  fsyncSync(fd: number): void {
    if (this.failFsync) throw errno(this.failFsync);
    fsyncSync(fd);
  }

  ftruncateSync(fd: number, length: number): void {
    ftruncateSync(fd, length);
  }
}

function open(fileOps: FileOps, extra: FileStoreInternals = {}): NodeFileStore {
  return new NodeFileStore(join(dir, 'state'), { fileOps, ...extra } as FileStoreInternals);
}

async function reload(): Promise<unknown> {
  const store = new NodeFileStore(join(dir, 'state'));
  try {
    const lua = await Lua.create({ store });
    return lua.home.toJS();
  } finally {
    await store.close();
  }
}

const big = (c: string) => c.repeat(60_000);

describe('the file store under write faults', () => {
  it('completes short writes: a save of 60 KB written 4,096 bytes at a time resolves whole', async () => {
    const ops = new Faulty();
    ops.shortWrites = 4096;
    const store = open(ops);
    const lua = await Lua.create({ store });
    lua.compute(`_home.big = ("a"):rep(60000) _home.n = 1`);
    await lua.save();
    await store.close();
    expect(await reload()).toEqual({ big: big('a'), n: 1 });
  });

  it('a disk that fills mid-record rejects the save, cuts the torn record, and the next save loads', async () => {
    const ops = new Faulty();
    const store = open(ops);
    const lua = await Lua.create({ store });
    lua.compute('_home.n = 1');
    await lua.save();
    const good = statSync(join(dir, 'state', 'journal-0')).size;
    ops.room = 24_576; // 24 KiB of the 60 KB record fit, then ENOSPC
    lua.compute(`_home.big = ("b"):rep(60000)`);
    const failed = await lua.save().then(() => undefined, (e: unknown) => e);
    expect(failed).toBeInstanceOf(StoreWriteError);
    expect((failed as StoreWriteError).code).toBe('ENOSPC');
    expect(statSync(join(dir, 'state', 'journal-0')).size).toBe(good); // no torn record left
    ops.room = Infinity; // space again: the failed save's changes go with the next one
    lua.compute('_home.n = 2');
    await lua.save();
    await store.close();
    expect(await reload()).toEqual({ n: 2, big: big('b') });
  });

  it('a failed fsync (EIO) rejects the save and leaves the journal at its last good length', async () => {
    const ops = new Faulty();
    const store = open(ops);
    const lua = await Lua.create({ store });
    lua.compute('_home.n = 1');
    await lua.save();
    const good = statSync(join(dir, 'state', 'journal-0')).size;
    ops.failFsync = 'EIO';
    lua.compute('_home.n = 2 _home.lost = true');
    await expect(lua.save()).rejects.toThrow(StoreWriteError);
    ops.failFsync = undefined;
    expect(statSync(join(dir, 'state', 'journal-0')).size).toBe(good);
    await store.close();
    expect(await reload()).toEqual({ n: 1 }); // the rejected save is not there
  });

  it('a failed compaction keeps the old snapshot and journal, and the save that triggered it', async () => {
    const ops = new Faulty();
    const store = open(ops, { compactAfter: 4096 });
    const lua = await Lua.create({ store });
    lua.compute(`_home.a = ("a"):rep(3000)`);
    await lua.save();
    lua.compute(`_home.b = ("b"):rep(3000)`);
    await lua.save(); // compaction: snapshot of generation 1
    expect(readdirSync(join(dir, 'state')).sort()).toEqual(['journal-1', 'lock', 'snapshot']);
    const snapshot = readFileSync(join(dir, 'state', 'snapshot'));
    lua.compute(`_home.c = ("c"):rep(7000)`);
    ops.room = 7100; // the record fits, the new snapshot does not
    await lua.save();
    expect(store.compactionError).toBeInstanceOf(StoreWriteError);
    expect(readFileSync(join(dir, 'state', 'snapshot'))).toEqual(snapshot);
    expect(readdirSync(join(dir, 'state')).sort()).toEqual(['journal-1', 'lock', 'snapshot']);
    await store.close();
    expect(await reload()).toEqual({ a: 'a'.repeat(3000), b: 'b'.repeat(3000), c: 'c'.repeat(7000) });
  });
});

// {====== a real, tiny file system

function mountTmpfs(at: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', at], { stdio: 'pipe' });
    return undefined;
  } catch (e) {
    return (e as { stderr?: Buffer }).stderr?.toString().trim() || String(e);
  }
}

const probe = mkdtempSync(join(tmpdir(), 'lua-home-tmpfs-probe-'));
const mountRefusal = mountTmpfs(probe);
if (mountRefusal === undefined) execFileSync('umount', [probe]);
rmSync(probe, { recursive: true, force: true });
const onTmpfs = mountRefusal === undefined ? it : it.skip;
if (mountRefusal !== undefined) console.warn(`skipping the tmpfs case: cannot mount a tmpfs here (${mountRefusal})`);

/** Fills the file system at `at` until `leave` bytes or fewer are free. */
function fill(at: string, leave: number): void {
  const fd = openSync(join(at, 'filler'), 'a');
  try {
    const chunk = new Uint8Array(4096);
    for (;;) {
      const { bavail, bsize } = statfsSync(at);
      const free = bavail * bsize;
      if (free <= leave) return;
      writeSync(fd, chunk, 0, Math.min(chunk.length, free - leave));
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
}

onTmpfs(`on a full 256 KiB tmpfs (${mountRefusal === undefined ? 'mounted' : `not mountable: ${mountRefusal}`}) no acknowledged save is lost and the state stays loadable`, async () => {
  const at = join(dir, 'tiny');
  mkdirSync(at);
  expect(mountTmpfs(at)).toBeUndefined();
  try {
    const state = join(at, 'state');
    const store = new NodeFileStore(state, { compactAfter: 32 * 1024 });
    const lua = await Lua.create({ store });
    lua.compute('_home.n = 1');
    await lua.save();
    fill(at, 24 * 1024);
    lua.compute(`_home.big = ("b"):rep(60000)`);
    await expect(lua.save()).rejects.toThrow(StoreWriteError);
    lua.compute('_home.n = 2 _home.big = nil'); // small enough to fit what is left
    await lua.save();
    await store.close();
    const back = await Lua.create({ store: new NodeFileStore(state, { compactAfter: 32 * 1024 }) });
    expect(back.home.toJS()).toEqual({ n: 2 });
    // Compaction on a nearly full disk: it fails, the journal it would replace stays.
    rmSync(join(at, 'filler'));
    for (let i = 0; i < 2; i++) {
      back.compute(`_home[${i}] = ("${i}"):rep(11000)`);
      await back.save();
    }
    expect(readdirSync(state).sort()).toEqual(['journal-0', 'lock']); // not compacted yet
    fill(at, 16 * 1024);
    back.compute(`_home.last = ("z"):rep(12000)`);
    await back.save(); // its record fits; the compaction it triggers does not
    expect((back.store as NodeFileStore).compactionError).toBeInstanceOf(StoreWriteError);
    expect(readdirSync(state).sort()).toEqual(['journal-0', 'lock']); // no half snapshot, the journal kept
    await back.store.close();
    const again = await Lua.create({ store: new NodeFileStore(state) });
    expect(again.compute('return _home.n, #_home[0], #_home[1], #_home.last').values).toEqual([2, 11000, 11000, 12000]);
    await again.store.close();
  } finally {
    execFileSync('umount', ['-l', at]); // lazily: a failed expectation may have left a file open
  }
});

// }======
