// Decompressing a VM image, bounded: its header is checked in the first bytes out, and
// decompression stops once the output is larger than any image of that size can be.
import { Reader, StateCorruptError } from './format.js';
import { MAX_FILE_BYTES } from './types.js';

export const IMAGE_MAGIC = 'LUAHOMEI';
export const IMAGE_VERSION = 2;
/** magic | u32 version | u64 build id | u32 memory size */
export const IMAGE_HEADER_BYTES = 28;
/** The VM's linear memory: 32 pages, never more (DESIGN.md). */
export const IMAGE_MAX_MEMORY = 32 * 65536;
/** Deflate's largest expansion: one input byte gives at most 1032 bytes out. */
const DEFLATE_MAX_RATIO = 1032;

/** The most an image of `compressed` bytes can hold uncompressed: header, memory, a state a store can read, CRC. */
export function imageSizeBound(compressed: number): number {
  return Math.min(IMAGE_HEADER_BYTES + IMAGE_MAX_MEMORY + MAX_FILE_BYTES + 4, DEFLATE_MAX_RATIO * compressed + 1024);
}

/** Refuses an image whose first bytes are not an image header of this format. */
function checkHeader(head: Uint8Array): void {
  const r = new Reader(head, 'the VM image');
  r.magic(IMAGE_MAGIC);
  const version = r.u32();
  if (version !== IMAGE_VERSION) r.fail(`image version ${version} (this build reads ${IMAGE_VERSION})`);
  r.u32();
  r.u32();
  const size = r.u32();
  if (size > IMAGE_MAX_MEMORY) r.fail(`memory of ${size} bytes (at most ${IMAGE_MAX_MEMORY})`);
}

/**
 * The decompressed bytes of an image. Damage (not gzip, a foreign header, more output than
 * `limit`) is StateCorruptError, found as early as the bytes allow.
 */
export async function inflateImage(image: Uint8Array, limit = imageSizeBound(image.length)): Promise<Uint8Array> {
  const fail = (why: string): never => {
    throw new StateCorruptError('the VM image', why);
  };
  const gzip = new Blob([image as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
  const reader = gzip.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let checked = false;
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (e) {
        return fail(`it does not decompress (${e instanceof Error ? e.message : String(e)})`);
      }
      if (next.done) break;
      chunks.push(next.value);
      total += next.value.length;
      if (total > limit) fail(`it decompresses to more than ${limit.toLocaleString('en')} bytes, more than an image of ${image.length} bytes can hold`);
      if (!checked && total >= IMAGE_MAGIC.length) {
        const head = concat(chunks, total); // a few bytes: the header comes out first
        chunks.length = 0;
        chunks.push(head);
        if (total < IMAGE_HEADER_BYTES) new Reader(head, 'the VM image').magic(IMAGE_MAGIC);
        else checkHeader(head.subarray(0, IMAGE_HEADER_BYTES));
        checked = total >= IMAGE_HEADER_BYTES;
      }
    }
  } catch (e) {
    reader.cancel().catch(() => undefined);
    throw e;
  }
  const bytes = concat(chunks, total);
  if (!checked) checkHeader(bytes);
  return bytes;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
