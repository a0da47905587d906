/**
 * A registry with a self-signed certificate: refused by default, accepted with its CA in a
 * certs.d folder (~/.docker/certs.d/<host>/ca.crt, or a root named by ACE_DT_CERTS_DIRS), or with
 * the endpoint's tls.insecureSkipVerify.
 */
import t from 'tap';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRegistrySource } from '../../src/source/registry.js';
import { parseConfig } from '../../src/config/index.js';
import { startRegistry } from '../helpers/registry.js';
import { pushImage, pushTwoPlatformIndex, sha256 } from '../helpers/images.js';
import { landed } from '../helpers/landing.js';

const reg = await startRegistry({ tls: true });
t.teardown(() => reg.stop());
const img = await pushTwoPlatformIndex(reg.url, 'tls/img', 'v1');
const tmp = await mkdtemp(join(tmpdir(), 'ace-dt-tls-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

const baseEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: join(tmp, "empty-home") };
  delete env.ACE_DT_CERTS_DIRS;
  return env;
};
const https = (extra = '') =>
  parseConfig(`apiVersion: config.dt.act3-ace.io/v1alpha1
kind: Configuration
registryConfig:
  registries:
    ${reg.host}:
      endpoints: [https://${reg.host}]
${extra}`);
const ref = `${reg.host}/tls/img:v1`;

t.test('self-signed certificate refused by default', async (t) => {
  const src = await openRegistrySource(ref, { config: https(), env: baseEnv() });
  t.teardown(() => src.close());
  await t.rejects(src.resolve(), { code: 'ETLS', message: /TLS certificate not trusted/ });
});

t.test('accepted with the CA in ~/.docker/certs.d/<host>/', async (t) => {
  const home = join(tmp, 'home');
  await mkdir(join(home, '.docker', 'certs.d', reg.host), { recursive: true });
  await copyFile(reg.caFile!, join(home, '.docker', 'certs.d', reg.host, 'ca.crt'));
  const src = await openRegistrySource(ref, { config: https(), env: { ...baseEnv(), HOME: home } });
  t.teardown(() => src.close());
  t.equal((await src.resolve()).digest, img.index.digest);
  const b = img.blobs[0];
  const chunks: Buffer[] = [];
  for await (const c of await src.fetchBlob(b)) chunks.push(Buffer.from(c));
  t.equal(sha256(Buffer.concat(chunks)), b.digest);
  // A large blob comes on a bare TLS socket (src/registry/socket.ts), verified with the same CA.
  const big = (await pushImage(reg.url, 'tls/img', 'big', [{ size: 3 << 20, seed: 77 }])).blobs.find((d) => d.size === 3 << 20)!;
  const piece: Buffer[] = [];
  await (await src.fetchBlob(big)).pipeTo((c) => void piece.push(Buffer.from(c)));
  t.equal(sha256(Buffer.concat(piece)), big.digest, 'a 3 MiB blob over the TLS socket');
  const r = await landed(await src.fetchBlob(big), big.size);
  t.equal(sha256(r.bytes), big.digest, 'and received straight into a landing');
  t.ok(r.landed > big.size / 2 && r.misplaced === 0 && r.overreach === 0, `${r.landed} bytes landed in place, none out of place`);
  // Without the CA, the socket refuses the certificate as undici does.
  const untrusted = await openRegistrySource(ref, { config: https(), env: baseEnv(), retry: { attempts: 1 } });
  t.teardown(() => untrusted.close());
  await t.rejects(untrusted.fetchBlob(big), { code: 'ETLS', message: /TLS certificate not trusted/ });
});

t.test('accepted with the CA in a certs.d root from ACE_DT_CERTS_DIRS', async (t) => {
  const root = join(tmp, 'certs.d');
  await mkdir(join(root, reg.host), { recursive: true });
  await copyFile(reg.caFile!, join(root, reg.host, 'registry.crt'));
  const src = await openRegistrySource(ref, { config: https(), env: { ...baseEnv(), ACE_DT_CERTS_DIRS: root } });
  t.teardown(() => src.close());
  t.equal((await src.resolve()).digest, img.index.digest);
});

t.test('accepted with insecureSkipVerify', async (t) => {
  const config = https(`  endpointConfig:
    https://${reg.host}:
      tls:
        insecureSkipVerify: true
`);
  const src = await openRegistrySource(ref, { config, env: baseEnv() });
  t.teardown(() => src.close());
  t.equal((await src.resolve()).digest, img.index.digest);
});

t.test('plain HTTP to a TLS endpoint names the likely cause', async (t) => {
  // Loopback defaults to plain HTTP; this registry speaks TLS only.
  const src = await openRegistrySource(ref, { env: baseEnv(), retry: { attempts: 1 } });
  t.teardown(() => src.close());
  await t.rejects(src.resolve(), { message: /HTTP request to an HTTPS server/ });
});
