/**
 * Verify-then-push of one blob (src/deserialize/blob-push.ts): every path goes through
 * verifyingWriter, and a failure comes back as a Flaw (the engine's report), not an error.
 * The target is the in-memory one of fixtures.ts, which records any unverified commit.
 */
import t from 'tap';
import { hashVerified, readVerified, uploadBytes, uploadVerified } from '../../src/deserialize/blob-push.js';
import { chunked, digestOf, MemoryTarget } from './fixtures.js';

const data = Buffer.from('the bytes of a layer, '.repeat(50));
const desc = { mediaType: 'application/octet-stream', digest: digestOf(data), size: data.length };
const bad = Buffer.from(data);
bad[data.length - 1] ^= 1;

t.test('readVerified: the bytes, or what is wrong with them', async (t) => {
  const ok = await readVerified(desc, chunked(data, 97), 'ctx');
  if (ok.flaw) t.fail(`flaw ${ok.flaw.code}`);
  else t.same(Buffer.from(ok.bytes), data, 'the bytes, in order');
  t.same((await readVerified(desc, chunked(data.subarray(0, 500), 97), 'ctx')).flaw, { code: 'ESHORT', got: 500 });
  t.same((await readVerified(desc, chunked(Buffer.concat([data, Buffer.from('x')]), 97), 'ctx')).flaw, { code: 'ESIZE', got: data.length + 1 });
  t.same((await readVerified(desc, chunked(bad, 97), 'ctx')).flaw, { code: 'EDIGEST', got: data.length, actual: digestOf(bad) });
  const empty = Buffer.alloc(0);
  t.same((await readVerified({ ...desc, digest: digestOf(empty), size: 0 }, chunked(empty), 'ctx')).flaw, undefined, 'an empty blob is checked too');
  t.same((await readVerified({ ...desc, size: 0 }, chunked(empty), 'ctx')).flaw?.code, 'EDIGEST');
});

t.test('hashVerified: the same checks, nothing kept', async (t) => {
  t.equal(await hashVerified(desc, chunked(data, 1000), 'ctx'), undefined);
  t.equal((await hashVerified(desc, chunked(bad, 1000), 'ctx'))?.code, 'EDIGEST');
  t.same(await hashVerified(desc, chunked(data.subarray(0, 3), 1000), 'ctx'), { code: 'ESHORT', got: 3 });
});

t.test('uploadVerified: committed only when intact; a bad blob is cancelled and reported', async (t) => {
  const target = new MemoryTarget();
  t.equal(await uploadVerified(target, desc, chunked(data, 128), 'ctx'), undefined);
  t.ok(target.blobs.has(desc.digest), 'intact: committed');
  const other = new MemoryTarget();
  t.same(await uploadVerified(other, desc, chunked(bad, 128), 'ctx'), { code: 'EDIGEST', got: data.length, actual: digestOf(bad) });
  t.same(await uploadVerified(other, desc, chunked(data.subarray(0, 200), 128), 'ctx'), { code: 'ESHORT', got: 200 });
  t.equal(other.blobs.size, 0, 'nothing committed');
  t.same(other.violations, []);
});

t.test('uploadVerified: errors of the reader or the target are thrown, not reported as flaws', async (t) => {
  async function* broken() {
    yield data.subarray(0, 10);
    throw new Error('read error');
  }
  await t.rejects(uploadVerified(new MemoryTarget(), desc, broken(), 'ctx'), /read error/);
  const refusing = new MemoryTarget();
  refusing.pushBlob = async () => {
    throw new Error('registry down');
  };
  await t.rejects(uploadVerified(refusing, desc, chunked(data), 'ctx'), /registry down/);
  const lazy = new MemoryTarget();
  lazy.pushBlob = async () => undefined;
  await t.rejects(uploadVerified(lazy, desc, chunked(data), 'ctx'), { code: 'EINTERNAL' }, 'a target that never asks verify()');
});

t.test('uploadBytes: bytes verified earlier go up as they are', async (t) => {
  const target = new MemoryTarget();
  await uploadBytes(target, desc, data);
  t.ok(target.blobs.has(desc.digest));
});
