// A VM image is checked as it decompresses: a foreign header is refused in the first bytes out,
// and output past what an image of that size can hold stops decompression (StateCorruptError),
// so a gzip bomb costs neither seconds nor gigabytes.
import { gzipSync } from 'node:zlib';
import { Lua, StateCorruptError } from '../../js/src/node';
import { IMAGE_HEADER_BYTES, IMAGE_VERSION, imageSizeBound, inflateImage } from '../../js/src/stores/image';

/** Counts the bytes every DecompressionStream gives out while `f` runs. */
async function countingInflated<T>(f: () => Promise<T>): Promise<{ result: T | unknown; inflated: number }> {
  const Real = globalThis.DecompressionStream;
  let inflated = 0;
  class Counting {
    readonly readable: ReadableStream<Uint8Array>;
    readonly writable: WritableStream<Uint8Array>;
    constructor(format: CompressionFormat) {
      const inner = new Real(format);
      this.writable = inner.writable as WritableStream<Uint8Array>;
      this.readable = (inner.readable as ReadableStream<Uint8Array>).pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, out) {
          inflated += chunk.length;
          out.enqueue(chunk);
        },
      }));
    }
  }
  globalThis.DecompressionStream = Counting as unknown as typeof DecompressionStream;
  try {
    const result = await f().catch((e: unknown) => e);
    return { result, inflated };
  } finally {
    globalThis.DecompressionStream = Real;
  }
}

/** `members` gzip members of 1 MiB of zeros each, one after the other (a valid gzip stream). */
function bomb(members: number): Uint8Array {
  const one = gzipSync(new Uint8Array(1 << 20), { level: 9 });
  const out = new Uint8Array(one.length * members);
  for (let i = 0; i < members; i++) out.set(one, i * one.length);
  return out;
}

it('a gzip bomb given as an image is refused after its first bytes', async () => {
  const image = bomb(200); // 200 MiB of zeros once decompressed
  const started = Date.now();
  const { result, inflated } = await countingInflated(() => Lua.create({ image }));
  expect(result).toBeInstanceOf(StateCorruptError);
  expect(String(result)).toMatch(/wrong magic bytes/);
  expect(inflated).toBeLessThan(4 << 20); // stopped at once, not after 200 MiB
  console.log(`refused in ${Date.now() - started} ms after ${inflated} bytes decompressed`);
});

it('decompression stops once the output passes the bound', async () => {
  const header = new Uint8Array(IMAGE_HEADER_BYTES);
  header.set(new TextEncoder().encode('LUAHOMEI'));
  header[8] = IMAGE_VERSION; // this build's version
  header[24] = 0; // memory size 0: passes the header check
  const body = new Uint8Array(8 << 20);
  body.set(header);
  const image = gzipSync(body);
  const { result, inflated } = await countingInflated(() => inflateImage(image, 1 << 20));
  expect(result).toBeInstanceOf(StateCorruptError);
  expect(String(result)).toMatch(/decompresses to more than 1,048,576 bytes/);
  expect(inflated).toBeLessThan(2 << 20);
});

it('the bound is what deflate can give at most, never less than a real image', async () => {
  const lua = await Lua.create();
  for (let i = 1; i <= 20; i++) lua.compute(`_home[${i}] = ("x"):rep(200000)`); // 4 MB compressing about 1000:1
  const image = await lua.saveImage();
  const inflated = await inflateImage(image);
  expect(inflated.length).toBeLessThanOrEqual(imageSizeBound(image.length));
  const back = await Lua.create({ image });
  expect(back.compute('local n = 0 for i = 1, #_home do n = n + #_home[i] end return n').value).toBe(4000000);
  expect(imageSizeBound(1)).toBeGreaterThanOrEqual(1032);
});
