#!/usr/bin/env node
/**
 * Tape test of `mirror inspect`, run INSIDE the tape rig (a real st driver on /dev/nst0), from the
 * repository root, with dist/ and the native addon built:
 *
 *   npx tsc -p tsconfig.build.json && npm run build:native
 *   bash /work/shared/tape-rig/tape-vm --timeout 900 -- node test/tape/guest/inspect.mjs
 *
 * Prints TAP lines; exits 1 on a failure. On a fresh medium, variable-block mode:
 *   tape file 0: an image serialized with -b 256Ki (every record 256 KiB but the last);
 *   tape file 1: the first 60% of the same archive as a file piece (a cut piece);
 *   tape file 2: the resumed run (--existing-from-checkpoint);
 * and in fixed-block mode (mt setblk 64Ki) tape file 3: the image again, -b 256Ki.
 * Each is inspected from the tape and compared with `mirror inspect` of the file archive (same
 * bytes, so the same offsets), and the counters must show records spaced over, not read.
 * INSPECT_LAYER_MIB scales the layers (the benchmark uses it); INSPECT_TIMING=1 also times
 * `dd` of the whole tape file against inspect and prints the figures as `# timing` lines.
 */
import { spawnSync } from 'node:child_process';
import { createHash, createCipheriv } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const TAPE = process.env.TAPE_DEVICE ?? '/dev/nst0';
const WORK = '/tmp/ace-dt-tape-inspect';
const BIN = join(process.cwd(), 'bin', 'ace-dt.js');
const LAYER = Math.round(Number(process.env.INSPECT_LAYER_MIB ?? 3) * (1 << 20));
const RECORD = 256 << 10;
let n = 0;
let failures = 0;

function check(ok, what, detail) {
  n++;
  console.log(`${ok ? 'ok' : 'not ok'} ${n} - ${what}`);
  if (!ok) {
    failures++;
    if (detail) console.log(String(detail).split('\n').map((l) => `  # ${l}`).join('\n'));
  }
  return ok;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20 });
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '', all: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}
const ace = (...args) => run(process.execPath, [BIN, ...args]);
const mt = (...args) => run('mt', ['-f', TAPE, ...args]);
function fileNumber() {
  const m = /File number=(-?\d+)/.exec(mt('status').all);
  return m ? Number(m[1]) : NaN;
}
function inspect(...sources) {
  const started = process.hrtime.bigint();
  const r = ace('mirror', 'inspect', '--json', ...sources);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  let report;
  try {
    report = JSON.parse(r.out);
  } catch {
    report = undefined;
  }
  return { ...r, report, ms };
}

/** Incompressible, reproducible bytes (AES-CTR keystream), sizes that are not record multiples. */
function bytesOf(seed, size) {
  const c = createCipheriv('aes-256-ctr', Buffer.alloc(32, seed), Buffer.alloc(16));
  return c.update(Buffer.alloc(size));
}
function makeLayout(dir) {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (mediaType, bytes) => {
    const d = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), bytes);
    return { mediaType, digest: d, size: bytes.length };
  };
  const shared = put('application/vnd.oci.image.layer.v1.tar', bytesOf(1, LAYER + 777));
  const images = ['amd64', 'arm64'].map((arch, i) => {
    const own = put('application/vnd.oci.image.layer.v1.tar', bytesOf(2 + i, LAYER * 2 + i * 12345));
    const config = put('application/vnd.oci.image.config.v1+json', Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })));
    const m = put('application/vnd.oci.image.manifest.v1+json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [shared, own] })));
    return { ...m, platform: { architecture: arch, os: 'linux' } };
  });
  const index = put('application/vnd.oci.image.index.v1+json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: images })));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...index, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
  return index;
}

const key = (b) => `${b.digest} ${b.size} ${b.offset}`;

function sameBlobs(tape, file, what) {
  const a = (tape.report?.blobs ?? []).filter((b) => !b.cut).map(key);
  const b = file.blobs.map(key);
  check(a.length === b.length && a.every((x, i) => x === b[i]), `${what}: the same blobs at the same offsets as the file archive`, `${a.join('\n')}\n---\n${b.join('\n')}`);
}

function main() {
  console.log('TAP version 14');
  mkdirSync(WORK, { recursive: true });
  const layout = join(WORK, 'layout');
  const root = makeLayout(layout);
  const image = `oci:${layout}:v1`;
  check(mt('rewind').code === 0 && mt('setblk', '0').code === 0, 'rewind, variable-block mode');

  const full = join(WORK, 'full.tar');
  const cp = join(WORK, 'cp.jsonl');
  let r = ace('mirror', 'serialize', image, full, '--checkpoint', cp, '--no-term');
  check(r.code === 0, 'serialize to a file with a checkpoint', r.all);
  const bytes = readFileSync(full);
  const ref = inspect(full).report;
  check(ref && ref.missing.length === 0 && ref.root.digest === root.digest, 'inspect of the file archive (the reference)');

  r = ace('mirror', 'serialize', image, TAPE, '-b', '256Ki', '--no-term');
  check(r.code === 0, 'serialize -b 256Ki to tape file 0', r.all);
  const cut = Math.floor(bytes.length * 0.6) + 123;
  const fd = openSync(TAPE, 'w');
  for (let off = 0; off < cut; off += RECORD) writeSync(fd, bytes.subarray(off, Math.min(cut, off + RECORD)));
  closeSync(fd); // st writes the filemark
  r = ace('mirror', 'serialize', image, TAPE, '-b', '256Ki', '--no-term', '--existing-from-checkpoint', `${cp}:${cut}`);
  check(r.code === 0, 'resumed serialize to tape file 2', r.all);
  const resumedFile = join(WORK, 'resumed.tar');
  r = ace('mirror', 'serialize', image, resumedFile, '--no-term', '--existing-from-checkpoint', `${cp}:${cut}`);
  check(r.code === 0, 'the same resumed run to a file (the reference for tape file 2)', r.all);
  const resumedRef = inspect(resumedFile).report;

  check(mt('rewind').code === 0, 'rewind');
  const t0 = inspect(TAPE);
  check(t0.code === 0 && t0.report, 'inspect tape file 0', t0.all.slice(0, 3000));
  sameBlobs(t0, ref, 'tape file 0');
  const s0 = t0.report?.sources[0] ?? {};
  const records = Math.ceil(bytes.length / RECORD);
  check(s0.kind === 'tape' && s0.recordSize === RECORD, `spacing assumed ${RECORD}-byte records (${s0.recordSize})`);
  check(s0.spacedRecords > 0 && s0.records + s0.spacedRecords === records, `every record read or spaced over once: ${s0.records} read + ${s0.spacedRecords} spaced = ${records}`, JSON.stringify(s0));
  check(s0.records <= ref.blobs.length + 2, `records read (${s0.records}) follow the entries (${ref.blobs.length} blobs), not the ${records} records`);
  check(s0.filemark === true && fileNumber() === 1, `stopped after the filemark: at the start of file 1 (mt status: file ${fileNumber()})`);

  const t12 = inspect(TAPE, TAPE);
  check(t12.code === 0 && t12.report?.missing.length === 0, 'inspect tape files 1 + 2 (cut piece + resumed run): nothing missing', t12.all.slice(0, 3000));
  const pieces = t12.report?.blobs ?? [];
  const inFirst = pieces.filter((b) => b.source === 0 && !b.cut);
  check(inFirst.length > 0 && inFirst.every((b) => ref.blobs.some((x) => key(x) === key(b))), `piece 1: ${inFirst.length} whole blobs, at their offsets in the file archive`);
  check(pieces.some((b) => b.source === 0 && b.cut), 'piece 1: the blob the cut falls in is marked cut');
  const second = pieces.filter((b) => b.source === 1).map(key);
  check(second.length === resumedRef.blobs.length && second.every((x, i) => x === key(resumedRef.blobs[i])), 'piece 2: the same blobs and offsets as the resumed run written to a file');
  check(t12.report?.archives.map((a) => a.how).join(',') === 'truncated,trailer', `piece ends: ${t12.report?.archives.map((a) => a.how)}`);
  check(fileNumber() === 3, `at the start of file 3 (mt status: file ${fileNumber()})`);

  // Fixed-block mode: st spaces in blocks of the drive's size, reads return any multiple of it.
  check(mt('setblk', String(64 << 10)).code === 0, 'fixed-block mode, 64 KiB blocks');
  r = ace('mirror', 'serialize', image, TAPE, '-b', '256Ki', '--no-term');
  check(r.code === 0, 'serialize -b 256Ki to tape file 3 (fixed-block)', r.all);
  check(mt('rewind').code === 0 && mt('fsf', '3').code === 0, 'rewind; fsf 3');
  const t3 = inspect(TAPE);
  check(t3.code === 0, 'inspect tape file 3 (fixed-block)', t3.all.slice(0, 3000));
  sameBlobs(t3, ref, 'tape file 3');
  const s3 = t3.report?.sources[0] ?? {};
  check(s3.recordSize === 64 << 10 && s3.spacedRecords > 0, `spaced over ${s3.spacedRecords} blocks of ${s3.recordSize} bytes (MTIOCGET block size)`);
  check(mt('setblk', '0').code === 0, 'back to variable-block mode');

  if (process.env.INSPECT_TIMING === '1') {
    // Tape file 0 again: read whole with dd against inspect, alternating, two rounds each. The
    // guest is emulated (TCG), where Node's start-up alone takes seconds: inspect's own time
    // (totals.durationMs: from opening the tape to the report) is printed apart from it.
    const times = { dd: [], inspect: [], service: [], startup: [] };
    for (let round = 0; round < 2; round++) {
      for (const tool of round % 2 ? ['inspect', 'dd'] : ['dd', 'inspect']) {
        mt('rewind');
        const started = process.hrtime.bigint();
        const x = tool === 'dd' ? run('dd', [`if=${TAPE}`, 'of=/dev/null', 'bs=8M']) : ace('mirror', 'inspect', TAPE, '--json');
        times[tool].push(Number(process.hrtime.bigint() - started) / 1e6);
        if (x.code !== 0) check(false, `timing run of ${tool}`, x.all);
        if (tool === 'inspect') times.service.push(JSON.parse(x.out).totals.durationMs);
      }
      const started = process.hrtime.bigint();
      ace('mirror', 'inspect', '--help');
      times.startup.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    const best = (a) => Math.min(...a);
    console.log(`# timing archive ${bytes.length} B in ${records} records of ${RECORD} B`);
    console.log(`# timing dd (read whole) ${best(times.dd).toFixed(0)} ms; inspect ${best(times.inspect).toFixed(0)} ms (ratio ${(best(times.inspect) / best(times.dd)).toFixed(3)})`);
    console.log(`# timing inspect in-process ${best(times.service).toFixed(0)} ms (ratio to dd ${(best(times.service) / best(times.dd)).toFixed(3)}); Node start-up in the guest (inspect --help) ${best(times.startup).toFixed(0)} ms`);
  }
  console.log(`1..${n}`);
  if (failures) console.log(`# ${failures} failed`);
  process.exit(failures ? 1 : 0);
}

try {
  main();
} catch (e) {
  console.log(`not ok - ${e.stack ?? e}`);
  process.exit(1);
}
