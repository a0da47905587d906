/**
 * The deserialize fuzz driver, shared by the fast suite (test/fuzz/deserialize.test.ts) and the
 * slow one (test/slow/fuzz-deserialize.test.ts). Seeded: a failing case prints its seed and
 * mutation and reproduces with `fuzzCase(seed, mutation)`.
 *
 * Properties, for every case: no crash (only AceErrors with a code), no hang, nothing
 * unverified committed to the target, no manifest before its children; and the cases that must
 * succeed (shuffled, duplicated, bogus files outside the layout) do.
 */
import { gzipSync } from 'node:zlib';
import { AceError } from '../../src/errors.js';
import { readArchives } from '../../src/archive/reader.js';
import { Engine } from '../../src/deserialize/engine.js';
import { buildArtifactWithReferrer, buildNestedIndex, buildTwoPlatformIndex, type ImageSet } from '../helpers/images.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { MemoryTarget, originalEntries, prng, rawEntry, rootOf, tarOf, chunked, entryBytes, type Entry } from '../deserialize/fixtures.js';

export const MUTATIONS = ['shuffle', 'truncate', 'duplicate-bogus', 'bogus-blob', 'header-bytes', 'any-bytes', 'unsafe', 'gzip-truncate', 'splice'] as const;
export type Mutation = (typeof MUTATIONS)[number];

interface Base {
  set: ImageSet;
  root: Descriptor;
  extra?: Descriptor[];
  entries: Entry[];
}

function bases(layerSize: number): Base[] {
  const two = buildTwoPlatformIndex('v1', { layerSize, seed: 11 });
  const nested = buildNestedIndex('v1', { layerSize, seed: 12 });
  const art = buildArtifactWithReferrer('v1', { layerSize, seed: 13 });
  const mk = (set: ImageSet, root: Descriptor, extra?: Descriptor[]): Base => ({ set, root, extra, entries: originalEntries(set, root, { tag: 'v1', extra }) });
  return [mk(two, rootOf(two)), mk(nested, rootOf(nested)), mk(art, rootOf(art, 'v1'), [art.referrer])];
}

let cached: { size: number; bases: Base[] } | undefined;
function getBases(layerSize: number): Base[] {
  if (!cached || cached.size !== layerSize) cached = { size: layerSize, bases: bases(layerSize) };
  return cached.bases;
}

export interface CaseResult {
  seed: number;
  mutation: Mutation;
  outcome: 'complete' | 'incomplete' | 'error';
  code?: string;
  message?: string;
  violations: string[];
  /** A property failed: what. */
  failure?: string;
}

function shuffle<T>(a: T[], rnd: () => number): T[] {
  const out = [...a];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function randomBytes(n: number, rnd: () => number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

function hex(n: number, rnd: () => number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(rnd() * 16)];
  return s;
}

/** Build the mutated archive bytes; `mustSucceed` when the original's fuzz expects success. */
function mutate(base: Base, m: Mutation, rnd: () => number): { bytes: Uint8Array; mustSucceed: boolean; mustReject?: string; mustNotComplete?: boolean } {
  const entries = base.entries;
  switch (m) {
    case 'shuffle':
      return { bytes: tarOf(shuffle(entries, rnd)), mustSucceed: true };
    case 'duplicate-bogus': {
      // The original's FuzzDeserialize_Random: shuffled, 3 files duplicated, 3 bogus files.
      const out = shuffle(entries, rnd);
      for (let i = 0; i < 3; i++) out.splice(Math.floor(rnd() * out.length), 0, entries[Math.floor(rnd() * entries.length)]);
      for (let i = 0; i < 3; i++) {
        const name = ['bogus', `dir${i}/file`, 'blobs/sha256/not-hex', `blobs/md5/${hex(32, rnd)}`, 'blobs/sha256/' + hex(10, rnd)][Math.floor(rnd() * 5)];
        out.splice(Math.floor(rnd() * out.length), 0, { name, data: randomBytes(Math.floor(rnd() * 2000), rnd) });
      }
      return { bytes: tarOf(out), mustSucceed: true };
    }
    case 'bogus-blob': {
      // A blob whose content does not match its name, somewhere: never pushed.
      const out = [...entries];
      const victims = out.map((e, i) => [e, i] as const).filter(([e]) => e.name.startsWith('blobs/sha256/') && e.data);
      const [v, i] = victims[Math.floor(rnd() * victims.length)];
      const data = Buffer.from(v.data!);
      data[Math.floor(rnd() * data.length)] ^= 1 + Math.floor(rnd() * 255);
      out[i] = { ...v, data };
      return { bytes: tarOf(out), mustSucceed: false, mustNotComplete: true };
    }
    case 'truncate': {
      const full = tarOf(entries);
      return { bytes: full.subarray(0, Math.floor(rnd() * full.length)), mustSucceed: false };
    }
    case 'header-bytes': {
      // Random bytes in header blocks (at entry starts), checksums left to catch most of them.
      const parts = entries.map(entryBytes);
      const full = Buffer.concat([...parts.map((p) => Buffer.from(p)), Buffer.alloc(1024)]);
      let off = 0;
      const starts = parts.map((p) => ((off += p.length), off - p.length));
      const k = 1 + Math.floor(rnd() * 4);
      for (let i = 0; i < k; i++) {
        const s = starts[Math.floor(rnd() * starts.length)];
        const pos = s + Math.floor(rnd() * 512);
        full[pos] = Math.floor(rnd() * 256);
        if (rnd() < 0.5) {
          // Fix the checksum so the parser has to deal with the bogus field itself.
          let sum = 0;
          for (let j = 0; j < 512; j++) sum += j >= 148 && j < 156 ? 32 : full[s + j];
          full.write(sum.toString(8).padStart(6, '0') + '\0 ', s + 148, 'latin1');
        }
      }
      return { bytes: full, mustSucceed: false };
    }
    case 'any-bytes': {
      const full = Buffer.from(tarOf(entries));
      const k = 1 + Math.floor(rnd() * 8);
      for (let i = 0; i < k; i++) full[Math.floor(rnd() * full.length)] = Math.floor(rnd() * 256);
      return { bytes: full, mustSucceed: false };
    }
    case 'unsafe': {
      const bad: Entry[] = [
        rawEntry({ name: 'blobs/sha256/' + hex(64, rnd), typeflag: '2', linkname: '/etc/shadow' }),
        rawEntry({ name: 'index.json', typeflag: '1', linkname: '../../../etc/passwd' }),
        rawEntry({ name: '../' + hex(8, rnd) }, Buffer.from('x')),
        rawEntry({ name: '/tmp/' + hex(8, rnd) }, Buffer.from('x')),
        rawEntry({ name: 'blobs/sha256/../../../x' }, Buffer.from('x')),
        rawEntry({ name: 'dev' + hex(2, rnd), typeflag: '3' }),
        rawEntry({ name: 'fifo', typeflag: '6' }),
      ];
      const out = [...entries];
      out.splice(Math.floor(rnd() * (out.length + 1)), 0, bad[Math.floor(rnd() * bad.length)]);
      return { bytes: tarOf(out), mustSucceed: false, mustReject: 'EUNSAFE' };
    }
    case 'gzip-truncate': {
      const gz = gzipSync(tarOf(entries), { level: 1 });
      return { bytes: gz.subarray(0, Math.floor(rnd() * gz.length)), mustSucceed: false };
    }
    case 'splice': {
      // Two archives: a random prefix of one and a random suffix of another, back to back.
      const full = tarOf(entries);
      const a = full.subarray(0, Math.floor(rnd() * full.length));
      const b = full.subarray(Math.floor(rnd() * full.length));
      return { bytes: Buffer.concat([a, b]), mustSucceed: false };
    }
  }
}

const HANG_MS = 20_000;

/** The archive bytes of a case, as fuzzCase builds them (other readers' fuzz: mirror inspect). */
export function caseBytes(seed: number, mutation: Mutation, opts: { layerSize?: number } = {}): { bytes: Uint8Array; mustSucceed: boolean; mustReject?: string; blobs: string[] } {
  const rnd = prng(seed);
  const bs = getBases(opts.layerSize ?? 300);
  const base = bs[Math.floor(rnd() * bs.length)];
  // The digests the unmutated archive holds (manifests included).
  const blobs = base.entries.filter((e) => e.name.startsWith('blobs/sha256/') && e.data).map((e) => 'sha256:' + e.name.slice(13));
  return { ...mutate(base, mutation, rnd), blobs };
}

export async function fuzzCase(seed: number, mutation: Mutation, opts: { layerSize?: number } = {}): Promise<CaseResult> {
  const rnd = prng(seed);
  const bs = getBases(opts.layerSize ?? 300);
  const base = bs[Math.floor(rnd() * bs.length)];
  const { bytes, mustSucceed, mustReject, mustNotComplete } = mutate(base, mutation, rnd);
  const target = new MemoryTarget('v1');
  const engine = new Engine({ target, strict: false });
  const chunk = 1 + Math.floor(rnd() * 9000);
  const result: CaseResult = { seed, mutation, outcome: 'error', violations: [] };
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: no result after ${HANG_MS} ms`)), HANG_MS);
  });
  try {
    const run = (async () => {
      await engine.consume(readArchives(chunked(bytes, chunk), 'fuzz'), { source: 'fuzz', last: true });
      return engine.finish('v1');
    })();
    const r = await Promise.race([run, hang]);
    result.outcome = r.complete ? 'complete' : 'incomplete';
  } catch (e) {
    if (e instanceof AceError) {
      result.code = e.code;
      result.message = e.message;
    } else {
      result.failure = `crash: ${(e as Error)?.stack ?? String(e)}`;
    }
  } finally {
    clearTimeout(timer);
  }
  result.violations = target.violations;
  if (!result.failure && target.violations.length) result.failure = `violations: ${target.violations.join('; ')}`;
  if (!result.failure && mustSucceed && result.outcome !== 'complete') result.failure = `expected success, got ${result.outcome} ${result.message ?? ''}`;
  if (!result.failure && mustReject && result.code !== mustReject) result.failure = `expected ${mustReject}, got ${result.outcome} ${result.code ?? ''} ${result.message ?? ''}`;
  if (!result.failure && mustNotComplete && result.outcome === 'complete') result.failure = 'a corrupt blob was accepted as complete';
  // Whatever got in is intact: MemoryTarget re-hashes every committed blob (violations above).
  return result;
}
