/**
 * The CAs every TLS connection trusts, as Go programs (docker, podman, skopeo, the original) and
 * curl trust them, not only Node's bundled roots: enterprise registries on the high side are
 * signed by an internal CA that is installed in the operating system's store.
 *
 *  - Node's bundled roots (`tls.rootCertificates`);
 *  - the system store, read as Go's crypto/x509 reads it on Linux (root_unix.go): the first
 *    readable bundle of `$SSL_CERT_FILE` or else the distributions' files
 *    (/etc/ssl/certs/ca-certificates.crt ...), plus every file in `$SSL_CERT_DIR` (colon-separated)
 *    or else /etc/ssl/certs and /etc/pki/tls/certs;
 *  - `NODE_EXTRA_CA_CERTS`: Node adds it to its default store only, which any explicit `ca` list
 *    replaces, so it is read here and kept next to a registry's certs.d CAs (transport.ts).
 * Blocks that are not certificates are skipped, as Go's AppendCertsFromPEM skips them.
 */
import { X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import { join } from 'node:path';

const CERT_FILES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Gentoo
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL 6
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/pki/tls/cacert.pem', // OpenELEC
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // CentOS, RHEL 7
  '/etc/ssl/cert.pem', // Alpine
];
const CERT_DIRS = ['/etc/ssl/certs', '/etc/pki/tls/certs'];

/** The certificates in a PEM text that parse (the others are skipped). */
export function pemCertificates(text: string): string[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.filter((pem) => {
    try {
      new X509Certificate(pem);
      return true;
    } catch {
      return false;
    }
  });
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The system store's certificates (Go's order and environment variables). */
export async function systemCertificates(env: NodeJS.ProcessEnv): Promise<string[]> {
  const out: string[] = [];
  for (const file of env.SSL_CERT_FILE ? [env.SSL_CERT_FILE] : CERT_FILES) {
    const text = await readText(file);
    if (text !== undefined) {
      out.push(...pemCertificates(text));
      break;
    }
  }
  for (const dir of env.SSL_CERT_DIR ? env.SSL_CERT_DIR.split(':').filter(Boolean) : CERT_DIRS) {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch {
      continue;
    }
    // /etc/ssl/certs holds each CA several times (a file, hash links, the bundle): the union below
    // keeps one copy, and parsing each PEM once is a few milliseconds per process.
    const texts = await Promise.all(names.map((name) => readText(join(dir, name))));
    for (const text of texts) if (text) out.push(...pemCertificates(text));
  }
  return out;
}

const cache = new Map<string, Promise<string[]>>();

/** Node's roots + the system store + NODE_EXTRA_CA_CERTS, without duplicates; read once per process and environment. */
export function trustedRoots(env: NodeJS.ProcessEnv): Promise<string[]> {
  const key = [env.SSL_CERT_FILE, env.SSL_CERT_DIR, env.NODE_EXTRA_CA_CERTS].join('\0');
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const extra = env.NODE_EXTRA_CA_CERTS ? pemCertificates((await readText(env.NODE_EXTRA_CA_CERTS)) ?? '') : [];
      const all = [...rootCertificates, ...(await systemCertificates(env)), ...extra];
      return [...new Set(all.map((pem) => pem.trim()))];
    })();
    cache.set(key, p);
  }
  return p;
}
