import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openVolumeSink } from '../../src/sink/volumes.js';
import type { Sink } from '../../src/sink/types.js';

// The volume sink on its own (src/sink/volumes.ts): split points, volume changes while writes are
// still arriving, landings capped at the volume's end, a resume's start inside a volume.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ace-dt-volumes-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

function volumesOf(dest: string): Buffer[] {
  const out: Buffer[] = [];
  for (let n = 1; fs.existsSync(`${dest}.${String(n).padStart(3, '0')}`); n++) out.push(fs.readFileSync(`${dest}.${String(n).padStart(3, '0')}`));
  return out;
}

function* chunks(data: Buffer, max: number, seed: number): Generator<Buffer> {
  let s = seed;
  for (let off = 0; off < data.length; ) {
    s = (s * 1103515245 + 12345) >>> 0;
    const n = Math.min(1 + (s % max), data.length - off);
    yield data.subarray(off, off + n);
    off += n;
  }
}

t.test('writes not awaited across volume changes still land in order, split exactly', async (t) => {
  for (const [size, volumeSize, max] of [[100_000, 4096, 9000], [300_001, 65_537, 200_000], [50_000, 50_000, 777]] as const) {
    const data = crypto.randomBytes(size);
    const dest = path.join(dir, `loose-${size}-${volumeSize}`);
    const changes: number[] = [];
    const sink = await openVolumeSink(dest, {
      blockSize: 4096,
      bufferSize: 8192,
      hwm: 50,
      volumeSize,
      // A slow operator command: writes keep arriving while it runs.
      beforeVolume: async (n) => {
        changes.push(n);
        await new Promise((r) => setTimeout(r, 5));
      },
    });
    // Every promise is collected, none awaited before the next write: the sink must serialize.
    const waits: Promise<void>[] = [];
    for (const c of chunks(data, max, size)) {
      const w = sink.write(c);
      if (w) waits.push(w);
    }
    await Promise.all(waits);
    const r = await sink.close();
    const vols = volumesOf(dest);
    t.equal(vols.length, Math.ceil(size / volumeSize), `${size}/${volumeSize}: volumes`);
    vols.slice(0, -1).forEach((v, i) => t.equal(v.length, volumeSize, `volume ${i + 1} is full`));
    t.ok(Buffer.concat(vols).equals(data), 'concatenated, the bytes in order');
    t.same(changes, vols.slice(1).map((_, i) => i + 2), 'the command ran before each later volume');
    t.equal(r.written, size);
    t.same(r.volumes!.map((v) => v.bytes), vols.map((v) => v.length), 'the result lists each volume');
  }
});

t.test('a landing never reaches past the volume end', async (t) => {
  const dest = path.join(dir, 'landing');
  const sink: Sink = await openVolumeSink(dest, { blockSize: 4096, bufferSize: 1 << 20, hwm: 90, volumeSize: 100_000 });
  const first = crypto.randomBytes(90_000);
  await sink.write(first);
  const view = sink.landing!(1 << 20);
  t.ok(view, 'a landing is offered');
  t.equal(view!.length, 10_000, 'capped at the bytes left in the volume');
  const second = crypto.randomBytes(10_000);
  second.copy(view!);
  await sink.write(view!);
  t.equal(sink.landing!(1 << 20), undefined, 'none while the volume is full');
  const third = crypto.randomBytes(5000);
  await sink.write(third);
  await sink.close();
  t.ok(Buffer.concat(volumesOf(dest)).equals(Buffer.concat([first, second, third])));
  t.same(volumesOf(dest).map((v) => v.length), [100_000, 5000]);
});

t.test('a start inside a volume cuts it there and removes later volumes', async (t) => {
  const dest = path.join(dir, 'resume');
  const data = crypto.randomBytes(250_000);
  let sink = await openVolumeSink(dest, { blockSize: 4096, bufferSize: 65536, hwm: 90, volumeSize: 100_000 });
  await sink.write(data);
  await sink.close();
  t.equal(volumesOf(dest).length, 3);
  // Continue at 150_000 (inside volume 2) with other bytes: volume 3 must go, volume 2 be cut.
  const rest = crypto.randomBytes(60_000);
  sink = await openVolumeSink(dest, { blockSize: 4096, bufferSize: 65536, hwm: 90, volumeSize: 100_000, startAt: 150_000 });
  await sink.write(rest);
  const r = await sink.close();
  t.same(volumesOf(dest).map((v) => v.length), [100_000, 100_000, 10_000]);
  t.ok(Buffer.concat(volumesOf(dest)).equals(Buffer.concat([data.subarray(0, 150_000), rest])));
  t.same(r.volumes!.map((v) => [v.volume, v.bytes]), [[2, 100_000], [3, 10_000]], 'volume 2 counts what it held before');
  // At an exact boundary the next volume starts fresh.
  sink = await openVolumeSink(dest, { blockSize: 4096, bufferSize: 65536, hwm: 90, volumeSize: 100_000, startAt: 100_000 });
  await sink.write(rest.subarray(0, 10));
  await sink.close();
  t.same(volumesOf(dest).map((v) => v.length), [100_000, 10]);
});
