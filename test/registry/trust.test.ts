/**
 * Which CAs a TLS connection trusts (src/registry/trust.ts) and what a refusal says, against real
 * docker-registry processes serving certificates from a generated CA: the CA only in a temporary
 * SSL_CERT_FILE (as an enterprise CA installed in the system store), in SSL_CERT_DIR, in
 * NODE_EXTRA_CA_CERTS next to a certs.d folder; a certificate for another name, an expired one;
 * certs.d files that cannot be used are reported with their path.
 */
import t from 'tap';
import { mkdir, mkdtemp, rm, symlink, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRegistrySource } from '../../src/source/registry.js';
import { parseConfig } from '../../src/config/index.js';
import { startRegistry } from '../helpers/registry.js';
import { makeCA, makeServerCert } from '../helpers/pki.js';
import { pushImage, pushTwoPlatformIndex, sha256 } from '../helpers/images.js';

const tmp = await mkdtemp(join(tmpdir(), 'ace-dt-trust-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));
const pki = makeCA(join(tmp, 'pki'));
const other = makeCA(join(tmp, 'other-pki'), 'unrelated CA');
const LOOPBACK = 'IP:127.0.0.1,DNS:localhost';

const good = await startRegistry({ tls: makeServerCert(pki, 'good', LOOPBACK) });
t.teardown(() => good.stop());
const img = await pushTwoPlatformIndex(good.url, 'trust/img', 'v1');

const emptyDir = join(tmp, 'empty');
await mkdir(emptyDir);
const emptyFile = join(tmp, 'empty.pem');
await writeFile(emptyFile, '');
/** No CA of ours anywhere: an empty system store, no certs.d, no NODE_EXTRA_CA_CERTS. */
const bareEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: join(tmp, 'home'), SSL_CERT_FILE: emptyFile, SSL_CERT_DIR: emptyDir, ACE_DT_CERTS_DIRS: join(tmp, 'no-certs.d') };
  delete env.NODE_EXTRA_CA_CERTS;
  return { ...env, ...extra };
};
const httpsTo = (host: string) =>
  parseConfig(`apiVersion: config.dt.act3-ace.io/v1alpha1
kind: Configuration
registryConfig:
  registries:
    ${host}:
      endpoints: [https://${host}]
`);
const open = (host: string, env: NodeJS.ProcessEnv, warn?: (m: string) => void) =>
  openRegistrySource(`${host}/trust/img:v1`, { config: httpsTo(host), env, retry: { attempts: 1 }, warn });

t.test('the CA only in a temporary SSL_CERT_FILE is trusted (the system store, as Go reads it)', async (t) => {
  const without = await open(good.host, bareEnv());
  t.teardown(() => without.close());
  await t.rejects(without.resolve(), { code: 'ETLS', message: /not trusted/ }, 'refused while the store lacks the CA');

  const bundle = join(tmp, 'bundle.pem');
  await copyFile(pki.caCert, bundle);
  const src = await open(good.host, bareEnv({ SSL_CERT_FILE: bundle }));
  t.teardown(() => src.close());
  t.equal((await src.resolve()).digest, img.index.digest);
  // A large blob goes over the bare TLS socket (socket.ts), with the same trust.
  const big = (await pushImage(good.url, 'trust/img', 'big', [{ size: 3 << 20, seed: 12 }])).blobs.find((d) => d.size === 3 << 20)!;
  const chunks: Buffer[] = [];
  await (await src.fetchBlob(big)).pipeTo((c) => void chunks.push(Buffer.from(c)));
  t.equal(sha256(Buffer.concat(chunks)), big.digest, 'a 3 MiB blob over the TLS socket');
});

t.test('the CA in SSL_CERT_DIR is trusted', async (t) => {
  const dir = join(tmp, 'certdir');
  await mkdir(dir);
  await copyFile(pki.caCert, join(dir, 'enterprise-ca.pem'));
  const src = await open(good.host, bareEnv({ SSL_CERT_DIR: `${emptyDir}:${dir}` }));
  t.teardown(() => src.close());
  t.equal((await src.resolve()).digest, img.index.digest);
});

t.test('NODE_EXTRA_CA_CERTS adds to a certs.d folder instead of being replaced by it', async (t) => {
  const root = join(tmp, 'certs.d-extra');
  await mkdir(join(root, good.host), { recursive: true });
  await copyFile(other.caCert, join(root, good.host, 'ca.crt'));
  const src = await open(good.host, bareEnv({ NODE_EXTRA_CA_CERTS: pki.caCert, ACE_DT_CERTS_DIRS: root }));
  t.teardown(() => src.close());
  t.equal((await src.resolve()).digest, img.index.digest);
});

t.test('a certificate for another host name is named as such, with no "add the CA" hint', async (t) => {
  const reg = await startRegistry({ tls: makeServerCert(pki, 'wrong-name', 'DNS:registry.other.example') });
  t.teardown(() => reg.stop());
  const src = await open(reg.host, bareEnv({ NODE_EXTRA_CA_CERTS: pki.caCert }));
  t.teardown(() => src.close());
  const err = await src.resolve().catch((e: Error) => e);
  t.match(err, { code: 'ETLS', message: /another host name.*ERR_TLS_CERT_ALTNAME_INVALID/ });
  t.notMatch((err as Error).message, /add the registry's CA|not trusted/);
});

t.test('an expired certificate is named as such, with no "add the CA" hint', async (t) => {
  const reg = await startRegistry({ tls: makeServerCert(pki, 'expired', LOOPBACK, { expired: true }) });
  t.teardown(() => reg.stop());
  const src = await open(reg.host, bareEnv({ NODE_EXTRA_CA_CERTS: pki.caCert }));
  t.teardown(() => src.close());
  const err = await src.resolve().catch((e: Error) => e);
  t.match(err, { code: 'ETLS', message: /expired \(CERT_HAS_EXPIRED\)/ });
  t.notMatch((err as Error).message, /add the registry's CA|not trusted/);
});

t.test('certs.d files that cannot be used are reported with their path', async (t) => {
  const root = join(tmp, 'certs.d-bad');
  const hostname = good.host.replace(/:\d+$/, '');
  // The CA in a folder named without the port: docker and podman do not look there.
  await mkdir(join(root, hostname), { recursive: true });
  await copyFile(pki.caCert, join(root, hostname, 'ca.crt'));
  // In the right folder: a dangling link and a file that holds no certificate.
  await mkdir(join(root, good.host), { recursive: true });
  await symlink(join(tmp, 'gone.crt'), join(root, good.host, 'ca.crt'));
  await writeFile(join(root, good.host, 'notes.crt'), 'not a certificate\n');
  const warnings: string[] = [];
  const src = await open(good.host, bareEnv({ ACE_DT_CERTS_DIRS: root }), (m) => warnings.push(m));
  t.teardown(() => src.close());
  await t.rejects(src.resolve(), { code: 'ETLS', message: /not trusted/ });
  t.match(warnings.join('\n'), `${join(root, hostname)} is not used for ${good.host}`);
  t.match(warnings.join('\n'), `rename it to ${join(root, good.host)}`);
  t.match(warnings.join('\n'), `CA file ${join(root, good.host, 'ca.crt')} for ${good.host} cannot be read (ENOENT)`);
  t.match(warnings.join('\n'), `CA file ${join(root, good.host, 'notes.crt')} for ${good.host} holds no PEM certificate`);
});
