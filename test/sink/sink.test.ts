import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSink, WriterError } from '../../src/sink/index.js';
import { UserError } from '../../src/errors.js';
import type { Sink } from '../../src/sink/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ace-dt-sink-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Feeds data in chunks of random sizes, awaiting backpressure as a producer must. */
async function feed(sink: Sink, data: Buffer, maxChunk: number, seed = 1): Promise<void> {
  let s = seed;
  for (let off = 0; off < data.length; ) {
    s = (s * 1103515245 + 12345) >>> 0;
    const n = Math.min(1 + (s % maxChunk), data.length - off);
    const p = sink.write(data.subarray(off, off + n));
    if (p) await p;
    off += n;
  }
}

t.test('round trips through rings from one block to many', async (t) => {
  const cases = [
    { blockSize: 1, bufferSize: 0, hwm: 90, size: 3000 },
    { blockSize: 512, bufferSize: 512, hwm: 100, size: 100_001 },
    { blockSize: 4096, bufferSize: 4096 * 3 + 1, hwm: 50, size: 1_000_000 },
    { blockSize: 65536, bufferSize: 1 << 20, hwm: 90, size: 5_000_017 },
    { blockSize: 1 << 20, bufferSize: 16 << 20, hwm: 10, size: 20_000_000 },
  ];
  for (const c of cases) {
    const data = crypto.randomBytes(c.size);
    const file = path.join(dir, `rt-${c.blockSize}`);
    const sink = await openSink(file, c);
    t.equal(sink.kind, 'file');
    await feed(sink, data, Math.max(2, c.blockSize * 3));
    const r = await sink.close();
    t.equal(r.written, c.size, `bs ${c.blockSize}: written`);
    t.equal(r.accepted, c.size, `bs ${c.blockSize}: accepted`);
    t.equal(r.records, Math.ceil(c.size / c.blockSize), `bs ${c.blockSize}: one record per block, the last short`);
    t.equal(r.fill, 0);
    t.ok(fs.readFileSync(file).equals(data), `bs ${c.blockSize}: file identical`);
  }
});

t.test('landing: bytes received into the ring are kept in place, mixed with copied chunks, across wraps', async (t) => {
  // A small ring (4 blocks, mark at half) wraps every few chunks; landing views end at its edge.
  const cases = [
    { blockSize: 4096, bufferSize: 4096 * 20, hwm: 50, size: 3_000_000, max: 70_000 },
    { blockSize: 65536, bufferSize: 1 << 20, hwm: 90, size: 9_000_001, max: 1 << 20 },
  ];
  for (const c of cases) {
    const data = crypto.randomBytes(c.size);
    const file = path.join(dir, `landing-${c.blockSize}`);
    const sink = await openSink(file, c);
    let landed = 0;
    let views = 0;
    let tooLong = 0;
    let deferred = 0;
    let s = 7;
    for (let off = 0; off < data.length; ) {
      s = (s * 1103515245 + 12345) >>> 0;
      const want = Math.min(1 + (s % c.max), data.length - off);
      let view = s % 3 ? sink.landing!(want) : undefined;
      if (!view && s % 3) {
        // The ring is full: as a socket would be, come back once the writer has made room.
        await new Promise((resolve) => setTimeout(resolve, 1));
        view = sink.landing!(want);
      }
      if (view) {
        views++;
        if (view.length > want) tooLong++;
        // As a socket does: fill part of the view, hand on that part.
        const n = Math.min(view.length, 1 + (s % view.length));
        data.copy(view, 0, off, off + n);
        if (sink.write(view.subarray(0, n)) !== undefined) deferred++;
        landed += n;
        off += n;
      } else {
        const p = sink.write(data.subarray(off, off + want));
        if (p) await p;
        off += want;
      }
    }
    const r = await sink.close();
    t.ok(views >= 5, `bs ${c.blockSize}: ${landed} of ${c.size} bytes landed in place, in ${views} views`);
    t.equal(tooLong, 0, 'no view longer than asked for');
    t.equal(deferred, 0, 'landed bytes are published at once');
    t.equal(r.accepted, c.size);
    t.ok(fs.readFileSync(file).equals(data), `bs ${c.blockSize}: file identical`);
  }
});

t.test('landing: at most what is asked, none for a sliver, and a stale view is refused', async (t) => {
  const file = path.join(dir, 'landing-rules');
  const sink = await openSink(file, { blockSize: 4096, bufferSize: 4096 * 32, hwm: 100 });
  t.equal(sink.landing!(1 << 20)?.length, 4096 * 32, 'the whole free ring, when asked for more');
  t.equal(sink.landing!(100)?.length, 100, 'at most max');
  // A view handed out, then something else written: its bytes would be in the wrong place.
  const view = sink.landing!(1000)!;
  view.fill(0x55);
  const a = crypto.randomBytes(3000);
  t.equal(sink.write(a), undefined);
  t.throws(() => sink.write(view.subarray(0, 10)), { code: 'EINTERNAL' }, 'refused, not committed');
  const b = sink.landing!(500)!;
  a.copy(b, 0, 0, 500);
  t.equal(sink.write(b), undefined, 'a fresh view is fine');
  await sink.close();
  t.ok(fs.readFileSync(file).equals(Buffer.concat([a, a.subarray(0, 500)])), 'only the real bytes reached the file');
  const small = await openSink(path.join(dir, 'landing-small'), { blockSize: 512, bufferSize: 16384, hwm: 90 });
  t.equal(small.landing!(1 << 20), undefined, 'less free space than a worthwhile read: none');
  t.equal(small.landing!(1000)?.length, 1000, 'but enough for a small remainder');
  await small.close();
});

t.test('an empty input creates an empty file and writes nothing', async (t) => {
  const file = path.join(dir, 'empty');
  fs.writeFileSync(file, 'old content');
  const sink = await openSink(file, { blockSize: 1024, bufferSize: 4096, hwm: 90 });
  const r = await sink.close();
  t.equal(r.records, 0);
  t.equal(fs.statSync(file).size, 0, 'truncated');
});

t.test('truncateTo resumes a file at that length', async (t) => {
  const file = path.join(dir, 'resume');
  fs.writeFileSync(file, Buffer.from('0123456789abcdef'));
  const sink = await openSink(file, { blockSize: 4, bufferSize: 8, hwm: 100, truncateTo: 10 });
  await sink.write(Buffer.from('XYZ'));
  await sink.close();
  t.equal(fs.readFileSync(file, 'latin1'), '0123456789XYZ');
  await t.rejects(openSink(file, { blockSize: 4, bufferSize: 8, hwm: 100, truncateTo: 100 }), { code: 'ESHORT' });
  await t.rejects(openSink(path.join(dir, 'nope'), { blockSize: 4, bufferSize: 8, hwm: 100, truncateTo: 1 }), UserError);
});

t.test('a new file gets mode 0666 & ~umask', async (t) => {
  const file = path.join(dir, 'mode');
  const sink = await openSink(file, { blockSize: 4, bufferSize: 8, hwm: 100 });
  await sink.close();
  const umask = process.umask();
  t.equal(fs.statSync(file).mode & 0o777, 0o666 & ~umask);
});

t.test('destinations that cannot be opened give a UserError naming the path', async (t) => {
  const opts = { blockSize: 512, bufferSize: 512, hwm: 90 };
  await t.rejects(openSink(path.join(dir, 'no', 'such', 'dir', 'f'), opts), { code: 'ENOENT', message: /no\/such\/dir\/f/ });
  await t.rejects(openSink(dir, opts), { code: 'EISDIR', message: new RegExp(dir) });
  if (process.getuid?.() !== 0) {
    const ro = path.join(dir, 'ro');
    fs.writeFileSync(ro, '');
    fs.chmodSync(ro, 0o444);
    await t.rejects(openSink(ro, opts), { code: 'EACCES' });
  }
  await t.rejects(openSink(path.join(dir, 'x'), { blockSize: 0, bufferSize: 1, hwm: 90 }), UserError);
  await t.rejects(openSink(path.join(dir, 'x'), { blockSize: 1 << 20, bufferSize: 2 ** 52, hwm: 90 }), { code: 'ERINGSIZE', message: /smaller --buffer-size/ });
  await t.rejects(openSink(path.join(dir, 'x'), { blockSize: 1, bufferSize: 1, hwm: 0 }), UserError);
});

t.test('/dev/full: ENOSPC rejects the next write and close, no hang', async (t) => {
  const sink = await openSink('/dev/full', { blockSize: 4096, bufferSize: 16384, hwm: 50 });
  t.equal(sink.kind, 'other');
  const data = crypto.randomBytes(100_000);
  let caught: unknown;
  try {
    await feed(sink, data, 10_000);
    await sink.close();
  } catch (e) {
    caught = e;
  }
  t.type(caught, WriterError);
  const err = caught as WriterError;
  t.equal(err.code, 'ENOSPC');
  t.equal(err.syscall, 'write');
  t.equal(err.offset, 0, 'nothing reached /dev/full');
  t.equal(err.endOfMedium, false);
  const again = sink.write(Buffer.alloc(1));
  await t.rejects(again!, { code: 'ENOSPC' }, 'the error sticks');
  const r = await sink.abort();
  t.equal(r.written, 0);
  // The result carries the sticky error (the instance thrown may be an earlier one, depending
  // on whether write() or close() saw it first).
  t.match(r.error, { code: 'ENOSPC', syscall: 'write', offset: 0 });
  await t.rejects(sink.close(), { code: 'ENOSPC' });
});

