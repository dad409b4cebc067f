// A VM's _home and its image in one directory (Node): a NodeFileStore, plus the file `image`
// beside its journal, so that LuaPool can evict a VM to disk and resume it exactly.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FileStoreOptions, NodeFileStore, StoreWriteError } from './file.js';
import { ChangeBatch, SaveOptions, Store, TablesState } from './types.js';

const IMAGE = 'image';

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The tables are a NodeFileStore in `dir` (its lock keeps other processes out); the image is the
 * file `dir/image`, and it is never older than the tables: every save removes it (durably)
 * before the tables change, and a save with an image writes the new one (a temporary file,
 * fsync, rename, fsync of the directory) after them. A crash at any point leaves either no image
 * or the image of the last save.
 */
export class FileVmStore implements Store {
  readonly tables: NodeFileStore;
  private opened = false; // the NodeFileStore was loaded: we hold its lock
  private preloaded: { state: TablesState | undefined } | undefined;

  constructor(readonly dir: string, options: FileStoreOptions = {}) {
    this.tables = new NodeFileStore(dir, options);
  }

  async load(): Promise<TablesState | undefined> {
    const pre = this.preloaded;
    this.preloaded = undefined;
    if (pre) return pre.state; // loaded by loadImage() a moment ago, under the lock we still hold
    const state = await this.tables.load();
    this.opened = true;
    return state;
  }

  /** The image of the last save, or undefined when it had none. Takes the lock (and verifies the tables) first. */
  async loadImage(): Promise<Uint8Array | undefined> {
    const state = await this.tables.load();
    this.opened = true;
    const path = join(this.dir, IMAGE);
    if (existsSync(path)) return new Uint8Array(readFileSync(path)); // the image holds the tables: load() is not needed
    this.preloaded = { state };
    return undefined;
  }

  async save(batch: ChangeBatch, options: SaveOptions = {}): Promise<void> {
    if (!this.opened) await this.load();
    this.preloaded = undefined;
    const path = join(this.dir, IMAGE);
    if (existsSync(path)) {
      try {
        rmSync(path);
        fsyncDir(this.dir); // gone for good before the tables move past it
      } catch (e) {
        throw new StoreWriteError(`removing ${path}`, e);
      }
    }
    await this.tables.save(batch);
    if (options.image) this.writeImage(path, options.image);
  }

  private writeImage(path: string, image: Uint8Array): void {
    const tmp = `${path}.tmp`;
    try {
      const fd = openSync(tmp, 'w');
      try {
        let done = 0;
        while (done < image.length) done += writeSync(fd, image, done, image.length - done);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
      fsyncDir(this.dir);
    } catch (e) {
      try {
        rmSync(tmp, { force: true });
      } catch {
        // not a file we can remove (a directory in the way): the next attempt fails the same way
      }
      throw new StoreWriteError(`writing ${path}`, e);
    }
  }

  async close(): Promise<void> {
    this.preloaded = undefined;
    this.opened = false;
    await this.tables.close();
  }
}
