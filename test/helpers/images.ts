/**
 * Deterministic test images (regclient/go-containerregistry `randomImage()` style): built in
 * memory from a seed, then pushed to a real registry with plain node:http (independent of our own
 * client, so tests of the client do not check it against itself), or written as an OCI layout.
 *
 * `pushImage` streams layers generated from a seeded AES-CTR keystream so a multi-GB benchmark
 * image never sits in memory.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor, Platform } from '../../src/oci/descriptor.js';
import { MediaType } from '../../src/oci/mediatype.js';

export const MT = {
  ...MediaType,
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface PushOptions {
  seed?: number;
  layerSize?: number;
  /** Basic credentials for a registry started with htpasswd. */
  auth?: { user: string; password: string };
}

/** Result of the push helpers: root descriptor, manifests (children, pre-order), unique blobs. */
export interface PushedImages {
  index: Descriptor;
  manifests: Descriptor[];
  blobs: Descriptor[];
  /** Bytes of every manifest and blob, by digest (small images only). */
  content: Map<string, Uint8Array>;
}

// ---------------------------------------------------------------------------------------------
// Deterministic bytes

/** `size` bytes of AES-256-CTR keystream keyed by the seed: fast, incompressible, reproducible. */
export function* seededChunks(seed: number, size: number, chunk = 1 << 20): Generator<Uint8Array> {
  const key = createHash('sha256').update(`ace-dt-test-seed:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(Math.min(chunk, Math.max(size, 1)));
  let left = size;
  while (left > 0) {
    const n = Math.min(left, zeros.length);
    yield cipher.update(n === zeros.length ? zeros : zeros.subarray(0, n));
    left -= n;
  }
}

export function seededBytes(seed: number, size: number): Uint8Array {
  return Buffer.concat([...seededChunks(seed, size)]);
}

export function sha256(data: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

function desc(mediaType: string, bytes: Uint8Array, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, digest: sha256(bytes), size: bytes.length, ...extra };
}

function json(v: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(v));
}

// ---------------------------------------------------------------------------------------------
// In-memory image sets

/** Content to push: blobs first, then manifests in push order (children before parents). */
export interface ImageSet {
  blobs: { desc: Descriptor; bytes: Uint8Array }[];
  manifests: { desc: Descriptor; bytes: Uint8Array; tag?: string }[];
}

class Builder {
  set: ImageSet = { blobs: [], manifests: [] };
  private seen = new Set<string>();
  blob(mediaType: string, bytes: Uint8Array): Descriptor {
    const d = desc(mediaType, bytes);
    if (!this.seen.has(d.digest)) {
      this.seen.add(d.digest);
      this.set.blobs.push({ desc: d, bytes });
    }
    return d;
  }
  manifest(mediaType: string, body: Record<string, unknown>, tag?: string, extra: Partial<Descriptor> = {}): Descriptor {
    const bytes = json(body);
    const d = desc(mediaType, bytes, extra);
    this.set.manifests.push({ desc: d, bytes, tag });
    return d;
  }
  image(opts: { seed: number; platform: Platform; layers: Uint8Array[]; docker?: boolean; tag?: string; annotations?: Record<string, string> }): Descriptor {
    const layerMt = opts.docker ? MT.DockerLayer : MT.OciLayer;
    const layers = opts.layers.map((l) => this.blob(layerMt, l));
    const config = this.blob(
      opts.docker ? MT.DockerConfig : MT.OciConfig,
      json({
        architecture: opts.platform.architecture,
        os: opts.platform.os,
        created: '1970-01-01T00:00:00Z',
        config: { Env: [`SEED=${opts.seed}`] },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      }),
    );
    const mediaType = opts.docker ? MT.DockerManifest : MT.OciManifest;
    return this.manifest(
      mediaType,
      {
        schemaVersion: 2,
        mediaType,
        config,
        layers,
        ...(opts.annotations ? { annotations: opts.annotations } : {}),
      },
      opts.tag,
    );
  }
}

const AMD64: Platform = { architecture: 'amd64', os: 'linux' };
const ARM64: Platform = { architecture: 'arm64', os: 'linux', variant: 'v8' };

function twoPlatform(b: Builder, seed: number, layerSize: number, docker: boolean): Descriptor[] {
  const shared = seededBytes(seed * 1000 + 1, layerSize);
  const amdOnly = seededBytes(seed * 1000 + 2, layerSize + 17);
  const armOnly = seededBytes(seed * 1000 + 3, layerSize + 33);
  const amd = b.image({ seed, platform: AMD64, layers: [shared, amdOnly], docker });
  const arm = b.image({ seed: seed + 0.5, platform: ARM64, layers: [shared, armOnly], docker });
  return [
    { ...amd, platform: AMD64 },
    { ...arm, platform: ARM64 },
  ];
}

/** OCI index (linux/amd64 + linux/arm64, one shared layer), tagged `tag`. */
export function buildTwoPlatformIndex(tag: string, opts: PushOptions = {}): ImageSet {
  const b = new Builder();
  const manifests = twoPlatform(b, opts.seed ?? 1, opts.layerSize ?? 4096, false);
  b.manifest(MT.OciIndex, { schemaVersion: 2, mediaType: MT.OciIndex, manifests }, tag);
  return b.set;
}

export function buildDockerManifestList(tag: string, opts: PushOptions = {}): ImageSet {
  const b = new Builder();
  const manifests = twoPlatform(b, opts.seed ?? 2, opts.layerSize ?? 4096, true);
  b.manifest(MT.DockerList, { schemaVersion: 2, mediaType: MT.DockerList, manifests }, tag);
  return b.set;
}

/** One linux/amd64 image of `layers` distinct layers of `layerSize` bytes, tagged `tag`. */
export function buildLayeredImage(tag: string, layers: number, opts: PushOptions = {}): ImageSet {
  const b = new Builder();
  const seed = opts.seed ?? 5;
  const bytes = Array.from({ length: layers }, (_, i) => seededBytes(seed * 1000 + i, (opts.layerSize ?? 4096) + i));
  b.image({ seed, platform: AMD64, layers: bytes, tag });
  return b.set;
}

/** index -> (index -> amd64, arm64) + a third image directly under the root. */
export function buildNestedIndex(tag: string, opts: PushOptions = {}): ImageSet {
  const b = new Builder();
  const seed = opts.seed ?? 3;
  const size = opts.layerSize ?? 4096;
  const inner = twoPlatform(b, seed, size, false);
  const innerIdx = b.manifest(MT.OciIndex, { schemaVersion: 2, mediaType: MT.OciIndex, manifests: inner });
  const s390: Platform = { architecture: 's390x', os: 'linux' };
  const third = b.image({ seed: seed + 0.25, platform: s390, layers: [seededBytes(seed * 1000 + 9, size + 5)] });
  b.manifest(MT.OciIndex, { schemaVersion: 2, mediaType: MT.OciIndex, manifests: [innerIdx, { ...third, platform: s390 }] }, tag);
  return b.set;
}

export const SBOM_ARTIFACT_TYPE = 'application/vnd.example.sbom.v1+json';

/**
 * An image (tagged) and a referrer (OCI manifest with artifactType and subject, pushed by digest),
 * plus the tag-schema fallback index `sha256-<hex>` that clients push when a registry lacks the
 * referrers API (distribution 2.8 does lack it).
 */
export function buildArtifactWithReferrer(tag: string, opts: PushOptions = {}): ImageSet & { image: Descriptor; referrer: Descriptor } {
  const b = new Builder();
  const seed = opts.seed ?? 4;
  const image = b.image({ seed, platform: AMD64, layers: [seededBytes(seed * 1000 + 1, opts.layerSize ?? 4096)], tag });
  const empty = b.blob(MT.OciEmpty, Buffer.from('{}'));
  const sbom = b.blob('application/spdx+json', json({ spdxVersion: 'SPDX-2.3', name: `seed-${seed}` }));
  const subject = { mediaType: image.mediaType, digest: image.digest, size: image.size };
  const annotations = { 'org.opencontainers.image.created': '1970-01-01T00:00:00Z' };
  const referrer = b.manifest(
    MT.OciManifest,
    { schemaVersion: 2, mediaType: MT.OciManifest, artifactType: SBOM_ARTIFACT_TYPE, config: empty, layers: [sbom], subject, annotations },
    undefined,
    { artifactType: SBOM_ARTIFACT_TYPE, annotations },
  );
  b.manifest(
    MT.OciIndex,
    { schemaVersion: 2, mediaType: MT.OciIndex, manifests: [referrer] },
    image.digest.replace(':', '-'),
  );
  return { ...b.set, image, referrer };
}

// ---------------------------------------------------------------------------------------------
// Pushing with node:http

interface Target {
  base: URL;
  auth?: string;
}

function target(host: string, opts: PushOptions): Target {
  const base = new URL(/^https?:\/\//.test(host) ? host : `http://${host}`);
  const auth = opts.auth ? 'Basic ' + Buffer.from(`${opts.auth.user}:${opts.auth.password}`).toString('base64') : undefined;
  return { base, auth };
}

interface Res {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

function call(t: Target, method: string, path: string, headers: Record<string, string | number>, body?: Uint8Array | Iterable<Uint8Array>): Promise<Res> {
  const url = new URL(path, t.base);
  const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
    method,
    headers: { ...headers, ...(t.auth ? { Authorization: t.auth } : {}) },
    rejectUnauthorized: false,
  });
  return new Promise((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    if (body === undefined) req.end();
    else if (body instanceof Uint8Array) req.end(body);
    else {
      // Stream with backpressure; the iterable is synchronous (seededChunks).
      const it = body[Symbol.iterator]();
      const pump = () => {
        for (;;) {
          const n = it.next();
          if (n.done) return void req.end();
          if (!req.write(n.value)) return void req.once('drain', pump);
        }
      };
      pump();
    }
  });
}

function check(res: Res, what: string, ok: number[]): Res {
  if (!ok.includes(res.status)) throw new Error(`${what}: HTTP ${res.status} ${res.body.toString().slice(0, 300)}`);
  return res;
}

/** Upload a blob: POST a session, stream it with one PATCH (chunked), then PUT ?digest=. */
export async function uploadBlob(host: string, repo: string, data: Uint8Array | Iterable<Uint8Array>, opts: PushOptions = {}, knownDigest?: string): Promise<string> {
  const t = target(host, opts);
  if (knownDigest) {
    const head = await call(t, 'HEAD', `/v2/${repo}/blobs/${knownDigest}`, {});
    if (head.status === 200) return knownDigest;
  }
  const start = check(await call(t, 'POST', `/v2/${repo}/blobs/uploads/`, { 'Content-Length': 0 }), `start upload ${repo}`, [202]);
  let location = String(start.headers.location);
  const hash = createHash('sha256');
  const chunks: Iterable<Uint8Array> =
    data instanceof Uint8Array
      ? [data]
      : (function* () {
          for (const c of data) {
            hash.update(c);
            yield c;
          }
        })();
  if (data instanceof Uint8Array) hash.update(data);
  const patch = check(
    await call(t, 'PATCH', location, { 'Content-Type': 'application/octet-stream' }, chunks),
    `patch upload ${repo}`,
    [202],
  );
  location = String(patch.headers.location);
  const digest = 'sha256:' + hash.digest('hex');
  const sep = location.includes('?') ? '&' : '?';
  check(await call(t, 'PUT', `${location}${sep}digest=${digest}`, { 'Content-Length': 0 }), `commit upload ${repo}`, [201]);
  return digest;
}

export async function putManifest(host: string, repo: string, reference: string, mediaType: string, bytes: Uint8Array, opts: PushOptions = {}): Promise<void> {
  const t = target(host, opts);
  check(
    await call(t, 'PUT', `/v2/${repo}/manifests/${reference}`, { 'Content-Type': mediaType, 'Content-Length': bytes.length }, bytes),
    `put manifest ${repo}:${reference}`,
    [201],
  );
}

/** Push an in-memory set: blobs, then manifests by digest (and by tag where given). */
export async function pushSet(host: string, repo: string, set: ImageSet, opts: PushOptions = {}): Promise<void> {
  for (const b of set.blobs) await uploadBlob(host, repo, b.bytes, opts, b.desc.digest);
  for (const m of set.manifests) {
    await putManifest(host, repo, m.desc.digest, m.desc.mediaType, m.bytes, opts);
    if (m.tag) await putManifest(host, repo, m.tag, m.desc.mediaType, m.bytes, opts);
  }
}

function result(set: ImageSet, root: Descriptor): PushedImages {
  const content = new Map<string, Uint8Array>();
  for (const b of set.blobs) content.set(b.desc.digest, b.bytes);
  for (const m of set.manifests) content.set(m.desc.digest, m.bytes);
  return {
    index: root,
    manifests: set.manifests.filter((m) => m.desc.digest !== root.digest && !m.tag?.startsWith('sha256-')).map((m) => m.desc),
    blobs: set.blobs.map((b) => b.desc),
    content,
  };
}

function rootOf(set: ImageSet, tag: string): Descriptor {
  const m = set.manifests.find((x) => x.tag === tag);
  if (!m) throw new Error('no tagged manifest');
  return m.desc;
}

export async function pushTwoPlatformIndex(host: string, repo: string, tag: string, opts: PushOptions = {}): Promise<PushedImages> {
  const set = buildTwoPlatformIndex(tag, opts);
  await pushSet(host, repo, set, opts);
  return result(set, rootOf(set, tag));
}

export async function pushDockerManifestList(host: string, repo: string, tag: string, opts: PushOptions = {}): Promise<PushedImages> {
  const set = buildDockerManifestList(tag, opts);
  await pushSet(host, repo, set, opts);
  return result(set, rootOf(set, tag));
}

export async function pushNestedIndex(host: string, repo: string, tag: string, opts: PushOptions = {}): Promise<PushedImages> {
  const set = buildNestedIndex(tag, opts);
  await pushSet(host, repo, set, opts);
  return result(set, rootOf(set, tag));
}

/**
 * Image (tagged `tag`) + referrer by digest + tag-schema index. `index` is the image's descriptor;
 * `manifests` holds [image, referrer].
 */
export async function pushArtifactWithReferrer(
  host: string,
  repo: string,
  tag: string,
  opts: PushOptions = {},
): Promise<PushedImages & { image: Descriptor; referrer: Descriptor }> {
  const set = buildArtifactWithReferrer(tag, opts);
  await pushSet(host, repo, set, opts);
  const r = result(set, set.image);
  return { ...r, manifests: [set.image, set.referrer], image: set.image, referrer: set.referrer };
}

/**
 * A single-platform OCI image. Layers given as sizes+seeds are generated and streamed (never
 * whole in memory), so this can push multi-GB benchmark images.
 */
export async function pushImage(
  host: string,
  repo: string,
  tag: string,
  layers: (Uint8Array | { size: number; seed: number })[],
  opts: PushOptions = {},
): Promise<PushedImages> {
  const layerDescs: Descriptor[] = [];
  const content = new Map<string, Uint8Array>();
  for (const l of layers) {
    if (l instanceof Uint8Array) {
      const digest = await uploadBlob(host, repo, l, opts, sha256(l));
      layerDescs.push({ mediaType: MT.OciLayer, digest, size: l.length });
      content.set(digest, l);
    } else {
      const digest = await uploadBlob(host, repo, seededChunks(l.seed, l.size), opts);
      layerDescs.push({ mediaType: MT.OciLayer, digest, size: l.size });
    }
  }
  const configBytes = json({
    architecture: 'amd64',
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    rootfs: { type: 'layers', diff_ids: layerDescs.map((l) => l.digest) },
  });
  const config = desc(MT.OciConfig, configBytes);
  await uploadBlob(host, repo, configBytes, opts, config.digest);
  content.set(config.digest, configBytes);
  const manifestBytes = json({ schemaVersion: 2, mediaType: MT.OciManifest, config, layers: layerDescs });
  const manifest = desc(MT.OciManifest, manifestBytes);
  await putManifest(host, repo, tag, MT.OciManifest, manifestBytes, opts);
  content.set(manifest.digest, manifestBytes);
  return { index: manifest, manifests: [], blobs: [config, ...layerDescs], content };
}

// ---------------------------------------------------------------------------------------------
// OCI layouts on disk

/** Write a set as an OCI image layout; index.json lists the tagged manifests with ref.name. */
export async function writeOciLayout(dir: string, set: ImageSet): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const x of [...set.blobs, ...set.manifests]) {
    await writeFile(join(dir, 'blobs', 'sha256', x.desc.digest.slice(7)), x.bytes);
  }
  const manifests = set.manifests
    .filter((m) => m.tag)
    .map((m) => ({ mediaType: m.desc.mediaType, digest: m.desc.digest, size: m.desc.size, annotations: { 'org.opencontainers.image.ref.name': m.tag } }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MT.OciIndex, manifests }, null, 2));
}
