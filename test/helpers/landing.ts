// A stand-in for the native ring's landing (src/source/types.ts Landing), for transport tests.
import type { BlobStream } from '../../src/source/types.js';

/**
 * Pipe with a landing, as the archive writer does with the native ring: views of one arena, taken
 * in order and wrapping like a ring. Counts the bytes that arrived in a view (no copy) and checks
 * that none arrived out of place and that no view reached past the body's end.
 */
export async function landed(stream: BlobStream, size: number): Promise<{ bytes: Buffer; landed: number; misplaced: number; overreach: number }> {
  const arena = Buffer.alloc(3 << 20);
  let head = 0;
  let received = 0;
  let inPlace = 0;
  let misplaced = 0;
  let overreach = 0;
  const chunks: Buffer[] = [];
  await stream.pipeTo(
    (c) => {
      if (c.buffer === arena.buffer) {
        if (c.byteOffset !== arena.byteOffset + head) misplaced++;
        head += c.length;
        inPlace += c.length;
      }
      received += c.length;
      chunks.push(Buffer.from(c));
      return undefined;
    },
    (max) => {
      if (max > size - received) overreach++;
      if (arena.length - head < 64 << 10) head = 0;
      return arena.subarray(head, head + Math.min(max, arena.length - head));
    },
  );
  return { bytes: Buffer.concat(chunks), landed: inPlace, misplaced, overreach };
}

