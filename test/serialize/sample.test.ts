import t from 'tap';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, ROOT } from '../helpers/cli.js';
import { listTar } from '../helpers/tar.js';

const GOLDEN = join(ROOT, 'test/fixtures/sample.golden.tar');

t.test('the bundled sample serializes to the golden archive, byte for byte, every time', async (t) => {
  const dir = t.testdir({});
  const a = join(dir, 'a.tar');
  const b = join(dir, 'b.tar');
  const cp = join(dir, 'cp.jsonl');
  const r1 = await runCli(['mirror', 'serialize', 'oci:sample/layout:v1', a, '--checkpoint', cp, '--no-term']);
  t.equal(r1.code, 0, r1.stderr);
  const r2 = await runCli(['mirror', 'serialize', 'oci:sample/layout:v1', b, '-q']);
  t.equal(r2.code, 0, r2.stderr);
  t.equal(r2.stdout, '', '-q prints nothing on stdout');
  const bytesA = readFileSync(a);
  t.ok(bytesA.equals(readFileSync(b)), 'two runs give identical bytes');
  if (process.env.ACE_DT_UPDATE_GOLDEN === '1' || !existsSync(GOLDEN)) {
    t.fail(`golden archive missing or update requested: cp ${a} ${GOLDEN}`);
    return;
  }
  t.ok(bytesA.equals(readFileSync(GOLDEN)), 'identical to test/fixtures/sample.golden.tar');

  // Layout of the original (behaviour note 1.1), read by an independent tar reader.
  const entries = await listTar(a);
  const names = entries.map((e) => `${e.type}:${e.path}`);
  t.same(names.slice(0, 4), ['File:oci-layout', 'File:index.json', 'Directory:blobs', 'Directory:blobs/sha256']);
  t.equal(names[names.length - 1], 'File:index.json');
  const blobs = entries.filter((e) => e.path.startsWith('blobs/sha256/'));
  t.equal(blobs.length, 8, 'index, two manifests, two configs, shared base layer once, two app layers');
  for (const e of blobs) t.equal(e.digest, 'sha256:' + e.path.slice('blobs/sha256/'.length), `${e.path} content matches its name`);
  const layout = readFileSync(join(ROOT, 'sample/layout/index.json'), 'utf8');
  const root = JSON.parse(layout).manifests[0];
  t.equal(blobs[0].path, 'blobs/sha256/' + root.digest.slice(7), 'the root index is the first blob (pre-order)');
  t.equal(bytesA.length % 512, 0);
  t.ok(bytesA.subarray(bytesA.length - 1024).every((x) => x === 0), 'ends with two zero blocks');

  // index.json #1 holds the root only, with the tag as ref.name; #2 every manifest, root first.
  const first = JSON.parse(bytesA.subarray(1536, 1536 + entries[1].size).toString());
  t.same(first.manifests, [{ ...root, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }]);
  t.same(Object.keys(first.annotations), ['vnd.act3-ace.data.layer.size.deduplicated', 'vnd.act3-ace.data.serialization.version', 'vnd.act3-ace.data.version']);
  t.equal(first.annotations['vnd.act3-ace.data.serialization.version'], '2');

  // The ledger: one line per blob, offsets at the end of each blob's padding (behaviour note 1.5).
  const all = readFileSync(cp, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.match(all[0].mediaType, /run-start/, 'our run-start record first');
  t.match(all[all.length - 1].mediaType, /run-end/, 'our run-end record last');
  t.equal(JSON.parse(all[all.length - 1].annotations['vnd.act3-ace.dt-ts.run']).mediumBytes, bytesA.length, 'run-end: every byte reached the file');
  const lines = all.filter((l) => !l.mediaType.startsWith('application/vnd.act3-ace.dt-ts.'));
  t.equal(lines.length, 8);
  const pad = (n: number) => Math.ceil(n / 512) * 512;
  const firstBlobOffset = 1024 + 512 + pad(entries[1].size) + 1024 + 512 + pad(root.size);
  t.equal(lines[0].digest, root.digest);
  t.equal(lines[0].annotations['vnd.act3-ace.data.offset'], String(firstBlobOffset));
  const lastOffset = Number(lines[7].annotations['vnd.act3-ace.data.offset']);
  const finalIndexSize = entries[entries.length - 1].size;
  t.equal(bytesA.length, lastOffset + 512 + pad(finalIndexSize) + 1024, 'archive = last offset + final index.json + trailer');
});

t.test('GNU tar extracts the sample archive into a valid OCI layout', async (t) => {
  const dir = t.testdir({ out: {} });
  const file = join(dir, 's.tar');
  t.equal((await runCli(['mirror', 'serialize', 'oci:sample/layout:v1', file, '-q'])).code, 0);
  const { execFileSync } = await import('node:child_process');
  execFileSync('tar', ['-xf', file, '-C', join(dir, 'out')]);
  const index = JSON.parse(readFileSync(join(dir, 'out/index.json'), 'utf8'));
  t.equal(index.manifests.length, 3, 'final index.json (root + 2 platform manifests) overwrote the first');
});
