/**
 * The prefetch window reuses the buffers of blobs downloaded whole (src/archive/prefetch.ts,
 * SpareBuffers, issue 11): a blob's buffer is taken again only once the writer is done with the
 * blob, never while its bytes are lent to the writer, and never when they were handed over (an
 * iterated stream, the blobs given to the next volume). The fetcher is an in-memory BlobFetcher
 * (our own interface).
 */
import t from 'tap';
import { PrefetchWindow } from '../../src/archive/prefetch.js';
import { pushBlobStream } from '../../src/stream/blob-stream.js';
import type { Descriptor } from '../../src/oci/descriptor.js';

const blob = (n: number, size: number): Descriptor => ({ mediaType: 'application/octet-stream', digest: `sha256:${String(n).padStart(64, '0')}`, size });
const fill = (d: Descriptor) => Number(d.digest.slice(-2)) + 1;
const fetcher = {
  async fetchBlob(desc: Descriptor) {
    return pushBlobStream(async (write) => {
      const wait = write(Buffer.alloc(desc.size, fill(desc)));
      if (wait) await wait;
    });
  },
};
const tick = () => new Promise((r) => setImmediate(r));

t.test('each blob arrives whole and right while buffers go round', async (t) => {
  // Sizes that differ a little share buffers (one size class, 5,120 bytes); the head streams,
  // the rest are held whole, a dozen at a time (the budget), so buffers must go round.
  const blobs = Array.from({ length: 60 }, (_, i) => blob(i, 5000 + ((i * 37) % 100)));
  const window = new PrefetchWindow(blobs, fetcher, { requests: 4, bytes: 64 << 10 });
  t.teardown(() => window.close());
  // A blob held whole lies in a spare buffer (a size class long); one the writer waited for
  // streams from the fetcher's own buffer (its exact size).
  const spares = new Set<ArrayBufferLike>();
  let held = 0;
  let lent = 0;
  for (let i = 0; i < blobs.length; i++) {
    const stream = await window.take(i);
    const parts: Buffer[] = [];
    await stream.pipeTo((chunk) => {
      parts.push(Buffer.from(chunk)); // lent: copied, as the sink does
      if (chunk.buffer.byteLength !== blobs[i].size) {
        spares.add(chunk.buffer);
        held++;
      }
      lent++;
      // A lent chunk stays untouched while the writer waits on it.
      return tick().then(() => t.equal(chunk.every((b) => b === fill(blobs[i])), true));
    });
    const got = Buffer.concat(parts);
    t.equal(got.length, blobs[i].size, `blob ${i}: its size`);
    t.ok(got.every((b) => b === fill(blobs[i])), `blob ${i}: its bytes`);
    window.done(i);
  }
  t.equal(lent, blobs.length, 'one chunk per blob');
  t.ok(held >= 10 && spares.size < held / 2, `buffers reused (${spares.size} for ${held} blobs held whole)`);
});

t.test('bytes handed over are not reused', async (t) => {
  const blobs = Array.from({ length: 20 }, (_, i) => blob(i, 4096));
  const window = new PrefetchWindow(blobs, fetcher, { requests: 4, bytes: 1 << 20 });
  t.teardown(() => window.close());
  const kept: [number, Uint8Array][] = [];
  for (let i = 0; i < blobs.length; i++) {
    const stream = await window.take(i);
    if (i % 3 === 1) {
      // Iterated: each chunk handed over, kept by the consumer.
      for await (const chunk of stream) kept.push([i, chunk]);
    } else {
      await stream.pipeTo(() => undefined);
    }
    window.done(i);
    for (let k = 0; k < 3; k++) await tick();
  }
  t.ok(kept.length > 0);
  for (const [i, chunk] of kept) t.ok(chunk.every((b) => b === fill(blobs[i])), `blob ${i} as handed over`);

  // The blobs given to the next volume keep their bytes after the window is closed.
  const w2 = new PrefetchWindow(blobs, fetcher, { requests: 8, bytes: 1 << 20 });
  t.teardown(() => w2.close());
  await (await w2.take(0)).pipeTo(() => undefined);
  w2.done(0);
  await w2.take(1);
  for (let k = 0; k < 10; k++) await tick();
  const given = [...w2.downloaded()];
  t.ok(given.length > 1, `${given.length} blobs held whole`);
  w2.close();
  for (const [d, bytes] of given) t.ok(bytes.every((b) => b === fill(d)), `${d.digest.slice(-2)}: intact`);
});
