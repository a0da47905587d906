/**
 * A client for one repository of one registry (OCI distribution spec v1.1): manifests, blobs,
 * referrers, uploads. The only place that talks HTTP to registries (with transport.ts, auth.ts).
 *
 * Every request goes through `send()`: auth (proactive header once the scheme is known, one
 * challenge round on 401), redirects (followed by hand so that `Authorization` is only ever sent to
 * the registry's own host), retries with exponential backoff on 429 (Retry-After honoured), 5xx
 * and dropped connections (bounded; decisions on status and error codes, never on messages).
 *
 * Errors read `op, digest, ref: cause` (regclient style), with stable codes.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { AceError, OciError, UserError, redact } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { isDescriptor } from '../oci/descriptor.js';
import { MANIFEST_MEDIA_TYPES, MediaType } from '../oci/mediatype.js';
import { apiHost, formatReference, isLoopbackHost, type Reference } from '../oci/reference.js';
import { defaultConfig, endpointFor, type Config, type Endpoint } from '../config/index.js';
import { VERSION } from '../version.js';
import { Authenticator, readText } from './auth.js';
import { CredentialStore } from './credentials.js';
import { pipeIterable, pushBlobStream } from '../source/stream.js';
import type { BlobStream, ChunkWriter, Landing } from '../source/types.js';
import type { UploadSession } from './mounts.js';
import { Transport, classifyError, isRetryable, type ResponseData } from './transport.js';

export interface ClientOptions {
  config?: Config;
  userAgent?: string;
  /** Connections per registry origin (several blobs are fetched ahead concurrently). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Environment for credentials, certs.d roots and HOME (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
  /** Retry policy (tests shorten it). */
  retry?: Partial<RetryPolicy>;
  /** Where configuration problems that do not stop the run go (a misplaced certs.d CA); default stderr. */
  warn?: (message: string) => void;
}

export interface RetryPolicy {
  /** Attempts per request, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Resumes of one blob download that make no progress before giving up. */
  resumesWithoutProgress: number;
  /** Resumes of one blob download in total. */
  resumesTotal: number;
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 10_000, resumesWithoutProgress: 4, resumesTotal: 50 };

/** Largest manifest we buffer when its size is not known in advance (distribution caps at 4 MiB). */
const MAX_MANIFEST = 16 << 20;
/** Blobs up to this size are uploaded with one PUT; larger ones stream through a PATCH. */
const SMALL_BLOB = 4 << 20;
/** Stream buffer per blob response: large, so bytes flow in big chunks at loopback speed. */
const BLOB_HIGH_WATER_MARK = 4 << 20;
/** Blobs from this size on are read on a bare socket (socket.ts); below, a pooled connection is cheaper. */
const LEND_MIN = 1 << 20;
/** Thrown by the byte counter once size+1 bytes arrived: the rest is not read. */
const ENOUGH = Symbol('enough');

const ACCEPT_MANIFESTS = MANIFEST_MEDIA_TYPES.join(', ');

export type Scope = 'pull' | 'push';

interface SendOptions {
  method: string;
  /** Absolute URL, or a path below `/v2/<repo>/`. */
  url: URL | string;
  headers?: Record<string, string>;
  body?: Buffer | string | Readable;
  scope?: Scope;
  /**
   * A further scope the token must cover, of another repository of this registry (a mount needs
   * pull on its source, distribution spec "Mounting a blob from another repository").
   */
  alsoScope?: string;
  /** Operation context for messages: `op, digest, ref`. */
  what: string;
  redirects?: boolean;
  signal?: AbortSignal;
  highWaterMark?: number;
  /** A large blob: read on a bare socket unless proxied (transport.ts). */
  lend?: boolean;
}

export class RegistryClient {
  readonly ref: Reference;
  readonly endpoint: Endpoint;
  /** Repository path used on the wire (after the config's rewritePull). */
  readonly repository: string;
  /** The reference as text, for messages. */
  readonly display: string;
  private readonly transport: Transport;
  private readonly auth: Authenticator;
  private readonly userAgent: string;
  private readonly retry: RetryPolicy;
  private readonly signal?: AbortSignal;
  private readonly origin: string;
  /** Set once the referrers API answered 404: use the tag schema from then on (auto mode). */
  private referrersApi: boolean | undefined;

  constructor(ref: Reference, opts: ClientOptions = {}) {
    const env = opts.env ?? process.env;
    const config = opts.config ?? defaultConfig();
    this.ref = ref;
    this.display = formatReference(ref);
    this.endpoint = endpointFor(config, ref.registry, apiHost(ref), isLoopbackHost(apiHost(ref)));
    this.repository = rewrite(ref.repository, this.endpoint.rewritePull);
    this.origin = new URL(this.endpoint.url).origin;
    this.userAgent = opts.userAgent ?? `ace-dt/${VERSION}`;
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.signal = opts.signal;
    this.transport = new Transport(env, Math.max(2, opts.concurrency ?? config.concurrentHTTP ?? 8), opts.warn);
    this.transport.configure(this.origin, { insecureSkipVerify: this.endpoint.insecureSkipVerify });
    const creds = new CredentialStore(env, config.registryAuthFile);
    // Credentials are looked up under the registry's name (docker.io, not registry-1.docker.io);
    // an endpoint mirror has its own entry if it needs one.
    const credHost = this.endpoint.url === `https://${apiHost(ref)}` || this.endpoint.url === `http://${apiHost(ref)}` ? ref.registry : this.endpoint.host;
    this.auth = new Authenticator(credHost, this.endpoint.host, creds, this.transport, this.userAgent);
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  /** `op[, digest], ref` — the front of every message. */
  ctx(op: string, digest?: string): string {
    return `${op}${digest ? `, ${digest}` : ''}, ${this.display}`;
  }

  private url(path: string): URL {
    return new URL(`${this.endpoint.url}/v2/${this.repository}/${path}`);
  }

  private scopeString(scope: Scope): string {
    return `repository:${this.repository}:${scope === 'push' ? 'pull,push' : 'pull'}`;
  }

  private backoff(attempt: number, retryAfter?: string | string[]): number {
    const ra = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
    if (ra !== undefined) {
      const secs = Number(ra);
      const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(ra) - Date.now();
      if (Number.isFinite(ms)) return Math.min(Math.max(ms, 0), 60_000);
    }
    const exp = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
    return exp / 2 + Math.random() * (exp / 2);
  }

  /** One logical request: auth, redirects and bounded retries. Returns any final response. */
  async send(o: SendOptions): Promise<ResponseData> {
    let url = typeof o.url === 'string' ? this.url(o.url) : o.url;
    const scope = this.scopeString(o.scope ?? 'pull') + (o.alsoScope ? ` ${o.alsoScope}` : '');
    const replayable = !(o.body instanceof Readable);
    const signal = o.signal ?? this.signal;
    let attempt = 0;
    let redirects = 0;
    let challenged = false;
    let forced: string | undefined;
    for (;;) {
      if (signal?.aborted) throw classifyError(signal.reason ?? new DOMException('aborted', 'AbortError'), o.what);
      attempt++;
      // Authorization goes only to the registry's own origin (scheme, host and port), never to a
      // redirect target elsewhere nor over a downgraded scheme.
      const own = url.origin === this.origin;
      const authHeader = own ? (forced ?? (await this.auth.header(scope))) : undefined;
      const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...o.headers };
      if (authHeader) headers.Authorization = authHeader;
      let res: ResponseData;
      try {
        const req = { method: o.method, url, headers, body: o.body, signal, highWaterMark: o.highWaterMark, lend: o.lend };
        res = await this.transport.request(req, o.what);
      } catch (e) {
        if (isRetryable(e) && replayable && attempt < this.retry.attempts) {
          await pause(this.backoff(attempt), signal, o.what);
          continue;
        }
        throw e;
      }
      const status = res.statusCode;
      if (status === 401 && own && replayable) {
        await discard(res);
        forced = await this.auth.challenge(res.headers['www-authenticate'], scope, authHeader, challenged);
        challenged = true;
        attempt--; // an auth round is not a failure
        continue;
      }
      if ((status === 429 || status === 500 || status === 502 || status === 503 || status === 504) && replayable && attempt < this.retry.attempts) {
        const retryAfter = res.headers['retry-after'];
        await discard(res);
        await pause(this.backoff(attempt, retryAfter), signal, o.what);
        continue;
      }
      if (o.redirects && (status === 301 || status === 302 || status === 303 || status === 307 || status === 308)) {
        const location = res.headers.location;
        await discard(res);
        if (typeof location !== 'string' || ++redirects > 10) {
          throw new AceError('EREGISTRY', `${o.what}: ${redirects > 10 ? 'too many redirects' : 'redirect without a Location'}`);
        }
        url = new URL(location, url);
        if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AceError('EREGISTRY', `${o.what}: redirect to an unsupported URL scheme`);
        attempt = 0;
        continue;
      }
      return res;
    }
  }

  /** Build the error for an unexpected response (reads a bounded part of the body). */
  async responseError(res: ResponseData, what: string, kind: 'manifest' | 'blob' | 'other' = 'other'): Promise<AceError> {
    let text = '';
    try {
      text = await readText(res.body, 64 << 10);
    } catch {
      /* the status alone must do */
    }
    let codes: { code?: string; message?: string }[] = [];
    try {
      const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      if (Array.isArray(parsed.errors)) codes = parsed.errors;
    } catch {
      /* not JSON */
    }
    const first = codes[0]?.code;
    const detail = codes.length > 0 ? codes.map((c) => `${c.code ?? ''}${c.message ? ` (${c.message})` : ''}`).join('; ') : text.trim().slice(0, 200);
    const status = res.statusCode;
    const msg = (cause: string) => redact(`${what}: ${cause}`);
    if (status === 401) return new UserError('EUNAUTHORIZED', msg(`authentication failed for ${this.endpoint.host}`));
    if (status === 403) return new UserError('EDENIED', msg(`access denied by ${this.endpoint.host}${detail ? `: ${detail}` : ''}`));
    if (status === 404) {
      if (first === 'NAME_UNKNOWN') return new UserError('ENOTFOUND_REPO', msg(`repository ${this.repository} not found on ${this.endpoint.host}`));
      if (kind === 'manifest' || first === 'MANIFEST_UNKNOWN') {
        const sel = this.ref.digest ?? this.ref.tag ?? 'latest';
        return new UserError('ENOTFOUND_MANIFEST', msg(`manifest not found (no ${this.ref.digest ? 'manifest' : 'tag'} ${sel} in ${this.repository} on ${this.endpoint.host})`));
      }
      if (kind === 'blob' || first === 'BLOB_UNKNOWN') return new UserError('ENOTFOUND_BLOB', msg('blob not found in the registry'));
      return new UserError('ENOTFOUND', msg('not found (HTTP 404)'));
    }
    if (status === 429) return new AceError('ETOOMANYREQUESTS', msg(`the registry keeps answering 429 Too Many Requests`));
    return new AceError('EREGISTRY', msg(`HTTP ${status}${detail ? `: ${detail}` : ''}`));
  }

  // ------------------------------------------------------------------------------------------
  // Manifests

  /** HEAD (or GET when HEAD lacks the digest) the manifest named by the reference. */
  async resolve(selector: string): Promise<Descriptor> {
    const what = this.ctx('resolve');
    const headers = { Accept: ACCEPT_MANIFESTS };
    const head = await this.send({ method: 'HEAD', url: `manifests/${selector}`, headers, what, redirects: true });
    await discard(head);
    if (head.statusCode === 404) {
      // HEAD has no body to say whether the tag or the repository is missing: ask with GET.
      const get = await this.send({ method: 'GET', url: `manifests/${selector}`, headers, what, redirects: true });
      if (get.statusCode !== 200) {
        const err = await this.responseError(get, what, 'manifest');
        // Distribution answers MANIFEST_UNKNOWN for a missing repository too; the tag list tells.
        if (err.code === 'ENOTFOUND_MANIFEST' && (await this.repositoryMissing())) {
          throw new UserError('ENOTFOUND_REPO', `${what}: repository ${this.repository} not found on ${this.endpoint.host}`);
        }
        throw err;
      }
      await discard(get);
      throw new AceError('EREGISTRY', `${what}: HEAD answered 404 but GET found the manifest`);
    }
    const digestHeader = header(head, 'docker-content-digest');
    const lengthHeader = header(head, 'content-length');
    const typeHeader = mediaTypeOf(header(head, 'content-type'));
    if (head.statusCode === 200 && digestHeader && lengthHeader && typeHeader && MANIFEST_MEDIA_TYPES.includes(typeHeader)) {
      const d: Descriptor = { mediaType: typeHeader, digest: digestHeader, size: Number(lengthHeader) };
      if (this.ref.digest && d.digest !== this.ref.digest) {
        throw new OciError('EDIGEST', `${what}: the registry resolved ${this.ref.digest} to ${d.digest}`);
      }
      return d;
    }
    if (head.statusCode !== 200 && head.statusCode !== 405 && head.statusCode !== 400) {
      throw await this.responseError(head, what, 'manifest');
    }
    // Fall back to GET and hash the bytes ourselves.
    const get = await this.send({ method: 'GET', url: `manifests/${selector}`, headers, what, redirects: true });
    if (get.statusCode !== 200) throw await this.responseError(get, what, 'manifest');
    const bytes = await readLimited(get, MAX_MANIFEST + 1, what);
    if (bytes.length > MAX_MANIFEST) throw new OciError('ESIZE', `${what}: manifest larger than ${MAX_MANIFEST} bytes`);
    const alg = this.ref.digest?.split(':')[0] ?? 'sha256';
    const digest = `${alg}:${createHash(alg).update(bytes).digest('hex')}`;
    if (this.ref.digest && digest !== this.ref.digest) {
      throw new OciError('EDIGEST', `${what}: the registry served bytes with digest ${digest} for ${this.ref.digest}`);
    }
    let mediaType = mediaTypeOf(header(get, 'content-type'));
    // A generic Content-Type says nothing: read the manifest's own mediaType. A specific one
    // (schema1, an artifact type) is kept, and the walk treats it as a plain blob.
    if (!mediaType || ['application/json', 'text/plain', 'application/octet-stream'].includes(mediaType)) {
      try {
        const m = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown };
        mediaType = m.mediaType ?? (m.manifests ? MediaType.OciIndex : MediaType.OciManifest);
      } catch {
        throw new OciError('EMANIFEST', `${what}: the registry served a manifest that is not JSON (Content-Type ${mediaType ?? 'none'})`);
      }
    }
    return { mediaType, digest, size: bytes.length };
  }

  private async repositoryMissing(): Promise<boolean> {
    try {
      const res = await this.send({ method: 'GET', url: 'tags/list?n=1', what: this.ctx('list tags') });
      const err = res.statusCode === 404 ? await this.responseError(res, '') : undefined;
      if (!err) await discard(res);
      return err?.code === 'ENOTFOUND_REPO';
    } catch {
      return false;
    }
  }

  /** GET a manifest by digest, reading at most size+1 bytes (the caller verifies). */
  async fetchManifest(desc: Descriptor): Promise<Uint8Array> {
    const what = this.ctx('fetch manifest', desc.digest);
    const res = await this.send({ method: 'GET', url: `manifests/${desc.digest}`, headers: { Accept: acceptFor(desc.mediaType) }, what, redirects: true });
    if (res.statusCode !== 200) throw await this.responseError(res, what, 'manifest');
    return readLimited(res, desc.size + 1, what);
  }

  async manifestExists(desc: Descriptor): Promise<boolean> {
    const what = this.ctx('check manifest', desc.digest);
    const res = await this.send({ method: 'HEAD', url: `manifests/${desc.digest}`, headers: { Accept: acceptFor(desc.mediaType) }, what, scope: 'push' });
    await discard(res);
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw await this.responseError(res, what);
  }

  async pushManifest(desc: Descriptor, bytes: Uint8Array, tag?: string): Promise<void> {
    const what = this.ctx(tag ? `push manifest as ${tag}` : 'push manifest', desc.digest);
    const res = await this.send({
      method: 'PUT',
      url: `manifests/${tag ?? desc.digest}`,
      headers: { 'Content-Type': desc.mediaType, 'Content-Length': String(bytes.length) },
      body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      what,
      scope: 'push',
    });
    if (res.statusCode !== 201 && res.statusCode !== 200 && res.statusCode !== 202) throw await this.responseError(res, what);
    const got = header(res, 'docker-content-digest');
    await discard(res);
    if (got && got !== desc.digest && got.split(':')[0] === desc.digest.split(':')[0]) {
      throw new OciError('EDIGEST', `${what}: the registry stored it as ${got}`);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Blobs

  /**
   * GET a blob (following redirects) and stream at most size+1 bytes. A connection dropped
   * mid-way is resumed with `Range: bytes=N-` when the registry answers 206; a 200 to a Range
   * request means it cannot resume, which is an error (ENETWORK). Large blobs come on a bare
   * socket whose bytes are lent to the consumer (socket.ts); small ones through undici's pool.
   */
  async fetchBlob(desc: Descriptor, signal?: AbortSignal): Promise<BlobStream> {
    const what = this.ctx('fetch blob', desc.digest);
    const lend = desc.size >= LEND_MIN;
    const first = await this.send({ method: 'GET', url: `blobs/${desc.digest}`, what, redirects: true, signal, highWaterMark: BLOB_HIGH_WATER_MARK, lend });
    if (first.statusCode !== 200) throw await this.responseError(first, what, 'blob');
    return pushBlobStream((write, landing) => this.deliverBlob(desc, first, what, write, lend, signal, landing));
  }

  private async deliverBlob(desc: Descriptor, first: ResponseData, what: string, write: ChunkWriter, lend: boolean, signal?: AbortSignal, landing?: Landing): Promise<void> {
    const limit = desc.size + 1;
    let received = 0;
    let res = first;
    let stalled = 0;
    let resumes = 0;
    // The consumer's own failures (a digest mismatch, a full tape) end the download; only the
    // connection's failures are resumed.
    let consumerFailed: { error: unknown } | undefined;
    const counted: ChunkWriter = (chunk) => {
      if (received >= limit) throw ENOUGH;
      const c = received + chunk.length > limit ? chunk.subarray(0, limit - received) : chunk;
      received += c.length;
      try {
        const wait = write(c);
        return wait?.catch((error: unknown) => {
          consumerFailed = { error };
          throw error;
        });
      } catch (error) {
        consumerFailed = { error };
        throw error;
      }
    };
    try {
      for (;;) {
        const before = received;
        try {
          await (res.body.pipeTo ? res.body.pipeTo(counted, landing) : pipeIterable(res.body as AsyncIterable<Uint8Array>, counted));
          return;
        } catch (e) {
          if (consumerFailed) throw consumerFailed.error;
          if (e === ENOUGH) return;
          const err = classifyError(e, what);
          if (!isRetryable(err)) throw err;
          stalled = received > before ? 0 : stalled + 1;
          resumes++;
          if (received >= desc.size) return; // everything arrived; the caller checks the rest
          if (stalled > this.retry.resumesWithoutProgress || resumes > this.retry.resumesTotal) {
            throw new AceError('ENETWORK', `${what}: connection dropped after ${received} of ${desc.size} bytes; gave up after ${resumes} attempts to resume`, { cause: e });
          }
        }
        await pause(this.backoff(Math.max(stalled, 1)), signal ?? this.signal, what);
        res = await this.send({
          method: 'GET',
          url: `blobs/${desc.digest}`,
          headers: { Range: `bytes=${received}-` },
          what,
          redirects: true,
          signal,
          highWaterMark: BLOB_HIGH_WATER_MARK,
          lend,
        });
        if (res.statusCode === 200) {
          res.body.destroy();
          throw new AceError('ENETWORK', `${what}: connection dropped after ${received} of ${desc.size} bytes and the registry cannot resume (it ignores Range requests)`);
        }
        if (res.statusCode !== 206) throw await this.responseError(res, what, 'blob');
        const start = /^bytes (\d+)-/.exec(header(res, 'content-range') ?? '');
        if (!start || Number(start[1]) !== received) {
          res.body.destroy();
          throw new AceError('EREGISTRY', `${what}: the registry answered a resume from byte ${received} with Content-Range ${JSON.stringify(header(res, 'content-range') ?? '')}`);
        }
      }
    } finally {
      if (!res.body.destroyed) res.body.destroy();
    }
  }

  async blobExists(desc: Descriptor): Promise<boolean> {
    const what = this.ctx('check blob', desc.digest);
    const res = await this.send({ method: 'HEAD', url: `blobs/${desc.digest}`, what, scope: 'push', redirects: true });
    await discard(res);
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw await this.responseError(res, what);
  }

  /**
   * Upload a blob. Small blobs are gathered and sent with the final PUT; larger ones stream with
   * one PATCH. The final `PUT ?digest=` is sent only after `verify()` says yes; otherwise the
   * upload session is cancelled, so an unverified blob never becomes visible. `session` is an
   * upload the registry already started (a mount it answered with 202, mounts.ts).
   */
  async pushBlob(desc: Descriptor, data: AsyncIterable<Uint8Array>, verify: () => Promise<boolean>, session?: UploadSession): Promise<void> {
    const what = this.ctx('push blob', desc.digest);
    let location: URL;
    if (session) {
      location = session.location;
    } else {
      const start = await this.send({ method: 'POST', url: 'blobs/uploads/', headers: { 'Content-Length': '0' }, what, scope: 'push' });
      if (start.statusCode !== 202) throw await this.responseError(start, what);
      await discard(start);
      location = this.location(start, what);
    }
    const cancel = async () => {
      try {
        const res = await this.send({ method: 'DELETE', url: location, what, scope: 'push' });
        await discard(res);
      } catch {
        /* the session expires on its own */
      }
    };
    try {
      let body: Buffer | undefined;
      if (desc.size <= SMALL_BLOB) {
        const chunks: Uint8Array[] = [];
        let n = 0;
        for await (const c of data) {
          n += c.length;
          if (n > desc.size) throw new OciError('ESIZE', `${what}: more data than the declared ${desc.size} bytes`);
          chunks.push(c);
        }
        body = Buffer.concat(chunks);
      } else {
        const patch = await this.send({
          method: 'PATCH',
          url: location,
          headers: { 'Content-Type': 'application/octet-stream' },
          body: Readable.from(data, { objectMode: false }),
          what,
          scope: 'push',
        });
        if (patch.statusCode !== 202 && patch.statusCode !== 204) throw await this.responseError(patch, what);
        await discard(patch);
        location = this.location(patch, what);
      }
      if (!(await verify())) throw new OciError('EDIGEST', `${what}: content does not match the digest; upload cancelled`);
      const commit = new URL(location);
      commit.searchParams.set('digest', desc.digest);
      const put = await this.send({
        method: 'PUT',
        url: commit,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body?.length ?? 0) },
        body: body ?? Buffer.alloc(0),
        what,
        scope: 'push',
      });
      if (put.statusCode !== 201 && put.statusCode !== 204) throw await this.responseError(put, what);
      await discard(put);
    } catch (e) {
      await cancel();
      throw e;
    }
  }

  private location(res: ResponseData, what: string): URL {
    const loc = header(res, 'location');
    if (!loc) throw new AceError('EREGISTRY', `${what}: upload answer without a Location`);
    return new URL(loc, this.endpoint.url);
  }

  // ------------------------------------------------------------------------------------------
  // Referrers

  /** Manifests whose subject is desc: the referrers API, or the `<alg>-<hex>` tag schema. */
  async referrers(desc: Descriptor): Promise<Descriptor[]> {
    const mode = this.endpoint.referrers;
    if (mode === 'api' || (mode === 'auto' && this.referrersApi !== false)) {
      const found = await this.referrersViaApi(desc);
      if (found !== undefined) {
        this.referrersApi = true;
        return found;
      }
      if (mode === 'api') throw new AceError('EREGISTRY', `${this.ctx('list referrers', desc.digest)}: the registry has no referrers API (supportsReferrers: api)`);
      this.referrersApi = false;
    }
    return this.referrersViaTag(desc);
  }

  private async referrersViaApi(desc: Descriptor): Promise<Descriptor[] | undefined> {
    const what = this.ctx('list referrers', desc.digest);
    const out: Descriptor[] = [];
    let url: URL = this.url(`referrers/${desc.digest}`);
    for (let page = 0; page < 1000; page++) {
      const res = await this.send({ method: 'GET', url, headers: { Accept: MediaType.OciIndex }, what, redirects: true });
      if (res.statusCode === 404 || res.statusCode === 405 || res.statusCode === 400) {
        await discard(res);
        if (page === 0) return undefined; // not supported
        break;
      }
      if (res.statusCode !== 200) throw await this.responseError(res, what);
      const type = mediaTypeOf(header(res, 'content-type'));
      const link = header(res, 'link');
      const bytes = await readLimited(res, MAX_MANIFEST + 1, what);
      if (type !== MediaType.OciIndex) {
        if (page === 0) return undefined; // an answer from something that is not the API
        break;
      }
      out.push(...descriptorsOf(bytes, what));
      const next = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
      if (!next) break;
      url = new URL(next[1], url);
    }
    return out;
  }

  private async referrersViaTag(desc: Descriptor): Promise<Descriptor[]> {
    const what = this.ctx('list referrers (tag schema)', desc.digest);
    const tag = desc.digest.replace(':', '-');
    const res = await this.send({ method: 'GET', url: `manifests/${tag}`, headers: { Accept: `${MediaType.OciIndex}, ${MediaType.DockerList}` }, what, redirects: true });
    if (res.statusCode === 404) {
      await discard(res);
      return [];
    }
    if (res.statusCode !== 200) throw await this.responseError(res, what);
    return descriptorsOf(await readLimited(res, MAX_MANIFEST + 1, what), what);
  }
}

// ------------------------------------------------------------------------------------------------

function rewrite(repository: string, rules: Record<string, string> | undefined): string {
  if (!rules) return repository;
  for (const [re, rep] of Object.entries(rules)) {
    const r = new RegExp(re);
    // Go's regexp.ReplaceAllString uses $1 / ${1} like JavaScript's $1.
    if (r.test(repository)) return repository.replace(new RegExp(re, 'g'), rep.replace(/\$\{(\w+)\}/g, '$$$1'));
  }
  return repository;
}

/** Wait before a retry; an abort ends the wait with a classified error. */
async function pause(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch (e) {
    throw classifyError(signal?.reason ?? e, what);
  }
}

function header(res: ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function mediaTypeOf(contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0].trim() || undefined;
}

/** Accept the expected type first, then any manifest type (registries may convert otherwise). */
function acceptFor(mediaType: string): string {
  return MANIFEST_MEDIA_TYPES.includes(mediaType) ? [mediaType, ...MANIFEST_MEDIA_TYPES.filter((m) => m !== mediaType)].join(', ') : `${mediaType}, ${ACCEPT_MANIFESTS}`;
}

async function discard(res: ResponseData): Promise<void> {
  try {
    await res.body.dump({ limit: 1 << 20 });
  } catch {
    /* a broken body of a response we ignore */
  }
}

/** Read at most `limit` bytes of a body, then drop the rest of it. */
async function readLimited(res: ResponseData, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of res.body) {
      const c = chunk as Buffer;
      if (n + c.length >= limit) {
        chunks.push(c.subarray(0, limit - n));
        n = limit;
        break;
      }
      chunks.push(c);
      n += c.length;
    }
  } catch (e) {
    throw classifyError(e, what);
  } finally {
    if (!res.body.destroyed) res.body.destroy();
  }
  return Buffer.concat(chunks, n);
}

function descriptorsOf(bytes: Buffer, what: string): Descriptor[] {
  let parsed: { manifests?: unknown };
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new OciError('EMANIFEST', `${what}: referrers index is not JSON`);
  }
  if (!Array.isArray(parsed.manifests)) return [];
  return parsed.manifests.filter(isDescriptor);
}
