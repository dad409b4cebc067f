// LuaPool: many VMs by id in one process. At most `maxLive` are live (least recently used out
// first); an evicted VM is saved to its store with a VM image (its _home and its globals) and
// freed, and resumes exactly on its next use. Work on one id runs in order; ids run independently.
import { ComputeResult, Lua, LuaOptions } from '../vm/lua.js';
import { Store } from '../stores/types.js';

/** A store that keeps a VM image beside the tables: `save(batch, { image })` and `loadImage()`. */
export interface VmStore extends Store {
  /** The image saved with the last save, or undefined when that save had none. */
  loadImage(): Promise<Uint8Array | undefined>;
}

export interface LuaPoolOptions extends Omit<LuaOptions, 'store' | 'state' | 'image' | 'autosave'> {
  /** The store of a VM by its id (PostgresStore, FileVmStore, or any VmStore); opened on load, closed on eviction. */
  store: (id: string) => VmStore | Promise<VmStore>;
  /** How many VMs may be live at once (an integer ≥ 1). */
  maxLive: number;
  /**
   * When `_home` is saved: `'compute'` (default) after every compute that changed it, before the
   * compute resolves, so a resolved compute is durable; `'evict'` only at eviction and close().
   * Globals are saved (in the image) at eviction and close() in both.
   */
  saveAfter?: 'compute' | 'evict';
  /** Told of an eviction that failed (the VM stays live, nothing is lost; it is tried again later). */
  onEvictError?: (id: string, error: unknown) => void;
}

/** Options of one task on a VM. */
export interface PoolTaskOptions {
  /** A time (`Date.now()` ms) by which the task must have started; past it, it fails with PoolTimeoutError and never runs. */
  deadline?: number;
}

export interface LuaPoolStats {
  /** VMs live now (loading ones included). */
  live: number;
  maxLive: number;
  /** Evictions done (VMs saved with their image and freed). */
  evicted: number;
  /** Evictions that failed (the VM was kept live). */
  evictErrors: number;
  /** VMs loaded from their stores. */
  loads: number;
  /** Saves done (after computes and at evictions). */
  saves: number;
  /** Saves that failed. */
  saveErrors: number;
  loadMsTotal: number;
  loadMsMean: number;
  saveMsTotal: number;
  saveMsMean: number;
}

/** A task that could not start before its deadline (it was waiting behind others on its VM, or for a load). */
export class PoolTimeoutError extends Error {
  constructor(readonly id: string) {
    super(`VM '${id}': the request did not start before its deadline (nothing of it ran)`);
    this.name = 'PoolTimeoutError';
  }
}

/** The pool was closed. */
export class PoolClosedError extends Error {
  constructor() {
    super('this LuaPool is closed');
    this.name = 'PoolClosedError';
  }
}

interface Entry {
  readonly id: string;
  lua: Lua | undefined;
  store: VmStore | undefined;
  tail: Promise<unknown>; // the end of the id's queue
  pending: number; // tasks queued or running
  loading: boolean;
  evicting: boolean;
  touched: boolean; // something ran since the VM was loaded or saved with its image
}

const noop = () => undefined;

export class LuaPool {
  private readonly options: LuaPoolOptions;
  private readonly vmOptions: LuaOptions;
  private readonly saveAfter: 'compute' | 'evict';
  // Every id with a live VM or queued work, least recently used first.
  private readonly entries = new Map<string, Entry>();
  private occupied = 0; // live or loading
  private trimming = false;
  private closed = false;
  private readonly counts = { evicted: 0, evictErrors: 0, loads: 0, saves: 0, saveErrors: 0, loadMs: 0, saveMs: 0 };

  private constructor(options: LuaPoolOptions) {
    this.options = options;
    const { store: _store, maxLive: _maxLive, saveAfter, onEvictError: _onEvictError, ...vm } = options;
    this.vmOptions = vm;
    this.saveAfter = saveAfter ?? 'compute';
  }

  /** A pool (no VM is loaded before its first use). */
  static create(options: LuaPoolOptions): LuaPool {
    if (typeof options !== 'object' || options === null) throw new TypeError('LuaPool.create needs options: { store, maxLive }');
    if (typeof options.store !== 'function') throw new TypeError('LuaPool.create: option \'store\' must be a function from a VM id to its store');
    if (!Number.isInteger(options.maxLive) || options.maxLive < 1) {
      throw new RangeError(`LuaPool.create: option 'maxLive' must be an integer ≥ 1, got ${String(options.maxLive)}`);
    }
    if (options.saveAfter !== undefined && options.saveAfter !== 'compute' && options.saveAfter !== 'evict') {
      throw new TypeError(`LuaPool.create: option 'saveAfter' must be 'compute' or 'evict', got ${String(options.saveAfter)}`);
    }
    return new LuaPool(options);
  }

  /** Runs `code` on VM `id` (loading it first when it is not live), after the work queued on that id before it. */
  compute(id: string, code: string | Uint8Array, ...args: unknown[]): Promise<ComputeResult> {
    return this.use(id, (lua) => lua.compute(code, ...args));
  }

  /** As compute, for code that awaits asynchronous host functions (the pool's `functions`): Lua.computeAsync. */
  computeAsync(id: string, code: string | Uint8Array, ...args: unknown[]): Promise<ComputeResult> {
    return this.use(id, (lua) => lua.computeAsync(code, ...args));
  }

  /**
   * Runs `task` with the live VM of `id`, in the id's queue (so nothing else runs on that VM
   * meanwhile). With `saveAfter: 'compute'`, what the task changed in `_home` is saved before
   * the promise resolves; a failed save rejects it, and the VM is dropped (not saved) to be
   * loaded again from what its store holds.
   */
  use<T>(id: string, task: (lua: Lua) => T | Promise<T>, options: PoolTaskOptions = {}): Promise<T> {
    if (this.closed) return Promise.reject(new PoolClosedError());
    if (typeof id !== 'string' || id === '') return Promise.reject(new TypeError('a VM id must be a non-empty string'));
    const e = this.entry(id);
    return this.enqueue(e, async () => {
      const late = () => options.deadline !== undefined && Date.now() > options.deadline;
      if (late()) throw new PoolTimeoutError(id);
      const lua = await this.live(e);
      if (late()) throw new PoolTimeoutError(id);
      e.touched = true;
      let result: T;
      try {
        result = await task(lua);
      } catch (err) {
        if (lua.isClosed) await this.drop(e); // the VM broke: load it again next time
        else await this.saveAfterTask(e, lua).catch(noop); // a failed compute changed nothing; a task may have
        throw err;
      }
      await this.saveAfterTask(e, lua);
      return result;
    });
  }

  private async saveAfterTask(e: Entry, lua: Lua): Promise<void> {
    if (this.saveAfter !== 'compute' || lua.isClosed || !lua.host.hasChanges) return;
    try {
      await this.timedSave(() => lua.save());
    } catch (err) {
      await this.drop(e); // not acknowledged: the VM goes back to what its store holds
      throw err;
    }
  }

  /** Saves VM `id` with its image and frees it (after the work queued on it). False when it was not live. */
  async evict(id: string): Promise<boolean> {
    const e = this.entries.get(id);
    if (!e) return false;
    return this.evictEntry(e);
  }

  /** Whether VM `id` is live in this pool now. */
  isLive(id: string): boolean {
    return this.entries.get(id)?.lua !== undefined;
  }

  stats(): LuaPoolStats {
    const c = this.counts;
    return {
      live: this.occupied,
      maxLive: this.options.maxLive,
      evicted: c.evicted,
      evictErrors: c.evictErrors,
      loads: c.loads,
      saves: c.saves,
      saveErrors: c.saveErrors,
      loadMsTotal: c.loadMs,
      loadMsMean: c.loads ? c.loadMs / c.loads : 0,
      saveMsTotal: c.saveMs,
      saveMsMean: c.saves ? c.saveMs / c.saves : 0,
    };
  }

  /**
   * Waits for the work queued, then saves every live VM with its image and closes it. New work
   * is refused from the start. When some VM could not be saved, it stays live and close()
   * rejects (an AggregateError of the failures): call it again to retry.
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.entries.values()].map((e) => e.tail));
    const failed: unknown[] = [];
    // One at a time: an image is 2 MiB of memory to copy and compress, and saving them all at
    // once would hold them all at once.
    for (const e of [...this.entries.values()]) await this.evictEntry(e).catch((err) => failed.push(err));
    if (failed.length) throw new AggregateError(failed, `LuaPool.close: ${failed.length} VM(s) could not be saved and stay live`);
  }

  // {====== queues

  /** The entry of `id`, made the most recently used. */
  private entry(id: string): Entry {
    let e = this.entries.get(id);
    if (e) this.entries.delete(id);
    else e = { id, lua: undefined, store: undefined, tail: Promise.resolve(), pending: 0, loading: false, evicting: false, touched: false };
    this.entries.set(id, e);
    return e;
  }

  private enqueue<T>(e: Entry, task: () => Promise<T>): Promise<T> {
    e.pending++;
    const run = async () => {
      try {
        return await task();
      } finally {
        e.pending--;
        this.settled(e);
      }
    };
    const p = e.tail.then(run, run);
    e.tail = p.then(noop, noop);
    return p;
  }

  private settled(e: Entry): void {
    if (e.pending === 0 && e.lua === undefined && !e.loading && this.entries.get(e.id) === e) this.entries.delete(e.id);
    if (this.occupied > this.options.maxLive) this.trim();
  }

  // Live VMs beyond maxLive (loaded while every other one was busy) are evicted once idle.
  private trim(): void {
    if (this.trimming || this.closed) return;
    this.trimming = true;
    void this.makeRoom(undefined).finally(() => (this.trimming = false));
  }

  // }======

  // {====== loading and eviction

  private async live(e: Entry): Promise<Lua> {
    if (e.lua) return e.lua;
    e.loading = true;
    this.occupied++;
    try {
      await this.makeRoom(e);
      const started = performance.now();
      const store = await this.options.store(e.id);
      if (typeof store?.loadImage !== 'function' || typeof store.save !== 'function') {
        throw new TypeError(`LuaPool: the store of VM '${e.id}' keeps no images (it needs loadImage() and save(batch, { image })): ` +
          'use PostgresStore or FileVmStore');
      }
      let lua: Lua;
      try {
        const image = await store.loadImage();
        lua = await Lua.create({ ...this.vmOptions, store, image });
      } catch (err) {
        await store.close().catch(noop);
        throw err;
      }
      this.counts.loads++;
      this.counts.loadMs += performance.now() - started;
      e.lua = lua;
      e.store = store;
      e.touched = false;
      return lua;
    } catch (err) {
      this.occupied--;
      throw err;
    } finally {
      e.loading = false;
    }
  }

  /** Evicts idle VMs, least recently used first, until at most maxLive are live (or none is idle). */
  private async makeRoom(except: Entry | undefined): Promise<void> {
    const tried = new Set<Entry>();
    while (this.occupied > this.options.maxLive) {
      let victim: Entry | undefined;
      for (const e of this.entries.values()) {
        if (e !== except && e.lua && !e.evicting && e.pending === 0 && !tried.has(e)) {
          victim = e;
          break;
        }
      }
      if (!victim) return; // every live VM is busy: over the limit until they are done (trim)
      tried.add(victim);
      await this.evictEntry(victim).catch(noop); // reported; the VM stays live
    }
  }

  private evictEntry(e: Entry): Promise<boolean> {
    e.evicting = true;
    return this.enqueue(e, async () => {
      try {
        const lua = e.lua;
        if (!lua) return false;
        if (e.touched || lua.host.hasChanges) await this.timedSave(() => lua.saveWithImage());
        e.touched = false;
        await this.free(e);
        this.counts.evicted++;
        return true;
      } catch (err) {
        this.counts.evictErrors++;
        // Another process owns the VM now (PostgresStore): what this one holds can never be saved.
        if ((err as Error)?.name === 'LeaseLostError') await this.drop(e);
        else if (this.entries.get(e.id) === e) this.entry(e.id); // tried last next time
        this.options.onEvictError?.(e.id, err);
        throw err;
      } finally {
        e.evicting = false;
      }
    });
  }

  // Closes the VM and its store (the store gives its lease back), without saving.
  private async free(e: Entry): Promise<void> {
    const { lua, store } = e;
    if (!lua) return;
    lua.close();
    e.lua = undefined;
    e.store = undefined;
    this.occupied--;
    await store?.close().catch(noop);
  }

  // A VM whose state cannot be trusted to be saved (its save failed, or it broke): freed unsaved.
  private async drop(e: Entry): Promise<void> {
    await this.free(e);
  }

  private async timedSave(save: () => Promise<void>): Promise<void> {
    const started = performance.now();
    try {
      await save();
    } catch (err) {
      this.counts.saveErrors++;
      throw err;
    }
    this.counts.saves++;
    this.counts.saveMs += performance.now() - started;
  }

  // }======
}
