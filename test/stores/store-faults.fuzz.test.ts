// The store-fault fuzzer: random computes and saves on a NodeFileStore whose writes, fsyncs and
// truncations fail at random points (short writes, ENOSPC after part of a write, EIO), checked
// against an oracle of acknowledged saves: after reopening, the state is the last acknowledged
// save, or a later one that was attempted; never damaged, never missing an acknowledged save.
// `npm test` runs a few rounds; `npm run fuzz` (LUA_HOME_FUZZ_SCALE) runs many more.
import { fsyncSync, ftruncateSync, mkdtempSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lua, NodeFileStore } from '../../js/src/node';
import type { FileOps, FileStoreInternals } from '../../js/src/stores/file';
import { Rng, SCALE, SEED } from '../hardening/util';

const ROUNDS = 10 * SCALE;
const OPS = 40;

const errno = (code: string) => Object.assign(new Error(`${code}: injected`), { code });

/** The real calls, failing at random while armed. */
class RandomFaults implements FileOps {
  armed = false;
  injected = 0;
  constructor(private readonly rng: Rng) {}

  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    if (this.armed) {
      const r = this.rng.int(10);
      if (r === 0) return writeSync(fd, buffer, offset, 1 + this.rng.int(length), position); // short
      if (r === 1) {
        this.injected++;
        const part = this.rng.int(length); // some bytes reach the disk, then it is full
        if (part > 0) writeSync(fd, buffer, offset, part, position);
        throw errno('ENOSPC');
      }
      if (r === 2) {
        this.injected++;
        throw errno('EIO');
      }
    }
    return writeSync(fd, buffer, offset, length, position);
  }

  fsyncSync(fd: number): void {
    if (this.armed && this.rng.int(8) === 0) {
      this.injected++;
      throw errno('EIO');
    }
    fsyncSync(fd);
  }

  ftruncateSync(fd: number, length: number): void {
    if (this.armed && this.rng.int(5) === 0) {
      this.injected++;
      throw errno('EIO');
    }
    ftruncateSync(fd, length);
  }
}

/** A stable text of a JS value (object keys sorted). */
function canon(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (v instanceof Map) return `Map{${[...v].map(([k, x]) => `${canon(k)}:${canon(x)}`).sort().join(',')}}`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return typeof v === 'bigint' ? `${v}n` : JSON.stringify(v) ?? 'undefined';
}

function randomChunk(rng: Rng): string {
  const k = `k${rng.int(12)}`;
  switch (rng.int(6)) {
    case 0:
      return `_home.${k} = ${rng.int(1000)}`;
    case 1:
      return `_home.${k} = ("${'abcdef'[rng.int(6)]}"):rep(${1 + rng.int(3000)})`;
    case 2:
      return `_home.${k} = { n = ${rng.int(100)}, list = { ${rng.int(9)}, ${rng.int(9)} }, s = "${rng.int(1e6)}" }`;
    case 3:
      return `_home.${k} = nil`;
    case 4:
      return `if type(_home.${k}) == "table" then _home.${k}.n = ${rng.int(100)} end`;
    default:
      return `for i = 1, ${1 + rng.int(20)} do _home["${k}_" .. i] = i * ${rng.int(50)} end`;
  }
}

it(`random saves under injected short writes, ENOSPC and EIO (${ROUNDS} rounds): no acknowledged save lost, never damaged`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lua-home-store-faults-'));
  const state = join(dir, 'state');
  const rng = new Rng(SEED + 17);
  let acknowledged = 0;
  let failed = 0;
  let injected = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const faults = new RandomFaults(rng);
      const store = new NodeFileStore(state, { fileOps: faults, compactAfter: 2048 + rng.int(8192) } as FileStoreInternals);
      const lua = await Lua.create({ store });
      let acked = canon(lua.home.toJS()); // what is on disk now
      let attempted: string[] = [];
      for (let op = 0; op < OPS; op++) {
        try {
          lua.compute(randomChunk(rng));
        } catch {
          // a chunk may fail (indexing a value that is not a table): the compute is undone
        }
        if (rng.int(3) !== 0) continue;
        const now = canon(lua.home.toJS());
        faults.armed = true;
        try {
          await lua.save();
          acked = now;
          attempted = [];
          acknowledged++;
        } catch {
          attempted.push(now);
          failed++;
        } finally {
          faults.armed = false;
        }
      }
      injected += faults.injected;
      await store.close();
      const check = new NodeFileStore(state);
      let loaded: string;
      try {
        loaded = canon((await Lua.create({ store: check })).home.toJS());
      } catch (e) {
        throw new Error(`round ${round} (seed ${SEED + 17}): the state does not load: ${String(e)}`);
      } finally {
        await check.close();
      }
      if (loaded !== acked && !attempted.includes(loaded)) {
        throw new Error(`round ${round} (seed ${SEED + 17}): the state is neither the last acknowledged save nor a later attempted one\n` +
          `loaded:       ${loaded.slice(0, 300)}\nacknowledged: ${acked.slice(0, 300)}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expect(acknowledged).toBeGreaterThan(0);
  expect(failed).toBeGreaterThan(0); // the faults did land
  console.log(`${ROUNDS} rounds: ${acknowledged} saves acknowledged, ${failed} refused, ${injected} faults injected`);
}, 120_000 * Math.max(1, SCALE));
