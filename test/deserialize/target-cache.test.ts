/** The target's existence cache (src/deserialize/target-cache.ts): one HEAD per digest and question. */
import t from 'tap';
import { TargetCache } from '../../src/deserialize/target-cache.js';
import type { Descriptor } from '../../src/oci/descriptor.js';

const d: Descriptor = { mediaType: 'application/octet-stream', digest: 'sha256:' + 'a'.repeat(64), size: 3 };

function counting(answer: (kind: string) => Promise<boolean>) {
  const asked: string[] = [];
  return {
    asked,
    target: {
      blobExists: (x: Descriptor) => (asked.push(`blob ${x.digest}`), answer('blob')),
      manifestExists: (x: Descriptor) => (asked.push(`manifest ${x.digest}`), answer('manifest')),
    },
  };
}

t.test('asked once per digest; concurrent askers share the request; blobs and manifests apart', async (t) => {
  const { asked, target } = counting(async (kind) => kind === 'blob');
  const c = new TargetCache(target);
  t.same(await Promise.all([c.blobExists(d), c.blobExists(d)]), [true, true]);
  t.equal(await c.manifestExists(d), false, 'a blob of that digest is not a manifest');
  t.equal(await c.manifestExists(d), false);
  t.same(asked, [`blob ${d.digest}`, `manifest ${d.digest}`]);
});

t.test('a failed request is forgotten; landed blobs need no request', async (t) => {
  let fail = true;
  const { asked, target } = counting(async () => {
    if (fail) throw new Error('HEAD failed');
    return false;
  });
  const c = new TargetCache(target);
  await t.rejects(c.blobExists(d), /HEAD failed/);
  fail = false;
  t.equal(await c.blobExists(d), false, 'asked again');
  c.landed(d);
  t.equal(await c.blobExists(d), true);
  t.equal(asked.length, 2);
});
