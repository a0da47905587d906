/**
 * The one retry policy of the registry layer (issue 11), used by client.ts's send() for every
 * registry request and by auth.ts for the token service alike: bounded attempts, exponential
 * backoff with jitter (so a window of requests failing together does not retry together),
 * `Retry-After` honoured (capped), and the abort signal ending any wait at once. Decisions look at
 * HTTP statuses and error codes only, never at messages; low-level failures are mapped to codes
 * here (classifyError).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AceError, UserError } from '../errors.js';

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

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 10_000, resumesWithoutProgress: 4, resumesTotal: 50 };

/** Longest Retry-After we wait for; a registry asking for more gets a clear error sooner. */
const MAX_RETRY_AFTER_MS = 60_000;

/** Statuses worth another attempt: rate limited, or a server or gateway failing for now. */
export function retryableStatus(status: number): boolean {
  return status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

/** The wait before attempt `attempt + 1`: the server's Retry-After, else jittered exponential backoff. */
export function backoff(policy: RetryPolicy, attempt: number, retryAfter?: string | string[]): number {
  const ra = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
  if (ra !== undefined) {
    const secs = Number(ra);
    const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(ra) - Date.now();
    if (Number.isFinite(ms)) return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
  }
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return exp / 2 + Math.random() * (exp / 2);
}

/** Wait before a retry; an abort ends the wait with a classified error (EABORTED). */
export async function pause(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch (e) {
    throw classifyError(signal?.reason ?? e, what);
  }
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

/**
 * What a certificate failure means and what to do, by cause (issue 15): only an unknown issuer is
 * fixed by adding a CA; a certificate for another name or out of its validity period is not.
 */
function tlsHint(code: string, err: Error & { reason?: string }): string {
  const untrusted = new Set([
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_GET_ISSUER_CERT',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  ]);
  if (untrusted.has(code)) {
    return `TLS certificate not trusted (${code}): its issuer is in no trusted store; add the registry's CA as ca.crt in ~/.docker/certs.d/<host:port>/ or /etc/docker/certs.d/<host:port>/ or to the system store (SSL_CERT_FILE, /etc/ssl/certs), or set tls.insecureSkipVerify for the endpoint in the configuration`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `TLS certificate is for another host name (${code}: ${err.reason ?? err.message}); use a registry name the certificate lists, or have the certificate reissued with this name`;
  }
  if (code === 'CERT_HAS_EXPIRED') return `TLS certificate has expired (${code}); the registry needs a renewed certificate (or this machine's clock is wrong)`;
  if (code === 'CERT_NOT_YET_VALID') return `TLS certificate is not valid yet (${code}); check this machine's clock`;
  return `TLS certificate rejected (${code}: ${err.message})`;
}

/** The error a low-level failure maps to: ENETWORK (retryable), ETLS, EABORTED or the original. */
export function classifyError(e: unknown, what: string): unknown {
  if (e instanceof AceError) return e;
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = err?.code ?? err?.cause?.code ?? '';
  if (err?.name === 'AbortError' || code === 'ABORT_ERR' || code === 'UND_ERR_ABORTED') {
    return new AceError('EABORTED', `${what}: aborted`, { cause: e });
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ALTNAME/.test(code)) {
    return new UserError('ETLS', `${what}: ${tlsHint(code, err)}`, { cause: e });
  }
  if (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(String(err?.message))) {
    return new UserError('ETLS', `${what}: TLS handshake failed (${code}); is the endpoint plain HTTP? Use an http:// endpoint in the configuration`, { cause: e });
  }
  if (code === 'ENOTFOUND') return new UserError('ENETWORK_HOST', `${what}: host not found (ENOTFOUND)`, { cause: e });
  if (NETWORK_CODES.has(code) || err?.name === 'SocketError') {
    return new AceError('ENETWORK', `${what}: ${code || 'connection failed'}`, { cause: e });
  }
  return e;
}

export function isRetryable(e: unknown): boolean {
  return e instanceof AceError && e.code === 'ENETWORK';
}
