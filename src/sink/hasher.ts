import { type HasherFactory, nodeHasher } from '../oci/verify.js';

/**
 * Hashing on the native addon's thread (OpenSSL, SHA extensions) when the addon loads, else
 * node's crypto on the JavaScript thread (SPEC "Performance"). ACE_DT_HASHER=node forces node's
 * crypto, so a benchmark can compare the two in one run.
 */
export async function loadHasher(): Promise<HasherFactory> {
  if (process.env.ACE_DT_HASHER === 'node') return nodeHasher;
  try {
    const sink = await import('./index.js');
    sink.createHasher('sha256'); // loads the addon now: a missing build falls back here, not mid-run
    return (alg) => sink.createHasher(alg as 'sha256' | 'sha512');
  } catch {
    return nodeHasher;
  }
}
