/**
 * What the prefetch window hands to the next volume when a tape fills (src/archive/prefetch.ts
 * `downloaded()`, issue 14): the blobs it holds whole and the writer has not finished, the head's
 * included; not a download still running, not a large blob whose response was only opened, not
 * a blob already written. The fetcher is an in-memory BlobFetcher (our own interface), whose
 * downloads end when the test lets them.
 */
import t from 'tap';
import { PrefetchWindow } from '../../src/archive/prefetch.js';
import { pushBlobStream } from '../../src/stream/blob-stream.js';
import type { Descriptor } from '../../src/oci/descriptor.js';

const blob = (n: number, size: number): Descriptor => ({ mediaType: 'application/octet-stream', digest: `sha256:${String(n).padStart(64, '0')}`, size });
const tick = () => new Promise((r) => setImmediate(r));

t.test('the head and the blobs downloaded whole ahead, nothing else', async (t) => {
  // Budget 4 MiB: blobs up to 1 MiB are held whole ahead; blob 4 (2 MiB) only opened.
  const blobs = [blob(0, 1000), blob(1, 2000), blob(2, 3000), blob(3, 4000), blob(4, 2 << 20)];
  const gates = new Map<string, () => void>();
  const fetcher = {
    async fetchBlob(desc: Descriptor) {
      return pushBlobStream(async (write) => {
        // Blob 3's body waits for the test: a download still running.
        if (desc === blobs[3]) await new Promise<void>((r) => gates.set(desc.digest, r));
        const wait = write(Buffer.alloc(desc.size, Number(desc.digest.slice(-1))));
        if (wait) await wait;
      });
    },
  };
  const window = new PrefetchWindow(blobs, fetcher, { requests: 8, bytes: 4 << 20 });
  t.teardown(() => window.close());
  const first = await window.take(0);
  await first.pipeTo(() => undefined);
  window.done(0);
  await window.take(1); // the head: taken, not done
  for (let i = 0; i < 10; i++) await tick();
  const got = [...window.downloaded()].map(([d, bytes]) => [blobs.indexOf(d), bytes.length]);
  t.same(got, [
    [1, 2000],
    [2, 3000],
  ], 'the head (1) and the blob downloaded whole ahead (2); not the one written (0), the running one (3) or the opened one (4)');
  t.ok([...window.downloaded()][0][1].every((b) => b === 1), 'the bytes as downloaded');
  gates.get(blobs[3].digest)!();
  for (let i = 0; i < 10; i++) await tick();
  t.same([...window.downloaded()].map(([d]) => blobs.indexOf(d)), [1, 2, 3], 'blob 3 once its download ended');
  window.close();
  t.same([...window.downloaded()], [], 'nothing once the window is closed');
});
