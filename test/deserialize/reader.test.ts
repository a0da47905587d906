import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readArchives, type LayoutEvent } from '../../src/archive/reader.js';
import { parseHeader, parseNumeric, parsePax, TarFormatError } from '../../src/archive/tar-header.js';
import { buildTwoPlatformIndex, writeOciLayout } from '../helpers/images.js';
import { chunked, digestOf, originalArchive, originalEntries, paxEntry, rawEntry, rawHeader, rootOf, tarOf } from './fixtures.js';

type Ev = { kind: string; [k: string]: unknown };

/** All events of a byte buffer, bodies read and digested. */
async function events(buf: Uint8Array, opts: { strict?: boolean; chunk?: number } = {}): Promise<Ev[]> {
  const out: Ev[] = [];
  for await (const ev of readArchives(chunked(buf, opts.chunk ?? 1000), 'test', { strict: opts.strict })) {
    if (ev.kind === 'blob') {
      const parts: Uint8Array[] = [];
      for await (const c of ev.body) parts.push(Buffer.from(c));
      const data = Buffer.concat(parts);
      out.push({ kind: 'blob', digest: ev.digest, size: ev.size, got: data.length, ok: data.length === ev.size && digestOf(data, ev.digest.split(':')[0]) === ev.digest });
    } else if (ev.kind === 'index') out.push({ kind: 'index', n: ev.index.manifests.length });
    else out.push({ ...(ev as LayoutEvent) } as Ev);
  }
  return out;
}

const kinds = (evs: Ev[]) => evs.map((e) => e.kind);
const set = buildTwoPlatformIndex('v1', { layerSize: 3000 });
const root = rootOf(set);

t.test('numeric fields: octal with padding, GNU base-256, garbage rejected', async (t) => {
  const f = (s: string | number[]) => (typeof s === 'string' ? Buffer.from(s, 'latin1') : Uint8Array.from(s));
  t.equal(parseNumeric(f('00000001616\0'), 0, 12, 'size', 0), 910);
  t.equal(parseNumeric(f('  1616 \0\0\0\0\0'), 0, 12, 'size', 0), 910);
  t.equal(parseNumeric(f('\0\0\0\0\0\0\0\0\0\0\0\0'), 0, 12, 'size', 0), 0);
  // 8 GiB in base-256 (GNU tar's form for big files)
  t.equal(parseNumeric(f([0x80, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0]), 0, 12, 'size', 0), 2 ** 33);
  t.throws(() => parseNumeric(f([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]), 0, 12, 'size', 7), /negative size/);
  t.throws(() => parseNumeric(f([0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 0, 12, 'size', 7), /too large/);
  t.throws(() => parseNumeric(f('0000000891a\0'), 0, 12, 'size', 7), TarFormatError);
  t.throws(() => parseNumeric(f('-0000000001\0'), 0, 12, 'size', 7), /not an octal/);
});

t.test('header checksum is verified', async (t) => {
  const h = rawHeader({ name: 'oci-layout', size: 30 });
  t.equal(parseHeader(h, 0).name, 'oci-layout');
  h[10] ^= 1;
  t.throws(() => parseHeader(h, 512), /byte 512: header checksum mismatch/);
});

t.test('PAX records: lengths checked, malformed rejected', async (t) => {
  const m = parsePax(Buffer.from('31 path=blobs/sha256/abcdef123\n19 size=8589934592\n'), 0);
  t.equal(m.get('size'), '8589934592');
  t.throws(() => parsePax(Buffer.from('99 path=x\n'), 0), /malformed PAX/);
  t.throws(() => parsePax(Buffer.from('5 a\n'), 0), /malformed PAX/);
  t.throws(() => parsePax(Buffer.from('x path=a\n'), 0), /malformed PAX/);
});

t.test("the original's layout reads as oci-layout, index, blobs, index, trailer", async (t) => {
  const evs = await events(originalArchive(set, root, { tag: 'v1' }));
  t.same(kinds(evs), ['archive-start', 'oci-layout', 'index', ...Array(set.blobs.length + set.manifests.length).fill('blob'), 'index', 'archive-end']);
  t.ok(evs.filter((e) => e.kind === 'blob').every((e) => e.ok), 'every blob body is exact');
  t.equal(evs.at(-1)!.how, 'trailer');
  t.equal(evs[2].n, 1, 'first index.json holds the root only');
  t.equal(evs.at(-2)!.n, 3, 'final index.json lists every manifest');
});

t.test('GNU tar and PAX archives of a layout directory (./ names, sha512 long names) read in non-strict mode', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ace-dt-rd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const layout = join(dir, 'layout');
  await writeOciLayout(layout, set);
  const big = Buffer.from('sha512 content '.repeat(100));
  const d512 = digestOf(big, 'sha512');
  mkdirSync(join(layout, 'blobs', 'sha512'));
  writeFileSync(join(layout, 'blobs', 'sha512', d512.slice(7)), big);
  for (const format of ['gnu', 'pax']) {
    const file = join(dir, `${format}.tar`);
    execFileSync('tar', ['-C', layout, `--format=${format}`, '-cf', file, '.']);
    const evs = await events(readFileSync(file));
    const blobs = evs.filter((e) => e.kind === 'blob');
    t.equal(blobs.length, set.blobs.length + set.manifests.length + 1, `${format}: every blob`);
    t.ok(blobs.every((b) => b.ok), `${format}: bodies exact`);
    t.ok(blobs.some((b) => b.digest === d512), `${format}: sha512 blob with a ${`blobs/sha512/${d512.slice(7)}`.length}-byte name`);
    t.equal(evs.at(-1)!.how, 'trailer', `${format}: GNU tar's 10 KiB record padding ends cleanly`);
    await t.rejects(events(readFileSync(file), { strict: true }), /strict mode/, `${format}: "./" names are not canonical in strict mode`);
  }
});

t.test('a PAX size record overrides the header size (blobs >= 8 GiB)', async (t) => {
  const data = Buffer.from('x'.repeat(1500));
  const d = digestOf(data);
  const name = `blobs/sha256/${d.slice(7)}`;
  const main = rawEntry({ name, size: 0 }); // header says 0, as Go writes for big sizes
  const padded = Buffer.concat([main.raw!.subarray(0, 512), data, Buffer.alloc(548)]);
  const tar = tarOf([paxEntry(`blobs/sha256/PaxHeaders.0/${d.slice(7)}`, { size: String(data.length) }), { name, raw: padded }]);
  const evs = await events(tar);
  t.same(evs.filter((e) => e.kind === 'blob').map((e) => [e.size, e.ok]), [[1500, true]]);
  // A PAX size that is not a number is refused.
  const bad = tarOf([paxEntry('x', { size: '12abc' }), rawEntry({ name: 'oci-layout', size: 0 })]);
  await t.rejects(events(bad), /PAX size .* is not a valid size/);
  // A global PAX path applies to the entries after it.
  const g = tarOf([{ ...paxEntry('g', { path: name }), raw: (() => { const e = paxEntry('g', { path: name }).raw!; const h = Buffer.from(e); h[156] = 'g'.charCodeAt(0); let s = 0; for (let i = 0; i < 512; i++) s += i >= 148 && i < 156 ? 32 : h[i]; h.write(s.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1'); return h; })() }, rawEntry({ name: 'whatever' }, data)]);
  t.same((await events(g)).filter((e) => e.kind === 'blob').map((e) => e.ok), [true]);
});

t.test('entries that could escape the layout are rejected', async (t) => {
  const ok = originalEntries(set, root).slice(0, 2);
  const cases: [string, ReturnType<typeof rawEntry>[], RegExp][] = [
    ['symlink', [rawEntry({ name: 'blobs/sha256/' + 'a'.repeat(64), typeflag: '2', linkname: '/etc/passwd' })], /symbolic link .*not allowed/],
    ['hard link', [rawEntry({ name: 'index.json', typeflag: '1', linkname: 'oci-layout' })], /hard link/],
    ['parent dir', [rawEntry({ name: '../../etc/cron.d/x' }, Buffer.from('boom'))], /leaves the layout/],
    ['inner parent dir', [rawEntry({ name: 'blobs/../../x' }, Buffer.from('boom'))], /leaves the layout/],
    ['absolute', [rawEntry({ name: '/etc/passwd' }, Buffer.from('boom'))], /absolute path/],
    ['char device', [rawEntry({ name: 'blobs/dev', typeflag: '3' })], /device file/],
    ['block device', [rawEntry({ name: 'dev', typeflag: '4' })], /device file/],
    ['fifo', [rawEntry({ name: 'fifo', typeflag: '6' })], /FIFO/],
    ['PAX path escape', [paxEntry('p', { path: '../escape' }), rawEntry({ name: 'harmless' }, Buffer.from('x'))], /leaves the layout/],
    ['ustar prefix escape', [rawEntry({ name: 'x', prefix: '/abs' }, Buffer.from('x'))], /absolute path/],
  ];
  for (const [what, entries, re] of cases) {
    for (const strict of [false, true]) {
      const tar = tarOf([...(strict ? ok : []), ...entries]);
      await t.rejects(events(tar, { strict }), re, `${what} (${strict ? 'strict' : 'non-strict'})`);
    }
  }
});

t.test('several archives in one stream, with padding between; end without trailer; cuts', async (t) => {
  const a = originalArchive(set, root);
  const both = Buffer.concat([a, Buffer.alloc(10240), a]);
  const evs = await events(both);
  t.same(evs.filter((e) => e.kind === 'archive-start').map((e) => e.archive), [1, 2]);
  t.same(evs.filter((e) => e.kind === 'archive-end').map((e) => e.how), ['trailer', 'trailer']);

  const noTrailer = originalArchive(set, root, { trailer: false });
  t.equal((await events(noTrailer)).at(-1)!.how, 'eof', 'ending at a header boundary is accepted');
  t.equal((await events(Buffer.concat([noTrailer, Buffer.alloc(512)]))).at(-1)!.how, 'eof', 'one zero block then EOF is accepted');
  await t.rejects(events(Buffer.concat([noTrailer, Buffer.alloc(512), a])), /single zero block/, 'zero block then data is an error');

  const cut = a.subarray(0, 4608 + 700);
  const ce = await events(cut);
  t.equal(ce.at(-1)!.how, 'truncated');
  const partial = ce.filter((e) => e.kind === 'blob').at(-1)!;
  t.ok((partial.got as number) < (partial.size as number), 'the cut blob body ends early');
  t.equal((await events(a.subarray(0, 1100))).at(-1)!.how, 'truncated', 'cut inside a header');
  t.same(await events(new Uint8Array(0)), [], 'an empty source holds no archive');
});

t.test('gzip and zstd detected by magic, whole-stream or per entry, cut streams end as truncated', async (t) => {
  const a = originalArchive(set, root);
  const blobs = set.blobs.length + set.manifests.length;
  const gz = gzipSync(a);
  let evs = await events(gz);
  t.equal(evs.filter((e) => e.kind === 'blob' && e.ok).length, blobs, 'gzip');
  t.equal(evs[0].compression, 'gzip');
  // Our serializer writes one gzip member per blob entry.
  const members = Buffer.concat(originalEntries(set, root).map((e) => gzipSync(tarOf([e], { trailer: false }))).concat([gzipSync(Buffer.alloc(1024))]));
  evs = await events(members);
  t.equal(evs.filter((e) => e.kind === 'blob' && e.ok).length, blobs, 'gzip members');
  t.equal(evs.at(-1)!.how, 'trailer');
  const zst = execFileSync('zstd', ['-q', '-c', '-3'], { input: a });
  evs = await events(zst);
  t.equal(evs.filter((e) => e.kind === 'blob' && e.ok).length, blobs, 'zstd');
  t.equal(evs[0].compression, 'zstd');
  const zframes = Buffer.concat(originalEntries(set, root).map((e) => execFileSync('zstd', ['-q', '-c'], { input: tarOf([e], { trailer: false }) })));
  evs = await events(zframes);
  t.equal(evs.filter((e) => e.kind === 'blob' && e.ok).length, blobs, 'zstd frames');
  t.equal(evs.at(-1)!.how, 'eof');

  const gcut = await events(gz.subarray(0, Math.floor(gz.length * 0.6)));
  t.equal(gcut.at(-1)!.how, 'truncated', 'cut gzip');
  t.ok(gcut.filter((e) => e.kind === 'blob' && e.ok).length > 0, 'what came before the cut is readable');
  const zcut = await events(zst.subarray(0, Math.floor(zst.length * 0.6)));
  t.equal(zcut.at(-1)!.how, 'truncated', 'cut zstd');
  t.match(String(zcut.at(-1)!.problem), /zstd/, 'the decompressor says why');
  // Larger than one zstd block (128 KiB): the part before the cut decodes.
  const bigSet = buildTwoPlatformIndex('v1', { layerSize: 400_000 });
  const bigZst = execFileSync('zstd', ['-q', '-c', '-1'], { input: originalArchive(bigSet, rootOf(bigSet)), maxBuffer: 64 << 20 });
  const bcut = await events(bigZst.subarray(0, Math.floor(bigZst.length * 0.7)));
  t.equal(bcut.at(-1)!.how, 'truncated');
  t.ok(bcut.filter((e) => e.kind === 'blob' && e.ok).length > 0, 'blobs before the cut are readable');
  // Plain archive followed by a gzip one in the same stream.
  evs = await events(Buffer.concat([a, gz]));
  t.same(evs.filter((e) => e.kind === 'archive-start').map((e) => e.compression), ['none', 'gzip']);
});

t.test('strict mode as the original, except that manifest.json passes', async (t) => {
  t.ok((await events(originalArchive(set, root, { manifestJson: true }), { strict: true })).length > 0, 'manifest.json passes strict');
  const entries = originalEntries(set, root);
  const three = tarOf([...entries, entries[1]]);
  await t.rejects(events(three, { strict: true }), /expected 2 index.json files in Strict mode but received 3/);
  t.ok(await events(three), 'three index.json pass non-strict');
  const unknown = tarOf([...entries.slice(0, 2), { name: 'README', data: Buffer.from('hi') }]);
  await t.rejects(events(unknown, { strict: true }), /unexpected archive entry "README"/);
  const evs = await events(unknown);
  t.same(evs.filter((e) => e.kind === 'ignored').map((e) => e.name), ['README'], 'ignored in non-strict mode');
  const order = tarOf([entries[1], entries[0], ...entries.slice(2)]);
  await t.rejects(events(order, { strict: true }), /expected oci-layout as entry 1/);
});

t.test('malformed oci-layout and index.json are clear errors', async (t) => {
  const e = originalEntries(set, root);
  await t.rejects(events(tarOf([{ name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"2"}') }])), /oci-layout at byte 0 in test is not/);
  await t.rejects(events(tarOf([e[0], { name: 'index.json', data: Buffer.from('{"manifests": [') }])), /index.json at byte 1024 in test is not valid JSON/);
  await t.rejects(events(tarOf([e[0], { name: 'index.json', data: Buffer.from('{"manifests": [{"digest": "sha256:../../x", "size": 1, "mediaType": "a"}]}') }])), /invalid or unsupported digest/);
  await t.rejects(events(tarOf([e[0], { name: 'index.json', data: Buffer.from('{"schemaVersion": 2}') }])), /no "manifests" list/);
});
