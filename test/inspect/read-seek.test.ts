/**
 * The seekable sources under `mirror inspect`: ByteReader hands a skip to the source's
 * skipAhead (no bytes delivered), and a file source moves its cursor without reading, never past
 * the end, reading again from where the skip ended.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ByteReader, type SeekableChunks } from '../../src/archive/read-bytes.js';
import { openSeekableSource } from '../../src/archive/read-seek.js';

t.test('ByteReader skips through skipAhead, after what it holds', async (t) => {
  const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256));
  let pos = 0;
  const asked: number[] = [];
  const src: SeekableChunks = {
    async *[Symbol.asyncIterator]() {
      while (pos < data.length) {
        const c = data.subarray(pos, pos + 100);
        pos += c.length;
        yield c;
      }
    },
    async skipAhead(n: number) {
      asked.push(n);
      const k = Math.min(n, data.length - pos);
      pos += k;
      return k;
    },
  };
  const br = new ByteReader(src);
  t.same([...(await br.read(10))], [...data.subarray(0, 10)]);
  t.equal(await br.skip(500), 500, 'skipped 500');
  t.same(asked, [410], 'the 90 bytes in hand, then 410 by the source');
  t.equal(br.offset, 510);
  t.same([...(await br.read(5))], [...data.subarray(510, 515)], 'reading resumes where the skip ended');
  t.equal(await br.skip(10_000), 485, 'a skip past the end stops at the end');
  t.equal(br.offset, 1000);
  t.ok(await br.atEnd());
});

t.test('a file source: positioned reads, skips that read nothing', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'f.bin');
  const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 251));
  writeFileSync(file, data);
  const src = await openSeekableSource(file);
  t.ok(src.seekable);
  const br = new ByteReader(src.chunks);
  t.same([...(await br.read(512))], [...data.subarray(0, 512)]);
  t.equal(await br.skip(200_000), 200_000);
  t.same([...(await br.read(512))], [...data.subarray(200_512, 201_024)]);
  t.equal(await br.skip(1_000_000), 300_000 - 201_024);
  await br.close();
  await src.close();
  const s = src.stats();
  t.equal(s.records, 2, 'two reads: one before the skip, one after');
  t.equal(s.bytes + s.skipped, 300_000, 'every byte read or skipped once');
  t.equal(s.bytes, 65536 + 4096, 'the first read is 64 KiB (the layout head), each read after a jump 4 KiB (a header and a little more)');
});
