import { type HasherFactory, nodeHasher } from '../oci/verify.js';

/**
 * The native Hasher factory when the addon loads, else nodeHasher; ACE_DT_HASHER=node forces
 * nodeHasher. Where it is used, and why, is the hashing policy at the top of src/oci/verify.ts.
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
