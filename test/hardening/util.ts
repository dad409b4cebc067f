// Shared by the hardening suites: a seeded generator, and how long each suite runs. `npm test`
// runs them briefly; `npm run fuzz` and `npm run soak` run them long through the same code.
export const SCALE = Number(process.env.LUA_HOME_FUZZ_SCALE ?? 1);
export const SEED = Number(process.env.LUA_HOME_FUZZ_SEED ?? 20261125);
export const SOAK_COMPUTES = Number(process.env.LUA_HOME_SOAK_COMPUTES ?? 20_000);

/** xorshift32: small, fast and reproducible. */
export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0 || 1;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return this.u32() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 255;
    return b;
  }
}

/** Runs f(rng, i) `n` times; a failure names the seed and iteration that reproduce it. */
export function repeat(n: number, seed: number, f: (rng: Rng, i: number) => void): void {
  const rng = new Rng(seed);
  for (let i = 0; i < n; i++) {
    const state = (rng as unknown as { s: number }).s;
    try {
      f(rng, i);
    } catch (e) {
      const err = e as Error;
      err.message = `iteration ${i} (seed ${seed}, generator state ${state}): ${err.message}`;
      throw err;
    }
  }
}
