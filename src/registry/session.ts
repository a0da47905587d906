/**
 * One repository of one registry, as a session: where it is (the endpoint, after the config's
 * rewrites), who we are (auth.ts), and `send()`, the one way every request of manifests.ts,
 * blobs.ts, uploads.ts and referrers.ts goes out: auth (proactive header once the scheme is
 * known, one challenge round on 401), redirects (followed by hand so that `Authorization` is only
 * ever sent to the registry's own origin), and the retry policy of retry.ts on 429, 5xx and
 * dropped connections (decisions on status and error codes, never on messages).
 *
 * Errors read `op, digest, ref: cause` (regclient style), with stable codes.
 */
import { Readable } from 'node:stream';
import { AceError, OciError, UserError, redact } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { isDescriptor } from '../oci/descriptor.js';
import { MANIFEST_MEDIA_TYPES } from '../oci/mediatype.js';
import { apiHost, formatReference, isLoopbackHost, type Reference } from '../oci/reference.js';
import { defaultConfig, endpointFor, type Config, type Endpoint } from '../config/index.js';
import { VERSION } from '../version.js';
import { Authenticator, readText } from './auth.js';
import { CredentialStore } from './credentials.js';
import { Transport, type ResponseData } from './transport.js';
import { DEFAULT_RETRY, backoff, classifyError, isRetryable, pause, retryableStatus, type RetryPolicy } from './retry.js';

export type { RetryPolicy } from './retry.js';

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

/** Largest manifest we buffer when its size is not known in advance (distribution caps at 4 MiB). */
export const MAX_MANIFEST = 16 << 20;

export const ACCEPT_MANIFESTS = MANIFEST_MEDIA_TYPES.join(', ');

export type Scope = 'pull' | 'push';

export interface SendOptions {
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
  /** A blob: read on a bare socket unless proxied (transport.ts). */
  lend?: boolean;
}

export class Session {
  readonly ref: Reference;
  readonly endpoint: Endpoint;
  /** Repository path used on the wire (after the config's rewritePull). */
  readonly repository: string;
  /** The reference as text, for messages. */
  readonly display: string;
  private readonly transport: Transport;
  private readonly auth: Authenticator;
  private readonly userAgent: string;
  readonly retry: RetryPolicy;
  readonly signal?: AbortSignal;
  private readonly origin: string;
  /** Set once the referrers API answered 404: use the tag schema from then on (auto mode). */
  referrersApi: boolean | undefined;

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
    this.auth = new Authenticator(credHost, this.endpoint.host, creds, this.transport, this.userAgent, this.retry, this.signal);
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  /** `op[, digest], ref` — the front of every message. */
  ctx(op: string, digest?: string): string {
    return `${op}${digest ? `, ${digest}` : ''}, ${this.display}`;
  }

  url(path: string): URL {
    return new URL(`${this.endpoint.url}/v2/${this.repository}/${path}`);
  }

  private scopeString(scope: Scope): string {
    return `repository:${this.repository}:${scope === 'push' ? 'pull,push' : 'pull'}`;
  }

  backoff(attempt: number, retryAfter?: string | string[]): number {
    return backoff(this.retry, attempt, retryAfter);
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
      if (retryableStatus(status) && replayable && attempt < this.retry.attempts) {
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
}

// ------------------------------------------------------------------------------------------------
// Response helpers shared by the concerns

// ------------------------------------------------------------------------------------------------

export function rewrite(repository: string, rules: Record<string, string> | undefined): string {
  if (!rules) return repository;
  for (const [re, rep] of Object.entries(rules)) {
    const r = new RegExp(re);
    // Go's regexp.ReplaceAllString uses $1 / ${1} like JavaScript's $1.
    if (r.test(repository)) return repository.replace(new RegExp(re, 'g'), rep.replace(/\$\{(\w+)\}/g, '$$$1'));
  }
  return repository;
}

export function header(res: ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function mediaTypeOf(contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0].trim() || undefined;
}

/** Accept the expected type first, then any manifest type (registries may convert otherwise). */
export function acceptFor(mediaType: string): string {
  return MANIFEST_MEDIA_TYPES.includes(mediaType) ? [mediaType, ...MANIFEST_MEDIA_TYPES.filter((m) => m !== mediaType)].join(', ') : `${mediaType}, ${ACCEPT_MANIFESTS}`;
}

export async function discard(res: ResponseData): Promise<void> {
  try {
    await res.body.dump({ limit: 1 << 20 });
  } catch {
    /* a broken body of a response we ignore */
  }
}

/** Read at most `limit` bytes of a body, then drop the rest of it. */
export async function readLimited(res: ResponseData, limit: number, what: string): Promise<Buffer> {
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

export function descriptorsOf(bytes: Buffer, what: string): Descriptor[] {
  let parsed: { manifests?: unknown };
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new OciError('EMANIFEST', `${what}: referrers index is not JSON`);
  }
  if (!Array.isArray(parsed.manifests)) return [];
  return parsed.manifests.filter(isDescriptor);
}
