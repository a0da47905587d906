/**
 * `mirror inspect` on real archives written by our serialize from OCI layouts (no registry
 * needed): what it lists is checked against the layout it came from, against GNU tar's block
 * numbers (`tar tvR`) and against the bytes at each reported offset.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCli } from '../helpers/cli.js';
import { buildNestedIndex, buildTwoPlatformIndex, writeOciLayout, type ImageSet } from '../helpers/images.js';
import type { InspectReport } from '../../src/inspect/index.js';

const exec = promisify(execFile);

async function serialize(image: string, dest: string, ...flags: string[]): Promise<void> {
  const r = await runCli(['mirror', 'serialize', image, dest, '-q', ...flags]);
  if (r.code !== 0) throw new Error(`serialize ${image}: ${r.stderr}`);
}

async function inspectJson(...sources: string[]): Promise<{ code: number | null; report: InspectReport; stderr: string }> {
  const r = await runCli(['mirror', 'inspect', '--json', ...sources]);
  return { code: r.code, report: JSON.parse(r.stdout) as InspectReport, stderr: r.stderr };
}

function bytesAt(file: string, offset: number, size: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(size);
    readSync(fd, b, 0, size, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

const sha256 = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('hex');

async function layoutOf(set: ImageSet, dir: string): Promise<string> {
  await writeOciLayout(dir, set);
  return dir;
}

t.test('the bundled sample: root, two platforms, every blob at the offset GNU tar reports', async (t) => {
  const dir = t.testdir({});
  const tar = join(dir, 'sample.tar');
  await serialize('oci:sample/layout:v1', tar);
  const { code, report, stderr } = await inspectJson(tar);
  t.equal(code, 0, stderr);
  const layoutIndex = JSON.parse(readFileSync('sample/layout/index.json', 'utf8'));
  t.equal(report.root?.digest, layoutIndex.manifests[0].digest, 'root = the tagged index');
  t.same(report.images.map((m) => m.platform && `${m.platform.os}/${m.platform.architecture}`).filter(Boolean).sort(), ['linux/amd64', 'linux/arm64']);
  t.ok(report.images.find((m) => m.root)?.tags.includes('v1'), 'the root carries its tag');
  t.equal(report.blobs.length, 8);
  t.equal(report.missing.length, 0);
  t.equal(report.totals.blobs, 8);
  const { stdout } = await exec('tar', ['tvRf', tar]);
  const blocks = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    const m = /^block (\d+): .* blobs\/sha256\/([0-9a-f]{64})$/.exec(line);
    if (m) blocks.set(`sha256:${m[2]}`, Number(m[1]));
  }
  for (const b of report.blobs) {
    t.equal(b.headerOffset, blocks.get(b.digest)! * 512, `${b.digest.slice(0, 19)}: header at tar's block ${blocks.get(b.digest)}`);
    t.equal(sha256(bytesAt(tar, b.offset, b.size)), b.digest, `${b.digest.slice(0, 19)}: the bytes at offset ${b.offset} hash to it`);
    t.ok(b.mediaType, `${b.digest.slice(0, 19)}: media type known (${b.mediaType})`);
  }
  const piped = await exec('bash', ['-c', `node bin/ace-dt.js mirror inspect --json - < '${tar}'`]);
  const fromPipe = JSON.parse(piped.stdout) as InspectReport;
  t.same(fromPipe.blobs.map((b) => [b.digest, b.offset]), report.blobs.map((b) => [b.digest, b.offset]), 'standard input (read through): the same blobs and offsets');
  t.equal(fromPipe.sources[0].seekable, false);
  const human = await runCli(['mirror', 'inspect', tar]);
  t.equal(human.code, 0);
  t.match(human.stdout, /IMAGES[\s\S]*linux\/amd64[\s\S]*BLOBS[\s\S]*OFFSET\s+SIZE\s+DIGEST/);
  t.match(human.stdout, /totals: 8 blobs/);
});

t.test('a nested multi-manifest image: every manifest, platform and media type from the source layout', async (t) => {
  const dir = t.testdir({ layout: {} });
  const set = buildNestedIndex('v2', { layerSize: 300_000 });
  const layout = await layoutOf(set, join(dir, 'layout'));
  const tar = join(dir, 'nested.tar');
  await serialize(`oci:${layout}:v2`, tar);
  const { code, report } = await inspectJson(tar);
  t.equal(code, 0);
  const all = [...set.blobs, ...set.manifests];
  t.equal(report.totals.blobs, all.length, 'every blob and manifest listed once');
  for (const x of all) {
    const b = report.blobs.find((y) => y.digest === x.desc.digest);
    t.ok(b, `${x.desc.digest.slice(0, 19)} listed`);
    t.equal(b?.size, x.desc.size);
    t.equal(b?.mediaType, x.desc.mediaType, `${x.desc.digest.slice(0, 19)}: media type from its parent`);
    t.ok(b && Buffer.from(x.bytes).equals(bytesAt(tar, b.offset, b.size)), 'bytes at the offset are the blob');
  }
  t.equal(report.images.length, set.manifests.length, 'root index, inner index, three image manifests');
  t.same(report.images.filter((m) => m.platform).map((m) => m.platform!.architecture).sort(), ['amd64', 'arm64', 's390x']);
  t.ok(report.images.every((m) => m.present));
  const big = report.blobs.filter((b) => b.size >= 300_000);
  t.ok(big.length >= 3);
  // After each skip one read of 64 KiB fetches the next header (and the start of what follows).
  t.ok(report.totals.bytesSkipped >= big.reduce((a, b) => a + b.size, 0) - (big.length + 1) * (64 << 10), `layer bodies were skipped, not read (${report.totals.bytesRead} B read, ${report.totals.bytesSkipped} B skipped)`);
  t.ok(report.totals.reads <= big.length + 2, `${report.totals.reads} reads: one per skipped body, and the first`);
});

t.test('the pieces of a resumed run: which piece holds what, missing only when a piece is left out', async (t) => {
  const dir = t.testdir({ layout: {} });
  const set = buildTwoPlatformIndex('v3', { layerSize: 200_000, seed: 31 });
  const layout = await layoutOf(set, join(dir, 'layout'));
  const full = join(dir, 'full.tar');
  const cp = join(dir, 'cp.jsonl');
  await serialize(`oci:${layout}:v3`, full, '--checkpoint', cp);
  // The run "stopped" after its fourth blob: the first piece is the archive cut there (as a tape
  // holds it), the second is what the original's resume flow writes (--existing-from-checkpoint).
  const ledger = readFileSync(cp, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((d) => d.size > 0 && d.annotations?.['vnd.act3-ace.data.offset']);
  const cutAt = Number(ledger[3].annotations['vnd.act3-ace.data.offset']) + 700; // inside the fifth entry
  const piece1 = join(dir, 'piece1.tar');
  writeFileSync(piece1, readFileSync(full).subarray(0, cutAt));
  const piece2 = join(dir, 'piece2.tar');
  await serialize(`oci:${layout}:v3`, piece2, '--existing-from-checkpoint', `${cp}:${cutAt}`);

  const both = await inspectJson(piece1, piece2);
  t.equal(both.code, 0, both.stderr);
  const r = both.report;
  t.equal(r.sources.length, 2);
  t.equal(r.missing.length, 0, 'nothing missing from the two pieces together');
  t.equal(r.totals.blobs, set.blobs.length + set.manifests.length);
  t.same(r.archives.map((a) => a.how), ['truncated', 'trailer']);
  const inPiece = (d: string) => r.blobs.filter((b) => b.digest === d && !b.cut).map((b) => b.source);
  for (const [i, d] of ledger.slice(0, 4).entries()) t.same(inPiece(d.digest), [0], `ledger blob ${i + 1} is in piece 1`);
  for (const d of ledger.slice(4)) t.same(inPiece(d.digest), [1], `${d.digest.slice(0, 19)} is in piece 2`);
  t.ok(r.blobs.some((b) => b.cut && b.source === 0), 'the entry piece 1 ends inside is marked cut');
  const human = await runCli(['mirror', 'inspect', piece1, piece2]);
  t.match(human.stdout, /piece 1: .*cut at byte/);
  t.match(human.stdout, /PIECE\s+OFFSET/);

  const alone = await inspectJson(piece2);
  t.equal(alone.code, 0, 'a complete archive with blobs elsewhere still reads to its end');
  // Piece 1 held the root index, the amd64 manifest, its config and the shared layer. Without it,
  // both manifests are missing (piece 2's final index.json lists them) and their own children
  // cannot be known; the shared layer is missing for the arm64 manifest, which piece 2 holds.
  const firstFour = ledger.slice(0, 4).map((d) => d.digest);
  const missing = alone.report.missing;
  t.ok(missing.length >= 2 && missing.every((m) => firstFour.includes(m.digest)), 'piece 2 alone: only blobs of piece 1 are missing');
  t.same(missing.filter((m) => m.kind === 'manifest').map((m) => m.digest).sort(), [ledger[0].digest, ledger[1].digest].sort(), 'the root index and the amd64 manifest are missing');
  t.ok(missing.some((m) => m.kind === 'blob' && m.neededBy.length === 1), 'the shared layer, needed by the manifest piece 2 holds');
  t.match(alone.report.notes.join('\n'), /children of 2 missing manifests cannot be listed/);

  const first = await runCli(['mirror', 'inspect', piece1]);
  t.equal(first.code, 1, 'the set ends cut: exit 1');
  t.match(first.stderr, /ends cut at byte \d+/);
  t.match(first.stdout, /MISSING/, 'the report is still printed');
});

t.test('compressed archives: same blobs, offsets in the decompressed stream, and it says so', async (t) => {
  const dir = t.testdir({ layout: {} });
  const set = buildTwoPlatformIndex('v4', { layerSize: 100_000, seed: 41 });
  const layout = await layoutOf(set, join(dir, 'layout'));
  const plain = join(dir, 'plain.tar');
  await serialize(`oci:${layout}:v4`, plain);
  const base = (await inspectJson(plain)).report;
  for (const c of ['gzip', 'zstd']) {
    const file = join(dir, `a.tar.${c}`);
    await serialize(`oci:${layout}:v4`, file, '--compression', c);
    const { code, report } = await inspectJson(file);
    t.equal(code, 0, c);
    t.same(report.blobs.map((b) => [b.digest, b.size, b.offset]), base.blobs.map((b) => [b.digest, b.size, b.offset]), `${c}: same blobs at the same (uncompressed) offsets`);
    t.equal(report.archives[0].compression, c);
    t.match(report.notes.join('\n'), new RegExp(`${c}-compressed: it was decompressed whole`));
  }
});

t.test('--json schema', async (t) => {
  const dir = t.testdir({});
  const tar = join(dir, 's.tar');
  await serialize('oci:sample/layout:v1', tar);
  const { report } = await inspectJson(tar);
  t.same(Object.keys(report).sort(), ['archives', 'blobs', 'endsCut', 'images', 'missing', 'notes', 'problems', 'root', 'sources', 'totals']);
  for (const b of report.blobs) {
    t.match(b, { digest: /^sha256:[0-9a-f]{64}$/, size: Number, offset: Number, headerOffset: Number, end: Number, source: 0, archive: 1, kind: /^(index|manifest|blob)$/ });
    t.equal(b.end % 512, 0, 'end = the ledger offset, a block boundary');
  }
  for (const m of report.images) t.match(m, { digest: String, mediaType: String, size: Number, tags: Array, root: Boolean, present: Boolean });
  t.match(report.sources[0], { name: tar, kind: 'file', seekable: true, bytes: Number, records: Number, skipped: Number, seeks: Number });
  t.match(report.totals, { blobs: 8, blobBytes: Number, manifests: 3, duplicates: 0, missing: 0, bytesRead: Number, bytesSkipped: Number, reads: Number });
});

t.test('bad input: clear message, non-zero exit', async (t) => {
  const dir = t.testdir({ 'random.bin': Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)), 'empty.tar': '' });
  const random = await runCli(['mirror', 'inspect', join(dir, 'random.bin')]);
  t.equal(random.code, 1);
  t.match(random.stderr, /random\.bin is not a tar archive: invalid tar data at byte 0: /);
  const empty = await runCli(['mirror', 'inspect', join(dir, 'empty.tar')]);
  t.equal(empty.code, 1);
  t.match(empty.stderr, /not an OCI layout archive: .*empty\.tar holds no archive/);
  const none = await runCli(['mirror', 'inspect', join(dir, 'nope.tar')]);
  t.equal(none.code, 1);
  t.match(none.stderr, /cannot open source .*nope\.tar: no such file/);
  const usage = await runCli(['mirror', 'inspect']);
  t.equal(usage.code, 2);

  // Hostile headers: an entry that leaves the layout, and a size far beyond the file.
  const { default: tarStream } = await import('tar-stream');
  const make = async (entries: { name: string; size?: number; body?: Buffer }[]) => {
    const pack = tarStream.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    const done = new Promise<void>((r) => pack.on('end', () => r()));
    for (const e of entries) pack.entry({ name: e.name, mtime: new Date(0) }, e.body ?? Buffer.alloc(0));
    pack.finalize();
    await done;
    return Buffer.concat(chunks);
  };
  const evil = join(dir, 'evil.tar');
  writeFileSync(evil, await make([{ name: 'oci-layout', body: Buffer.from('{"imageLayoutVersion":"1.0.0"}') }, { name: '../../etc/passwd', body: Buffer.from('x') }]));
  const e1 = await runCli(['mirror', 'inspect', evil]);
  t.equal(e1.code, 1);
  t.match(e1.stderr, /evil\.tar: archive entry "\.\.\/\.\.\/etc\/passwd" at byte 1024 leaves the layout/);

  // A damaged header after good entries: the whole source is refused, naming the byte.
  const good = join(dir, 'good.tar');
  await serialize('oci:sample/layout:v1', good);
  const damaged = readFileSync(good);
  damaged[16 * 512 + 10] ^= 0x01; // a name byte of the fifth blob's header (block 16)
  writeFileSync(join(dir, 'damaged.tar'), damaged);
  const e0 = await runCli(['mirror', 'inspect', join(dir, 'damaged.tar')]);
  t.equal(e0.code, 1);
  t.match(e0.stderr, /damaged\.tar has a damaged tar header: invalid tar data at byte 8192: header checksum mismatch/);

  // A blob header claiming 8 GiB in a file of a few kB: the skip stops at the end, the piece is cut.
  const sample = join(dir, 's.tar');
  await serialize('oci:sample/layout:v1', sample);
  const bytes = readFileSync(sample);
  const h = 3584; // the first blob's header (block 7, see the sample test above)
  bytes.write('77777777777\0', h + 124, 'latin1');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= h - h + 148 && i < 156 ? 32 : bytes[h + i];
  bytes.write(sum.toString(8).padStart(6, '0') + '\0 ', h + 148, 'latin1');
  const huge = join(dir, 'huge.tar');
  writeFileSync(huge, bytes);
  const e2 = await inspectJson(huge);
  t.equal(e2.code, 1, 'a size beyond the file reads as a cut archive');
  t.match(e2.stderr, new RegExp(`ends cut at byte ${bytes.length}:`));
  t.ok(e2.report.blobs[0].cut);
});
