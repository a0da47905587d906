/**
 * A real registry for tests: Debian's docker-registry (distribution 2.8) on a free loopback port
 * with a temporary storage root. No mocks (STYLE habit 8).
 *
 * Options: `htpasswd` turns on basic auth (bcrypt file made with apache2-utils' htpasswd), `tls`
 * serves HTTPS with a fresh self-signed certificate for 127.0.0.1/localhost (`caFile` is that
 * certificate, to install in a certs.d folder). Distribution 2.8 has no referrers API: it answers
 * 404, which exercises the tag-schema fallback.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';

export const REGISTRY_BIN = process.env.ACE_DT_TEST_REGISTRY ?? '/usr/bin/docker-registry';

export interface RegistryOptions {
  htpasswd?: { user: string; password: string };
  /** true: a fresh self-signed certificate; or a certificate and key made by the test (pki.ts). */
  tls?: boolean | { cert: string; key: string };
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` or `https://...` */
  url: string;
  /** Temp directory holding storage, config and (with tls) cert.pem/key.pem. */
  rootDir: string;
  /** With tls: the self-signed certificate (PEM) that a client must trust. */
  caFile?: string;
  /** The docker-registry process (benchmarks read its CPU time from /proc). */
  pid: number;
  stop(): Promise<void>;
}

/** A free loopback TCP port (bound and released; the registry start is retried on a race). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Make a self-signed certificate valid for 127.0.0.1 and localhost. */
export function makeSelfSignedCert(dir: string, cn = '127.0.0.1'): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
    '-keyout', key, '-out', cert, '-subj', `/CN=${cn}`,
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-addext', 'basicConstraints=critical,CA:TRUE',
  ], { stdio: 'ignore' });
  return { cert, key };
}

function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(
      url + '/v2/',
      { method: 'GET', rejectUnauthorized: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const rootDir = await mkdtemp(join(tmpdir(), 'ace-dt-registry-'));
  let lastErr = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const lines = [
      'version: 0.1',
      'log: {level: error, accesslog: {disabled: true}}',
      `storage: {filesystem: {rootdirectory: ${JSON.stringify(join(rootDir, 'data'))}}, delete: {enabled: true}, maintenance: {uploadpurging: {enabled: false}}}`,
    ];
    let caFile: string | undefined;
    if (opts.tls) {
      const { cert, key } = opts.tls === true ? makeSelfSignedCert(rootDir) : opts.tls;
      caFile = opts.tls === true ? cert : undefined;
      lines.push(`http: {addr: ${JSON.stringify(host)}, tls: {certificate: ${JSON.stringify(cert)}, key: ${JSON.stringify(key)}}}`);
    } else {
      lines.push(`http: {addr: ${JSON.stringify(host)}}`);
    }
    if (opts.htpasswd) {
      const file = join(rootDir, 'htpasswd');
      const line = execFileSync('htpasswd', ['-Bbn', opts.htpasswd.user, opts.htpasswd.password], { encoding: 'utf8' });
      await writeFile(file, line.trim() + '\n');
      lines.push(`auth: {htpasswd: {realm: ace-dt-test, path: ${JSON.stringify(file)}}}`);
    }
    const configFile = join(rootDir, 'config.yml');
    await writeFile(configFile, lines.join('\n') + '\n');
    const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    let exited = false;
    child.on('exit', () => {
      exited = true;
    });
    const url = `${opts.tls ? 'https' : 'http'}://${host}`;
    const deadline = Date.now() + 15000;
    let up = false;
    while (Date.now() < deadline && !exited) {
      const status = await probe(url);
      if (status === 200 || status === 401) {
        up = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (up) {
      let stopping = false;
      // A registry that dies under a test shows up as ECONNREFUSED there; say why here.
      child.on('exit', (code, signal) => {
        if (!stopping) process.stderr.write(`# docker-registry ${host} exited unexpectedly (code ${code}, signal ${signal}): ${stderr.slice(-500)}\n`);
      });
      const stop = async () => {
        stopping = true;
        if (!exited) {
          const done = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
          await done;
          clearTimeout(timer);
        }
        await rm(rootDir, { recursive: true, force: true });
      };
      return { host, url, rootDir, caFile, pid: child.pid!, stop };
    }
    child.kill('SIGKILL');
    lastErr = stderr;
  }
  await rm(rootDir, { recursive: true, force: true });
  throw new Error(`docker-registry did not start: ${lastErr}`);
}

// -------------------------------------------------------------------------------------------------
// A registry behind a bearer-token service (distribution's token auth, as Docker Hub does it)

export interface TokenAuthOptions {
  /** The registry to put behind token auth: `127.0.0.1:PORT`. */
  upstream: string;
  user: string;
  password: string;
  /** Token lifetime announced and enforced (seconds). */
  expiresIn?: number;
  /** Issue tokens to anonymous clients too (pull only). */
  anonymousPull?: boolean;
  /**
   * Repositories the user may not pull: the token service leaves `pull` out of any scope it
   * grants on them (granting the rest, as token services grant the intersection), and a
   * cross-repository mount from them is then refused (it needs pull on `from`).
   */
  pullDenied?: string[];
}

export interface TokenAuthProxy {
  /** The registry host clients talk to. */
  host: string;
  /** The token service host (realm `http://<tokenHost>/token`). */
  tokenHost: string;
  /** Every token issued: who asked, for which scopes, and the value. */
  issued: { user: string | undefined; scopes: string[]; token: string; grant: 'basic' | 'refresh_token' | 'anonymous' }[];
  /** Refresh tokens accepted for the OAuth2 grant (docker's identitytoken). */
  refreshTokens: Set<string>;
  stop(): Promise<void>;
}

/**
 * A loopback token service and a proxy that admits only requests with a valid, unexpired bearer
 * token whose scope covers the repository and action (pull for GET/HEAD, push otherwise).
 */
export async function startTokenAuthProxy(opts: TokenAuthOptions): Promise<TokenAuthProxy> {
  const { createServer, request } = await import('node:http');
  const expiresIn = opts.expiresIn ?? 300;
  const issued: TokenAuthProxy['issued'] = [];
  const refreshTokens = new Set<string>();
  const tokens = new Map<string, { scopes: string[]; expires: number }>();
  let counter = 0;
  const upstream = new URL(`http://${opts.upstream}`);
  const service = 'ace-dt-test-registry';

  const tokenServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/token') return void res.writeHead(404).end();
      let user: string | undefined;
      let grant: 'basic' | 'refresh_token' | 'anonymous' = 'anonymous';
      let scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' '));
      if (req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString());
        if (form.get('grant_type') !== 'refresh_token' || !refreshTokens.has(form.get('refresh_token') ?? '')) {
          return void res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error":"invalid_grant"}');
        }
        grant = 'refresh_token';
        user = opts.user;
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      } else {
        const auth = req.headers.authorization;
        if (auth?.startsWith('Basic ')) {
          const [u, ...p] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
          if (u !== opts.user || p.join(':') !== opts.password) {
            return void res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"incorrect username or password"}');
          }
          user = u;
          grant = 'basic';
        } else if (!opts.anonymousPull) {
          return void res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"authentication required"}');
        } else {
          // Anonymous: pull only.
          scopes = scopes.map((s) => s.replace(/:pull,push$|:push,pull$|:push$/, ':pull'));
        }
      }
      if (opts.pullDenied?.length) {
        scopes = scopes.flatMap((s) => {
          const [kind, name, actions] = s.split(':');
          if (kind !== 'repository' || !opts.pullDenied!.includes(name)) return [s];
          const left = actions.split(',').filter((a) => a !== 'pull');
          return left.length ? [`${kind}:${name}:${left.join(',')}`] : [];
        });
      }
      const token = `tok-${++counter}-${Math.random().toString(36).slice(2)}`;
      tokens.set(token, { scopes, expires: Date.now() + expiresIn * 1000 });
      issued.push({ user, scopes, token, grant });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() }));
    });
  });

  const listen = (srv: import('node:http').Server) =>
    new Promise<string>((resolve) =>
      srv.listen(0, '127.0.0.1', () => {
        const a = srv.address();
        resolve(`127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`);
      }),
    );
  const tokenHost = await listen(tokenServer);

  const proxy = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const m = /^\/v2\/(.+?)\/(manifests|blobs|tags|referrers)\//.exec(path);
    const repo = m?.[1];
    const action = req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'push';
    // A cross-repository mount also needs pull on its source (distribution's access records).
    const from = req.method === 'POST' && m?.[2] === 'blobs' ? new URL(req.url ?? '/', 'http://x').searchParams.get('from') : null;
    const scope = repo ? `repository:${repo}:${action === 'pull' ? 'pull' : 'pull,push'}${from ? ` repository:${from}:pull` : ''}` : '';
    const deny = () => {
      req.resume();
      res.writeHead(401, {
        'Content-Type': 'application/json',
        'WWW-Authenticate': `Bearer realm="http://${tokenHost}/token",service="${service}"${scope ? `,scope="${scope}"` : ''}`,
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    };
    const auth = req.headers.authorization;
    const t = auth?.startsWith('Bearer ') ? tokens.get(auth.slice(7)) : undefined;
    if (!t || t.expires < Date.now()) return deny();
    const allows = (name: string, act: string) =>
      t.scopes.some((s) => {
        const [kind, n, actions] = s.split(':');
        return kind === 'repository' && n === name && actions.split(',').includes(act);
      });
    if (repo && !allows(repo, action)) return deny();
    if (from && !allows(from, 'pull')) return deny();
    const up = request(new URL(req.url ?? '/', upstream), { method: req.method, headers: { ...req.headers, host: upstream.host, authorization: '' } }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  const host = await listen(proxy);
  const close = (srv: import('node:http').Server) =>
    new Promise<void>((resolve) => {
      srv.closeAllConnections();
      srv.close(() => resolve());
    });
  return { host, tokenHost, issued, refreshTokens, stop: async () => void (await Promise.all([close(proxy), close(tokenServer)])) };
}
