/**
 * verifyingWriter: the push-side verifier serialize puts between a blob's stream and the ring.
 * The chunk that completes a blob must not reach the sink unless the digest matches.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { digestBytes, verifyBytes, verifyingWriter } from '../../src/oci/verify.js';

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const data = Buffer.from('0123456789abcdefghij');
const desc = { mediaType: 'application/octet-stream', digest: sha(data), size: data.length };

function run(d: typeof desc, chunks: Buffer[]) {
  const got: Buffer[] = [];
  const v = verifyingWriter(d, 'test', (c) => void got.push(Buffer.from(c)));
  let error: (Error & { code?: string }) | undefined;
  try {
    for (const c of chunks) v.write(c);
    v.end();
  } catch (e) {
    error = e as Error;
  }
  return { got: Buffer.concat(got), error };
}

t.test('right content in pieces: every chunk passes, in order', async (t) => {
  const r = run(desc, [data.subarray(0, 3), data.subarray(3, 4), data.subarray(4)]);
  t.equal(r.error, undefined);
  t.same(r.got, data);
});

t.test('wrong digest: the completing chunk is held back, EDIGEST names both digests', async (t) => {
  const bad = Buffer.from(data);
  bad[19] ^= 1;
  const r = run(desc, [bad.subarray(0, 10), bad.subarray(10)]);
  t.equal(r.error?.code, 'EDIGEST');
  t.match(r.error?.message, new RegExp(`digest mismatch for ${desc.digest}: content of 20 bytes hashes to ${sha(bad)}`));
  t.equal((r.error as { actual?: string }).actual, sha(bad), 'the actual digest is a field, not only words (reports name it)');
  t.equal(r.got.length, 10, 'only the first chunk reached the sink');
});

t.test('trailing data: ESIZE before the chunk passes', async (t) => {
  const r = run(desc, [data, Buffer.from('x')]);
  t.equal(r.error?.code, 'ESIZE');
  t.equal(r.got.length, 20);
  const joined = run(desc, [Buffer.concat([data, Buffer.from('x')])]);
  t.equal(joined.error?.code, 'ESIZE');
  t.equal(joined.got.length, 0, 'a chunk that runs past the size never reaches the sink');
});

t.test('short: ESHORT at the end', async (t) => {
  const r = run(desc, [data.subarray(0, 5)]);
  t.equal(r.error?.code, 'ESHORT');
  t.match(r.error?.message, /ended after 5 of 20 bytes/);
});

t.test('an empty blob is checked too', async (t) => {
  const empty = { ...desc, digest: sha(Buffer.alloc(0)), size: 0 };
  t.equal(run(empty, []).error, undefined);
  t.equal(run({ ...empty, digest: desc.digest }, []).error?.code, 'EDIGEST', 'size 0 with a digest that is not the empty content');
});

t.test("the sink's backpressure promise is passed back to the producer", async (t) => {
  let release!: () => void;
  const wait = new Promise<void>((r) => (release = r));
  const v = verifyingWriter(desc, 'test', () => wait);
  t.equal(v.write(data), wait);
  release();
});

t.test('digestBytes: known digests; a string is hashed as its UTF-8 bytes', async (t) => {
  t.equal(digestBytes('sha256', Buffer.from('abc')), 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'FIPS 180-2 "abc"');
  t.equal(digestBytes('sha256', new Uint8Array(0)), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  t.equal(digestBytes('sha512', 'abc'), 'sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f');
  t.equal(digestBytes('sha256', 'é'), digestBytes('sha256', Buffer.from([0xc3, 0xa9])));
});

t.test('verifyBytes: size first, then digest, each with its code', async (t) => {
  await verifyBytes(desc, data, 'test');
  await t.rejects(verifyBytes(desc, data.subarray(1), 'ctx'), { code: 'ESIZE', message: /^ctx: manifest sha256:\w+ is 19 bytes, its descriptor says 20$/ });
  const bad = Buffer.from(data);
  bad[0] ^= 1;
  await t.rejects(verifyBytes(desc, bad, 'ctx'), { code: 'EDIGEST', message: `ctx: digest mismatch for manifest ${desc.digest}: content hashes to ${sha(bad)}` });
});
