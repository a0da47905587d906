/**
 * entries.ts: the archive's entries in the original's order, index.json #1 and #2,
 * manifest.json, and the exact archive size, all known before a byte is written. The sample's
 * plan, framed by hand with the codec (no writer, no sink), must give the golden archive's bytes.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OCI_LAYOUT, archiveSize, blobEntries, finalIndex, firstIndex, manifestJson, prefixEntries, suffixEntries, type ArchiveEntry, type LayoutOptions } from '../../src/archive/entries.js';
import { TRAILER_SIZE, encodeHeader, padding } from '../../src/archive/tar-header.js';
import { blobPath } from '../../src/oci/digest.js';
import { digestBytes } from '../../src/oci/verify.js';
import { makePlan, type Plan } from '../../src/plan/plan.js';
import { openLayoutSource } from '../../src/source/layout.js';
import { VERSION } from '../../src/version.js';
import { ROOT } from '../helpers/cli.js';

const LAYOUT = join(ROOT, 'sample/layout');
const GOLDEN = readFileSync(join(ROOT, 'test/fixtures/sample.golden.tar'));
const IMAGE = 'oci:sample/layout:v1';
const opts: LayoutOptions = { version: VERSION, imageRef: IMAGE };

const source = await openLayoutSource(`oci:${LAYOUT}:v1`);
const plan = await makePlan(source, { refName: source.refName, sourceName: IMAGE });

/** The bytes writer.ts would produce for these entries, blob bodies read from the layout. */
function frame(entries: ArchiveEntry[]): Buffer {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    parts.push(encodeHeader(e.header));
    const data = e.kind === 'data' ? e.data : e.kind === 'blob' ? readFileSync(join(LAYOUT, blobPath(e.descriptor.digest))) : undefined;
    if (!data) continue;
    parts.push(data, new Uint8Array(padding(data.length)));
  }
  return Buffer.concat(parts);
}

t.test("the sample's entries, framed with the codec, are the golden archive byte for byte", async (t) => {
  const all = [...prefixEntries(plan, opts), ...blobEntries(plan, opts), ...suffixEntries(plan, opts)];
  t.same(
    all.slice(0, 4).map((e) => `${e.kind}:${e.header.name}`),
    ['data:oci-layout', 'data:index.json', 'dir:blobs', 'dir:blobs/sha256'],
  );
  t.equal(all.at(-1)!.header.name, 'index.json');
  const bytes = Buffer.concat([frame(all), new Uint8Array(TRAILER_SIZE)]);
  t.equal(bytes.length, GOLDEN.length);
  t.ok(bytes.equals(GOLDEN), 'identical to test/fixtures/sample.golden.tar');
  t.equal(archiveSize(plan, opts), GOLDEN.length, 'archiveSize, computed before writing, is exact');
  const prefix = frame([...prefixEntries(plan, opts)]).length;
  t.equal(archiveSize(plan, opts, false), GOLDEN.length - prefix, 'without the prefix (continuing a cut archive)');
});

t.test('oci-layout is the 30 bytes the original writes', async (t) => {
  t.equal(OCI_LAYOUT.toString(), '{"imageLayoutVersion":"1.0.0"}');
  t.equal(OCI_LAYOUT.length, 30);
});

t.test('index.json #1 holds the root only; #2 every manifest, root first; both with the same annotations', async (t) => {
  const p: Plan = { ...plan, dedupSize: '12345' };
  const first = firstIndex(p, { version: '9.9' }).toString();
  t.equal(
    first,
    [
      '{',
      '  "schemaVersion": 2,',
      '  "mediaType": "application/vnd.oci.image.index.v1+json",',
      '  "manifests": [',
      '    {',
      `      "mediaType": "${plan.root.mediaType}",`,
      `      "digest": "${plan.root.digest}",`,
      `      "size": ${plan.root.size},`,
      '      "annotations": {',
      '        "org.opencontainers.image.ref.name": "v1"',
      '      }',
      '    }',
      '  ],',
      '  "annotations": {',
      '    "vnd.act3-ace.data.layer.size.deduplicated": "12345",',
      '    "vnd.act3-ace.data.serialization.version": "2",',
      '    "vnd.act3-ace.data.version": "9.9"',
      '  }',
      '}',
    ].join('\n'),
    "Go's MarshalIndent, keys sorted, no trailing newline",
  );
  const final = JSON.parse(finalIndex(p, { version: '9.9' }).toString());
  t.equal(final.manifests.length, 3, 'root index and its two image manifests');
  t.same(final.manifests[0], { ...plan.root, annotations: { 'org.opencontainers.image.ref.name': 'v1' } });
  t.same(final.manifests.slice(1), plan.manifests.slice(1));
  t.same(final.annotations, JSON.parse(first).annotations);
});

const blob = (digest: string) => ({ descriptor: { mediaType: 'application/octet-stream', digest, size: 3 } });
const s256 = digestBytes('sha256', 'a');
const s512 = digestBytes('sha512', 'a');

t.test('blob entries: each blobs/<alg> directory once, just before its first blob; none already present', async (t) => {
  const p: Plan = { ...plan, blobs: [blob(s256), blob(s512), blob(digestBytes('sha256', 'b'))] };
  const names = (o: Partial<LayoutOptions>) => [...blobEntries(p, { ...opts, ...o })].map((e) => `${e.kind}:${e.header.name}`);
  t.same(names({}), ['dir:blobs', 'dir:blobs/sha256', `blob:${blobPath(s256)}`, 'dir:blobs/sha512', `blob:${blobPath(s512)}`, `blob:${blobPath(digestBytes('sha256', 'b'))}`]);
  t.same(names({ dirsPresent: ['blobs', 'blobs/sha256'] }).filter((n) => n.startsWith('dir:')), ['dir:blobs/sha512']);
  const sized = [...blobEntries(p, opts)].find((e) => e.kind === 'blob')!;
  t.same(sized.header, { name: blobPath(s256), type: 'file', size: 3 });
  // A sha512 name is 141 bytes: a PAX path record, which archiveSize counts.
  const one: Plan = { ...plan, blobs: [blob(s512)] };
  const framed = frame([...prefixEntries(one, opts), ...[...blobEntries(one, opts)].map((e) => (e.kind === 'blob' ? { kind: 'data' as const, header: e.header, data: Buffer.from('abc') } : e)), ...suffixEntries(one, opts)]);
  t.equal(archiveSize(one, opts), framed.length + TRAILER_SIZE);
});

t.test('manifest.json: from the source annotation, else the root under IMAGE; an index gives its last linux/amd64 child', async (t) => {
  const mj = (p: Plan, ref = 'reg.example/app:v1') => JSON.parse(manifestJson(p, ref).toString());
  const root = mj(plan);
  t.equal(root.length, 1);
  const amd = plan.manifests.find((d) => d.platform?.architecture === 'amd64')!;
  const doc = JSON.parse(Buffer.from(plan.manifestBytes.get(amd.digest)!).toString());
  t.same(root[0], { Config: blobPath(doc.config.digest), RepoTags: ['reg.example/app:v1'], Layers: doc.layers.map((l: { digest: string }) => blobPath(l.digest)) });
  t.equal(manifestJson(plan, 'x').toString(), JSON.stringify(mj(plan, 'x'), null, 2), 'indented by two spaces, no trailing newline');
  // Two descriptors carrying a source for the same image: one entry, both tags.
  const tagged = (src: string) => ({ ...amd, annotations: { 'vnd.act3-ace.manifest.source': src } });
  const twice: Plan = { ...plan, manifests: [plan.root, tagged('a/b:1'), tagged('a/b:2'), tagged('a/b:1')] };
  t.same(mj(twice).map((e: { RepoTags: string[] }) => e.RepoTags), [['a/b:1', 'a/b:2']]);
  const noConfig: Plan = { ...plan, root: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: s256, size: 1 }, manifests: [] };
  t.same(mj(noConfig), [], 'a root whose bytes are unknown gives an empty list');
});
