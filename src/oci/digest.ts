import { OciError } from '../errors.js';

/** Digest algorithms we can compute, with the length of their hex encoding. */
const ALGORITHMS: Record<string, number> = { sha256: 64, sha512: 128 };

export interface ParsedDigest {
  algorithm: string;
  hex: string;
}

/** Parses `alg:hex` strictly (image-spec descriptor.md "Digests"); no path characters can pass. */
export function parseDigest(digest: string): ParsedDigest {
  const m = /^([a-z0-9]+):([a-f0-9]+)$/.exec(digest);
  const len = m ? ALGORITHMS[m[1]] : undefined;
  if (!m || len === undefined || m[2].length !== len) {
    throw new OciError('EDIGEST', `invalid digest ${JSON.stringify(digest)}`);
  }
  return { algorithm: m[1], hex: m[2] };
}

export function isValidDigest(digest: string): boolean {
  try {
    parseDigest(digest);
    return true;
  } catch {
    return false;
  }
}

/** Path of a blob inside an OCI layout: `blobs/<alg>/<hex>`. */
export function blobPath(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}
