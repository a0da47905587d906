import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ROOT, runCli } from '../helpers/cli.js';
import { buildTwoPlatformIndex, writeOciLayout } from '../helpers/images.js';

const GOLDEN = readFileSync(join(ROOT, 'test/fixtures/sample.golden.tar'));
const SAMPLE = 'oci:sample/layout:v1';

/** Blob records of a ledger (our run records left out). */
function ledgerRecords(file: string): { digest: string; offset: number }[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((d) => !d.mediaType.startsWith('application/vnd.act3-ace.dt-ts.'))
    .map((d) => ({ digest: d.digest, offset: Number(d.annotations['vnd.act3-ace.data.offset']) }));
}

t.test('DEST "-" streams the same archive to standard output', async (t) => {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/ace-dt.js'), 'mirror', 'serialize', SAMPLE, '-', '-q'], { cwd: ROOT, maxBuffer: 1 << 26 });
  t.equal(r.status, 0, r.stderr.toString());
  t.ok(Buffer.from(r.stdout).equals(GOLDEN), 'stdout is the golden archive');
});

for (const [kind, decompress] of [
  ['gzip', (b: Buffer) => gunzipSync(b)],
  ['zstd', (b: Buffer) => execFileSync('zstd', ['-dc'], { input: b, maxBuffer: 1 << 28 })],
] as const) {
  t.test(`--compression ${kind}: one frame per blob, so every ledger offset is an exact cut`, async (t) => {
    const dir = t.testdir({});
    const file = join(dir, `out.tar.${kind}`);
    const cp = join(dir, 'cp.jsonl');
    const r = await runCli(['mirror', 'serialize', SAMPLE, file, '-q', '--compression', kind, '--checkpoint', cp]);
    t.equal(r.code, 0, r.stderr);
    const bytes = readFileSync(file);
    t.same([...bytes.subarray(0, 4)], kind === 'gzip' ? [0x1f, 0x8b, 0x08, 0x00] : [0x28, 0xb5, 0x2f, 0xfd], 'magic');
    t.ok(Buffer.from(decompress(bytes)).equals(GOLDEN), 'decompresses to the uncompressed archive, byte for byte');
    const records = ledgerRecords(cp);
    t.equal(records.length, 8);
    let previous = 0;
    for (const rec of records) {
      // The compressed prefix up to each offset decompresses on its own and ends right after the blob.
      const prefix = Buffer.from(decompress(bytes.subarray(0, rec.offset)));
      const name = `blobs/sha256/${rec.digest.slice(7)}`;
      const at = prefix.lastIndexOf(Buffer.from(name));
      t.ok(at >= 0 && prefix.length > at, `cut at ${rec.offset} holds ${name} whole`);
      t.ok(GOLDEN.subarray(0, prefix.length).equals(prefix), `cut at ${rec.offset} is a prefix of the archive`);
      t.ok(rec.offset > previous);
      previous = rec.offset;
    }
  });
}

t.test('--compression with an unknown value is a usage error (the original ignores it silently)', async (t) => {
  const r = await runCli(['mirror', 'serialize', SAMPLE, join(t.testdir({}), 'x.tar'), '--compression', 'lz4']);
  t.equal(r.code, 2);
  t.match(r.stderr, /--compression.*lz4.*gzip, zstd/);
});

t.test('--manifest-json writes a docker-load manifest.json last', async (t) => {
  const dir = t.testdir({ out: {} });
  const file = join(dir, 'm.tar');
  t.equal((await runCli(['mirror', 'serialize', SAMPLE, file, '-q', '--manifest-json'])).code, 0);
  const names = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
  t.equal(names.at(-1), 'manifest.json');
  t.equal(names.at(-2), 'index.json');
  execFileSync('tar', ['-xf', file, '-C', join(dir, 'out')]);
  const mj = JSON.parse(readFileSync(join(dir, 'out/manifest.json'), 'utf8'));
  t.equal(mj.length, 1);
  t.same(mj[0].RepoTags, [SAMPLE]);
  t.match(mj[0].Config, /^blobs\/sha256\/[0-9a-f]{64}$/);
  t.equal(mj[0].Layers.length, 2);
  const config = JSON.parse(readFileSync(join(dir, 'out', mj[0].Config), 'utf8'));
  t.equal(config.architecture, 'amd64', 'the linux/amd64 child of the index');
});

t.test('destinations that cannot be written: one clear message, exit 1', async (t) => {
  const dir = t.testdir({ ro: {} });
  const cases: [string, RegExp][] = [
    [join(dir, 'missing-dir/x.tar'), /cannot open .*missing-dir\/x\.tar.*no such file or directory/],
    [dir, /cannot open .* is a directory/],
    ['/dev/full', /ENOSPC|no space left/i],
  ];
  for (const [dest, msg] of cases) {
    const r = await runCli(['mirror', 'serialize', SAMPLE, dest, '-q']);
    t.equal(r.code, 1, `${dest}: exit 1`);
    t.match(r.stderr, msg, `${dest}: ${r.stderr.trim()}`);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

t.test('bad input: usage errors exit 2, unknown images exit 1, with the reason', async (t) => {
  const out = join(t.testdir({}), 'x.tar');
  for (const args of [['-b', '0'], ['--hwm', '0'], ['--hwm', '101'], ['-m', 'lots'], ['-b', '1Q']]) {
    const r = await runCli(['mirror', 'serialize', SAMPLE, out, ...args]);
    t.equal(r.code, 2, `${args.join(' ')}: usage error`);
    t.match(r.stderr, /usage error/);
  }
  const missingTag = await runCli(['mirror', 'serialize', 'oci:sample/layout:nope', out]);
  t.equal(missingTag.code, 1);
  t.match(missingTag.stderr, /nope.*not found/);
  const noLayout = await runCli(['mirror', 'serialize', 'oci:/nonexistent/layout:v1', out]);
  t.equal(noLayout.code, 1);
  t.match(noLayout.stderr, /no OCI layout/);
});

t.test('a corrupt blob in a layout is caught before its tar entry completes', async (t) => {
  const dir = t.testdir({});
  const set = buildTwoPlatformIndex('v1', { seed: 77, layerSize: 100_000 });
  await writeOciLayout(join(dir, 'layout'), set);
  const victim = set.blobs.reduce((a, b) => (a.desc.size > b.desc.size ? a : b));
  const path = join(dir, 'layout/blobs/sha256', victim.desc.digest.slice(7));
  const bytes = readFileSync(path);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(path, bytes);
  const out = join(dir, 'out.tar');
  const r = await runCli(['mirror', 'serialize', `oci:${join(dir, 'layout')}:v1`, out, '-q', '-b', '512', '-m', '512']);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`digest mismatch for ${victim.desc.digest}`));
  const written = readFileSync(out);
  // The bad blob's last chunk was held back: the stream stops inside its entry, before its end.
  const entryStart = written.lastIndexOf(Buffer.from(`blobs/sha256/${victim.desc.digest.slice(7)}`));
  t.ok(entryStart > 0, 'the entry header was written');
  t.ok(written.length < entryStart + 512 + victim.desc.size, 'but not the whole blob');
});

t.test('a layout blob longer or shorter than its descriptor: trailing data and truncation are errors', async (t) => {
  for (const [how, change, message] of [
    ['longer', (b: Buffer) => Buffer.concat([b, Buffer.from('x')]), /larger than its descriptor's \d+ bytes \(trailing data\)/],
    ['shorter', (b: Buffer) => b.subarray(0, b.length - 1), /ended after \d+ of \d+ bytes/],
  ] as const) {
    const dir = t.testdir({});
    // Layers over 1 MiB: read straight into the ring in more than one piece.
    const set = buildTwoPlatformIndex('v1', { seed: 78, layerSize: 1_500_000 });
    await writeOciLayout(join(dir, 'layout'), set);
    const victim = set.blobs.reduce((a, b) => (a.desc.size > b.desc.size ? a : b));
    const path = join(dir, 'layout/blobs/sha256', victim.desc.digest.slice(7));
    writeFileSync(path, change(readFileSync(path)));
    const r = await runCli(['mirror', 'serialize', `oci:${join(dir, 'layout')}:v1`, join(dir, 'out.tar'), '-q']);
    t.equal(r.code, 1, `${how}: exit 1`);
    t.match(r.stderr, message, `${how}: named`);
    t.match(r.stderr, victim.desc.digest, `${how}: the blob's digest`);
  }
});

t.test('a layout blob that is a pipe reads as a file does; one that cannot be read is named, without a stack trace', async (t) => {
  const dir = t.testdir({});
  const set = buildTwoPlatformIndex('v1', { seed: 79, layerSize: 1_500_000 });
  await writeOciLayout(join(dir, 'layout'), set);
  const plain = await runCli(['mirror', 'serialize', `oci:${join(dir, 'layout')}:v1`, join(dir, 'plain.tar'), '-q']);
  t.equal(plain.code, 0, plain.stderr);
  const victim = set.blobs.reduce((a, b) => (a.desc.size > b.desc.size ? a : b));
  const path = join(dir, 'layout/blobs/sha256', victim.desc.digest.slice(7));
  // A FIFO fed by another process: no positional reads on it.
  rmSync(path);
  execFileSync('mkfifo', [path]);
  const feeder = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', '-', path], { stdio: ['pipe', 'ignore', 'inherit'] });
  feeder.stdin.end(victim.bytes);
  const piped = await runCli(['mirror', 'serialize', `oci:${join(dir, 'layout')}:v1`, join(dir, 'piped.tar'), '-q']);
  t.equal(piped.code, 0, piped.stderr);
  t.ok(readFileSync(join(dir, 'piped.tar')).equals(readFileSync(join(dir, 'plain.tar'))), 'the same archive, byte for byte');
  // A directory where the blob should be: open works, read fails (EISDIR).
  rmSync(path);
  mkdirSync(path);
  const r = await runCli(['mirror', 'serialize', `oci:${join(dir, 'layout')}:v1`, join(dir, 'bad.tar'), '-q']);
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, new RegExp(`fetch blob, ${victim.desc.digest}, .*: cannot read .* at byte 0: EISDIR`), 'names the blob, the file and the reason');
  t.notMatch(r.stderr, /internal error|    at /, 'no stack trace');
});

t.test('a compressed archive cut mid-blob resumes into the same file as one valid gzip archive', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'out.tar.gz');
  const cp = join(dir, 'cp.jsonl');
  t.equal((await runCli(['mirror', 'serialize', SAMPLE, file, '-q', '--compression', 'gzip', '--checkpoint', cp])).code, 0);
  // Simulate kill -9 in the middle of the fifth blob: the file ends mid-frame, no run-end record.
  const records = ledgerRecords(cp);
  const cutAt = Math.floor((records[3].offset + records[4].offset) / 2);
  writeFileSync(file, readFileSync(file).subarray(0, cutAt));
  writeFileSync(cp, readFileSync(cp, 'utf8').split('\n').filter((l) => !l.includes('run-end')).join('\n'));
  const r = await runCli(['mirror', 'serialize', SAMPLE, file, '--compression', 'gzip', '--resume-from-checkpoint', cp, '--no-term', '-v=info']);
  t.equal(r.code, 0, r.stderr);
  t.ok(gunzipSync(readFileSync(file)).equals(GOLDEN), 'the resumed file decompresses to the complete archive');
  const wrong = await runCli(['mirror', 'serialize', SAMPLE, file, '--resume-from-checkpoint', cp, '--resume-from-offset', String(records[2].offset)]);
  t.equal(wrong.code, 1, 'resuming a gzip archive without --compression gzip is refused');
  t.match(wrong.stderr, /same --compression/);
});
