#!/usr/bin/env node
/**
 * Tape test of `mirror verify` and `mirror deserialize`, run INSIDE the tape rig (a real st driver
 * on /dev/nst0), from the repository root, with dist/ and the native addon built:
 *
 *   npx tsc -p tsconfig.build.json && npm run build:native
 *   bash /work/shared/tape-rig/tape-vm --timeout 900 -- node test/tape/guest/deserialize.mjs
 *
 * (or as one step of the tape suite's single tape-vm call). Prints TAP lines; exits 1 on a
 * failure. What it does, on a fresh medium:
 *   tape file 0, 1: the same image serialized twice (two archives, -b 256Ki records);
 *   tape file 2: the first 60% of a file archive (a cut piece, written in 256 KiB records);
 *   tape file 3: the resumed run (--existing-from-checkpoint), the rest as a new archive;
 * then reads them back: verify file 0 and file 1 one after the other (the reader drains to the
 * filemark: `mt status` must say the next file), verify files 2+3 as one set, and deserialize
 * both sets into a docker-registry started inside the guest on 127.0.0.1, checking the tag.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const TAPE = process.env.TAPE_DEVICE ?? '/dev/nst0';
const WORK = '/tmp/ace-dt-tape-deser';
const BIN = join(process.cwd(), 'bin', 'ace-dt.js');
let n = 0;
let failures = 0;

function check(ok, what, detail) {
  n++;
  console.log(`${ok ? 'ok' : 'not ok'} ${n} - ${what}`);
  if (!ok) {
    failures++;
    if (detail) console.log(detail.split('\n').map((l) => `  # ${l}`).join('\n'));
  }
  return ok;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '', all: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}
const ace = (...args) => run(process.execPath, [BIN, ...args]);
const mt = (...args) => run('mt', ['-f', TAPE, ...args]);
function fileNumber() {
  const m = /File number=(-?\d+)/.exec(mt('status').all);
  return m ? Number(m[1]) : NaN;
}

// ---- an OCI layout of ~10 MB: index -> 2 images, one shared layer
function sha(b) {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}
function makeLayout(dir) {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (mediaType, bytes) => {
    const d = sha(bytes);
    writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), bytes);
    return { mediaType, digest: d, size: bytes.length };
  };
  const shared = put('application/vnd.oci.image.layer.v1.tar', randomBytes(3 << 20));
  const images = ['amd64', 'arm64'].map((arch, i) => {
    const own = put('application/vnd.oci.image.layer.v1.tar', randomBytes((2 << 20) + i * 12345));
    const config = put('application/vnd.oci.image.config.v1+json', Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })));
    const m = put('application/vnd.oci.image.manifest.v1+json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [shared, own] })));
    return { ...m, platform: { architecture: arch, os: 'linux' } };
  });
  const index = put('application/vnd.oci.image.index.v1+json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: images })));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...index, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
  return index;
}

async function startRegistry() {
  const port = 5000 + Math.floor(Math.random() * 1000);
  mkdirSync(join(WORK, 'reg'), { recursive: true });
  const cfg = join(WORK, 'registry.yml');
  writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(WORK, 'reg')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const child = spawn('/usr/bin/docker-registry', ['serve', cfg], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`);
      if (r.status === 200) return { host: `127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('docker-registry did not start in the guest');
}

async function taggedDigest(host, repo, tag) {
  const r = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' },
  });
  return r.headers.get('docker-content-digest');
}

async function main() {
  console.log('TAP version 14');
  mkdirSync(WORK, { recursive: true });
  const layout = join(WORK, 'layout');
  const root = makeLayout(layout);
  const image = `oci:${layout}:v1`;
  check(mt('rewind').code === 0, 'rewind');

  // tape files 0 and 1: two complete archives
  for (const k of [0, 1]) {
    const r = ace('mirror', 'serialize', image, TAPE, '-b', '256Ki', '--no-term');
    check(r.code === 0, `serialize to tape file ${k}`, r.all);
  }
  // tape file 2: a cut piece; tape file 3: the resumed run
  const full = join(WORK, 'full.tar');
  const cp = join(WORK, 'cp.jsonl');
  let r = ace('mirror', 'serialize', image, full, '--checkpoint', cp, '--no-term');
  check(r.code === 0, 'serialize to a file with a checkpoint', r.all);
  const bytes = readFileSync(full);
  const cut = Math.floor(bytes.length * 0.6) + 123;
  const fd = openSync(TAPE, 'w');
  for (let off = 0; off < cut; off += 256 << 10) writeSync(fd, bytes.subarray(off, Math.min(cut, off + (256 << 10))));
  closeSync(fd); // st writes the filemark
  r = ace('mirror', 'serialize', image, TAPE, '-b', '256Ki', '--no-term', '--existing-from-checkpoint', `${cp}:${cut}`);
  check(r.code === 0, 'resumed serialize to tape file 3 (--existing-from-checkpoint)', r.all);

  // read back: verify, one tape file at a time
  check(mt('rewind').code === 0, 'rewind');
  r = ace('mirror', 'verify', TAPE);
  check(r.code === 0, 'verify tape file 0', r.all);
  check(/filemark/.test(r.out), 'verify reports that it stopped after the filemark', r.out);
  check(/\(now file 1, block 0; MTIOCPOS \d+\)/.test(r.out), 'verify reports where the tape is now (MTIOCGET/MTIOCPOS)', r.out);
  check(fileNumber() === 1, `tape left at the start of file 1 (mt status: file ${fileNumber()})`);
  r = ace('mirror', 'verify', TAPE);
  check(r.code === 0, 'verify tape file 1 (the second archive on the tape)', r.all);
  check(fileNumber() === 2, `tape left at the start of file 2 (mt status: file ${fileNumber()})`);
  r = ace('mirror', 'verify', TAPE);
  check(r.code === 1 && /incomplete/.test(r.err), 'tape file 2 alone (a cut piece) is reported incomplete, exit 1', r.all);
  check(fileNumber() === 3, `tape left at the start of file 3 after the cut piece (mt status: file ${fileNumber()})`);
  check(mt('bsf', '2').code === 0 && mt('fsf', '1').code === 0, 'back to the start of file 2 (mt bsf 2; mt fsf 1)');
  r = ace('mirror', 'verify', TAPE, TAPE);
  check(r.code === 0, 'verify files 2 + 3 as the pieces of one set', r.all);

  // deserialize into a registry inside the guest
  const reg = await startRegistry();
  try {
    check(mt('rewind').code === 0, 'rewind');
    r = ace('mirror', 'deserialize', TAPE, TAPE, `${reg.host}/two:v1`, '--no-term');
    check(r.code === 0, 'deserialize tape files 0 + 1 in one call', r.all);
    check((await taggedDigest(reg.host, 'two', 'v1')) === root.digest, 'tag v1 = the layout root digest');
    r = ace('mirror', 'deserialize', TAPE, TAPE, `${reg.host}/pieces:v1`, '--no-term');
    check(r.code === 0, 'deserialize the cut piece + the resumed piece (tape files 2 + 3) in one call', r.all);
    check((await taggedDigest(reg.host, 'pieces', 'v1')) === root.digest, 'tag v1 = the layout root digest');
    check(fileNumber() === 4, `tape left after file 3 (mt status: file ${fileNumber()})`);
  } finally {
    reg.stop();
  }
  console.log(`1..${n}`);
  if (failures) console.log(`# ${failures} failed`);
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.log(`not ok - ${e.stack ?? e}`);
  process.exit(1);
});
