/**
 * Registry authentication (distribution spec "token authentication", docker's auth flow):
 * anonymous first; on 401 the `WWW-Authenticate` challenge says Basic or Bearer. Bearer tokens
 * come from the challenge's realm with its service and scope, sending basic credentials (or an
 * identity token as an OAuth2 refresh token) when we know them; they are cached per scope and
 * refreshed when they expire. Once a host is known to want Basic or Bearer, later requests send
 * the header up front instead of paying a 401 round trip each time.
 *
 * Secrets never enter an error message: messages name the host and the scope only.
 */
import { UserError } from '../errors.js';
import type { Credential, CredentialStore } from './credentials.js';
import { DEFAULT_RETRY, backoff, classifyError, isRetryable, pause, retryableStatus, type RetryPolicy } from './retry.js';
import type { Transport } from './transport.js';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse `WWW-Authenticate` (RFC 7235): `Scheme k="v", k2=v2, Scheme2 ...`; quoted values may hold commas. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = Array.isArray(header) ? header.join(', ') : (header ?? '');
  const out: Challenge[] = [];
  const re = /\s*([A-Za-z][\w!#$%&'*+.^`|~-]*)(?:\s+(?=[\w!#$%&'*+.^`|~-]+\s*=)|\s*(?:,|$))|\s*([\w!#$%&'*+.^`|~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?/gy;
  let m: RegExpExecArray | null;
  let current: Challenge | undefined;
  while (re.lastIndex < text.length && (m = re.exec(text)) !== null) {
    if (m[1] !== undefined) {
      current = { scheme: m[1].toLowerCase(), params: {} };
      out.push(current);
    } else if (current && m[2] !== undefined) {
      let v = m[3] ?? '';
      if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
      current.params[m[2].toLowerCase()] = v;
    }
    if (m[0] === '') break;
  }
  return out;
}

interface Token {
  value: string;
  /** When to fetch a new one: a margin before expiry so a token does not lapse in flight. */
  refreshAt: number;
}

/** Margin before expiry: 10 s, or a fifth of a short lifetime. */
const EXPIRY_MARGIN_MS = 10_000;

export class Authenticator {
  private scheme: 'none' | 'basic' | 'bearer' = 'none';
  private bearer?: { realm: string; service?: string };
  private tokens = new Map<string, Token>();
  private inflight = new Map<string, Promise<Token>>();
  private credential?: Promise<Credential | undefined>;

  constructor(
    /** Host whose credentials apply (the registry as named in the reference, docker.io normalised). */
    private readonly credentialHost: string,
    /** Host name for messages. */
    private readonly displayHost: string,
    private readonly creds: CredentialStore,
    private readonly transport: Transport,
    private readonly userAgent: string,
    /** The registry's own retry policy and abort signal (retry.ts): the token service gets the same. */
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
    private readonly signal?: AbortSignal,
  ) {}

  private cred(): Promise<Credential | undefined> {
    this.credential ??= this.creds.get(this.credentialHost);
    return this.credential;
  }

  /** The Authorization header to send up front for `scope`, if any is known to be needed. */
  async header(scope: string): Promise<string | undefined> {
    if (this.scheme === 'basic') return this.basicHeader(await this.cred());
    if (this.scheme === 'bearer') {
      const t = this.tokens.get(scope);
      if (t && t.refreshAt > Date.now()) return `Bearer ${t.value}`;
      if (this.bearer) return `Bearer ${(await this.fetchToken(scope)).value}`;
    }
    return undefined;
  }

  private basicHeader(c: Credential | undefined): string | undefined {
    if (!c || c.username === undefined) return undefined;
    return 'Basic ' + Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64');
  }

  /**
   * A 401 answered a request that carried `sent` (the Authorization we sent, if any). Learn the
   * scheme from the challenge and return the header to retry with, or throw a clear error.
   * `again` is true when the request was already retried after a challenge: no further round.
   */
  async challenge(wwwAuthenticate: string | string[] | undefined, scope: string, sent: string | undefined, again: boolean): Promise<string> {
    const challenges = parseChallenges(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    const cred = await this.cred();
    if (bearer && bearer.params.realm) {
      if (again) throw sent ? this.denied(scope, cred) : this.needCredentials();
      // A cached token the registry refused (expired or revoked early) is dropped; one that a
      // parallel request fetched meanwhile is used as is.
      const cached = this.tokens.get(scope);
      if (cached && sent === `Bearer ${cached.value}`) this.tokens.delete(scope);
      else if (cached && cached.refreshAt > Date.now()) return `Bearer ${cached.value}`;
      this.scheme = 'bearer';
      this.bearer = { realm: bearer.params.realm, service: bearer.params.service };
      const challengeScope = bearer.params.scope;
      const want = challengeScope && !scope.split(' ').includes(challengeScope) ? `${scope} ${challengeScope}` : scope;
      const t = await this.fetchToken(want, scope);
      return `Bearer ${t.value}`;
    }
    if (basic || challenges.length === 0) {
      if (sent?.startsWith('Basic ') || again) throw this.failed();
      const h = this.basicHeader(cred);
      if (!h) throw this.needCredentials();
      this.scheme = 'basic';
      return h;
    }
    throw new UserError('EUNAUTHORIZED', `authentication required by ${this.displayHost} with an unsupported scheme (${challenges.map((c) => c.scheme).join(', ')})`);
  }

  private failed(): UserError {
    return new UserError('EUNAUTHORIZED', `authentication failed for ${this.displayHost}: check the credentials in the Docker config.json or credential helper`);
  }

  private needCredentials(): UserError {
    return new UserError(
      'EUNAUTHORIZED',
      `authentication required by ${this.displayHost} and no credentials found (docker login ${this.credentialHost}, or set REGISTRY_AUTH_FILE / DOCKER_CONFIG)`,
    );
  }

  private denied(scope: string, cred: Credential | undefined): UserError {
    if (!cred) return this.needCredentials();
    return new UserError('EDENIED', `access denied by ${this.displayHost} for ${scope}`);
  }

  /** Get (or reuse an in-flight request for) a token covering `scopes` (space separated), cached under `key`. */
  private fetchToken(scopes: string, key = scopes): Promise<Token> {
    let p = this.inflight.get(key);
    if (!p) {
      p = this.requestToken(scopes).then(
        (t) => {
          this.inflight.delete(key);
          this.tokens.set(key, t);
          return t;
        },
        (e) => {
          this.inflight.delete(key);
          throw e;
        },
      );
      this.inflight.set(key, p);
    }
    return p;
  }

  private async requestToken(scopes: string): Promise<Token> {
    const { realm, service } = this.bearer!;
    const cred = await this.cred();
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new UserError('EUNAUTHORIZED', `${this.displayHost} sent an invalid token realm`);
    }
    const scopeList = scopes.split(' ').filter(Boolean);
    const headers: Record<string, string> = { 'User-Agent': this.userAgent, Accept: 'application/json' };
    let method = 'GET';
    let body: string | undefined;
    if (cred?.identityToken) {
      // OAuth2 refresh-token grant, as docker does with an identity token.
      method = 'POST';
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.identityToken, client_id: 'ace-dt' });
      if (service) form.set('service', service);
      form.set('scope', scopeList.join(' '));
      body = form.toString();
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    } else {
      if (service) url.searchParams.set('service', service);
      for (const s of scopeList) url.searchParams.append('scope', s);
      const h = this.basicHeader(cred);
      if (h) headers.Authorization = h;
    }
    const what = `get token for ${this.displayHost}`;
    // The token service gets the registry's retry policy (retry.ts): 429, 5xx and dropped
    // connections are retried with jittered backoff, Retry-After honoured, the signal obeyed.
    let res!: Awaited<ReturnType<Transport['request']>>;
    for (let attempt = 1; ; attempt++) {
      if (this.signal?.aborted) throw classifyError(this.signal.reason, what);
      try {
        res = await this.transport.request({ method, url, headers, body, signal: this.signal }, what);
      } catch (e) {
        if (isRetryable(e) && attempt < this.retry.attempts) {
          await pause(backoff(this.retry, attempt), this.signal, what);
          continue;
        }
        throw e;
      }
      if (retryableStatus(res.statusCode) && attempt < this.retry.attempts) {
        const retryAfter = res.headers['retry-after'];
        await res.body.dump().catch(() => undefined);
        await pause(backoff(this.retry, attempt, retryAfter), this.signal, what);
        continue;
      }
      break;
    }
    const text = await readText(res.body, 1 << 20);
    if (res.statusCode === 401 || res.statusCode === 403) {
      if (cred) throw this.failed();
      throw this.needCredentials();
    }
    if (res.statusCode !== 200) {
      throw new UserError('EUNAUTHORIZED', `${what}: token service answered HTTP ${res.statusCode}`);
    }
    let parsed: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new UserError('EUNAUTHORIZED', `${what}: token service answer is not JSON`);
    }
    const value = parsed.token ?? parsed.access_token;
    if (!value) throw new UserError('EUNAUTHORIZED', `${what}: token service answer holds no token`);
    // Spec: expires_in defaults to 60 s. Count from now (clocks of the token server may differ).
    const expiresIn = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
    const lifetime = expiresIn * 1000;
    return { value, refreshAt: Date.now() + lifetime - Math.min(EXPIRY_MARGIN_MS, lifetime / 5) };
  }
}

/** Read a small body as text, at most `limit` bytes (the rest is discarded). */
export async function readText(body: AsyncIterable<unknown> & { destroy?: () => void }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const b = c as Buffer;
    if (n + b.length > limit) {
      chunks.push(b.subarray(0, limit - n));
      body.destroy?.();
      break;
    }
    chunks.push(b);
    n += b.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}
