/**
 * A test PKI made with openssl: a CA, and server certificates it signs for given names and
 * validity (an expired one needs `openssl ca`, since `req`/`x509` refuse a past end date).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pki {
  dir: string;
  /** The CA certificate (PEM file). */
  caCert: string;
  caKey: string;
}

export function makeCA(dir: string, cn = 'ace-dt test CA'): Pki {
  mkdirSync(dir, { recursive: true });
  const caCert = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-keyout', caKey, '-out', caCert, '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'ignore' });
  return { dir, caCert, caKey };
}

let serial = 0;

/** A server certificate signed by the CA: `san` like `IP:127.0.0.1,DNS:localhost`; `expired` ended in 2020. */
export function makeServerCert(pki: Pki, name: string, san: string, opts: { expired?: boolean } = {}): { cert: string; key: string } {
  const d = join(pki.dir, name);
  mkdirSync(join(d, 'new'), { recursive: true });
  const key = join(d, 'key.pem');
  const csr = join(d, 'req.csr');
  const cert = join(d, 'cert.pem');
  execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`], { stdio: 'ignore' });
  writeFileSync(join(d, 'index.txt'), '');
  writeFileSync(join(d, 'serial'), `${(++serial).toString(16).padStart(2, '0')}\n`);
  writeFileSync(
    join(d, 'ca.cnf'),
    `[ca]\ndefault_ca = d\n[d]\ndatabase = ${join(d, 'index.txt')}\nnew_certs_dir = ${join(d, 'new')}\nserial = ${join(d, 'serial')}\n` +
      `default_md = sha256\npolicy = p\ncopy_extensions = copy\nunique_subject = no\n[p]\ncommonName = supplied\n`,
  );
  const dates = opts.expired ? ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z'] : ['-days', '2'];
  execFileSync('openssl', ['ca', '-batch', '-notext', '-config', join(d, 'ca.cnf'), '-cert', pki.caCert, '-keyfile', pki.caKey, '-in', csr, '-out', cert, ...dates], { stdio: 'ignore' });
  return { cert, key };
}
