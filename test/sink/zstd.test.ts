import t from 'tap';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { createZstdCompressor, zstdAvailable } from '../../src/sink/index.js';

const unzstd = (data: Buffer): Buffer => {
  const r = spawnSync('zstd', ['-d', '-q', '-c'], { input: data, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd -d failed: ${r.stderr}`);
  return r.stdout;
};
const haveCli = spawnSync('zstd', ['--version']).status === 0;

t.test('streaming zstd: frames decode with the zstd CLI', { skip: !zstdAvailable() ? 'addon built without libzstd-dev' : !haveCli ? 'no zstd CLI' : false }, async (t) => {
  // Compressible but not trivial: random words.
  const words = Array.from({ length: 500 }, () => crypto.randomBytes(4).toString('hex'));
  const text = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => words[(i * 7919) % words.length]).join(' '));
  const a = text(200_000);
  const b = text(50_000);
  const z = createZstdCompressor(9);
  const parts: Buffer[] = [];
  // Not awaited one by one: the compressor keeps the call order.
  const pending = [z.write(a.subarray(0, 700_000)), z.write(a.subarray(700_000)), z.endFrame()];
  for (const p of pending) parts.push(await p);
  const frame1 = Buffer.concat(parts);
  t.ok(frame1.length < a.length / 2, `compressed ${a.length} to ${frame1.length}`);
  t.ok(unzstd(frame1).equals(a), 'frame 1 decodes alone');

  const flushedHead = Buffer.concat([await z.write(b), await z.flush()]);
  t.ok(flushedHead.length > 0, 'flush() emits what was buffered');
  const frame2 = Buffer.concat([flushedHead, await z.endFrame(Buffer.from('end'))]);
  t.ok(unzstd(frame2).equals(Buffer.concat([b, Buffer.from('end')])), 'frame 2 decodes alone');
  t.ok(unzstd(Buffer.concat([frame1, frame2])).equals(Buffer.concat([a, b, Buffer.from('end')])), 'concatenated frames are one stream');
  t.equal(frame1.readUInt32LE(0), 0xfd2fb528, 'zstd magic');
});
