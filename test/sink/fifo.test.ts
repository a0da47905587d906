/**
 * The high-water mark seen from the other end of a FIFO: nothing arrives before the ring holds
 * --hwm percent of its blocks, then blocks arrive until the ring is empty; the short last block
 * only at close.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSink, SinkAbortedError } from '../../src/sink/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ace-dt-fifo-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Everything readable from a non-blocking descriptor right now. */
function drain(fd: number): Buffer {
  const parts: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    try {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      parts.push(Buffer.from(buf.subarray(0, n)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
      throw e;
    }
  }
  return Buffer.concat(parts);
}

/** A FIFO with a non-blocking reader opened first, so that the writer's open does not wait. */
function fifoWithReader(t: Test, name: string): { fifo: string; reader: number } {
  const fifo = path.join(dir, name);
  execFileSync('mkfifo', [fifo]);
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  t.teardown(() => fs.closeSync(reader));
  return { fifo, reader };
}

t.test('nothing reaches the FIFO before the high-water mark', async (t) => {
  const { fifo, reader } = fifoWithReader(t, 'hwm');
  // 10 blocks of 1000 bytes, hwm 45% -> ceil(4500/1000) = 5 blocks.
  const sink = await openSink(fifo, { blockSize: 1000, bufferSize: 10_000, hwm: 45 });
  t.equal(sink.kind, 'pipe');
  const data = crypto.randomBytes(7_500);
  t.equal(sink.write(data.subarray(0, 4_999)), undefined, 'fits in the ring');
  await sleep(300);
  t.equal(drain(reader).length, 0, 'one byte short of the mark: nothing arrived');
  t.equal(sink.stats().written, 0);
  t.equal(sink.stats().fill, 4_999);

  t.equal(sink.write(data.subarray(4_999, 5_000)), undefined);
  let got = Buffer.alloc(0);
  for (let i = 0; i < 500 && got.length < 5_000; i++) {
    await sleep(10);
    got = Buffer.concat([got, drain(reader)]);
  }
  t.equal(got.length, 5_000, 'at the mark the five full blocks arrive');
  t.ok(got.equals(data.subarray(0, 5_000)));

  // Below the mark again: the writer went idle after the ring ran dry (one underrun).
  t.equal(sink.write(data.subarray(5_000, 7_500)), undefined);
  await sleep(200);
  t.equal(drain(reader).length, 0, 'refilled below the mark: nothing arrives');
  t.equal(sink.stats().underruns, 1);

  const closing = sink.close();
  let rest = Buffer.alloc(0);
  for (let i = 0; i < 500 && rest.length < 2_500; i++) {
    await sleep(10);
    rest = Buffer.concat([rest, drain(reader)]);
  }
  const r = await closing;
  t.equal(rest.length, 2_500, 'the end of input flushes the rest, short last block included');
  t.ok(rest.equals(data.subarray(5_000)));
  t.match(r, { kind: 'pipe', written: 7_500, records: 8, accepted: 7_500 });
});

t.test('backpressure with a slow FIFO reader: write() promises resolve as room appears', async (t) => {
  const { fifo, reader } = fifoWithReader(t, 'slow');
  const sink = await openSink(fifo, { blockSize: 4096, bufferSize: 4096 * 4, hwm: 100 });
  const data = crypto.randomBytes(1_000_000);
  let pending = 0;
  const got: Buffer[] = [];
  for (let off = 0; off < data.length; off += 50_000) {
    const p = sink.write(data.subarray(off, off + 50_000));
    if (p) {
      pending++;
      // The event loop stays free: the reader below runs while the write waits.
      let done = false;
      void p.then(() => (done = true));
      while (!done) {
        got.push(drain(reader));
        await sleep(1);
      }
    }
  }
  const closing = sink.close();
  let total = got.reduce((n, b) => n + b.length, 0);
  while (total < data.length) {
    const b = drain(reader);
    got.push(b);
    total += b.length;
    await sleep(1);
  }
  await closing;
  t.ok(pending > 0, `writes waited for room (${pending} times)`);
  t.ok(Buffer.concat(got).equals(data), 'the reader got every byte in order');
});

t.test('abort rejects the write still waiting for room and drains the ring', async (t) => {
  const { fifo, reader } = fifoWithReader(t, 'abort');
  const sink = await openSink(fifo, { blockSize: 1000, bufferSize: 10_000, hwm: 100 });
  // More than the ring (10 kB) and the pipe (64 KiB) hold while nobody reads.
  const big = crypto.randomBytes(200_000);
  const waiting = sink.write(big);
  t.ok(waiting, 'the write waits for room');
  waiting!.catch(() => undefined);
  await sleep(200);
  const aborting = sink.abort();
  await t.rejects(waiting!, SinkAbortedError);
  let finished = false;
  void aborting.then(() => (finished = true));
  const got: Buffer[] = [];
  while (!finished) {
    got.push(drain(reader));
    await sleep(5);
  }
  got.push(drain(reader));
  const r = await aborting;
  const all = Buffer.concat(got);
  t.ok(r.accepted < big.length, `only part of the chunk was accepted (${r.accepted})`);
  t.equal(r.written, r.accepted, 'everything accepted was written');
  t.equal(all.length, r.written);
  t.ok(all.equals(big.subarray(0, all.length)), 'in order');
  t.equal(r.error, undefined);
});

t.test('landing: no view while written bytes wait for room (a slow reader)', async (t) => {
  const { fifo, reader } = fifoWithReader(t, 'landing');
  const sink = await openSink(fifo, { blockSize: 4096, bufferSize: 4096 * 8, hwm: 100 });
  // More than the ring and the pipe's buffer hold: nobody reads, so part of it must wait.
  const data = crypto.randomBytes(4096 * 8 + (1 << 20));
  const waiting = sink.write(data);
  t.ok(waiting, 'backpressure');
  await sleep(50);
  t.equal(sink.landing!(100), undefined, 'no view while bytes are queued (they go first)');
  let got = Buffer.alloc(0);
  let done = false;
  void waiting!.then(() => (done = true));
  for (let i = 0; i < 2000 && !done; i++) {
    await sleep(2);
    got = Buffer.concat([got, drain(reader)]);
  }
  t.ok(done, 'the queued bytes went in');
  const view = sink.landing!(100);
  t.equal(view?.length, 100, 'and then a view');
  view!.fill(7);
  t.equal(sink.write(view!), undefined);
  const closing = sink.close();
  for (let i = 0; i < 2000 && got.length < data.length + 100; i++) {
    await sleep(2);
    got = Buffer.concat([got, drain(reader)]);
  }
  await closing;
  t.ok(got.equals(Buffer.concat([data, Buffer.alloc(100, 7)])), 'every byte, in order');
});
