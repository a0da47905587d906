/**
 * Registry credentials from Docker's config.json, podman's and skopeo's auth.json and credential
 * helpers, as docker, podman, skopeo and crane read them.
 *
 * Files: $ACE_DT_REGISTRY_AUTH_FILE, else $REGISTRY_AUTH_FILE, else the config's registryAuthFile
 * (one file, behaviour note 7.4 precedence); without any of them, docker's
 * ($DOCKER_CONFIG/config.json, else ~/.docker/config.json) and then podman's
 * ($XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json): the first file with an
 * entry for the host answers.
 * Entry, as docker reads it: `credHelpers[host]`, else the `credsStore` when it knows the host
 * (with a store, inline `auths` entries are mostly placeholders), else `auths[host]` (`auth` =
 * base64 user:password, or `username`/`password`, `identitytoken`).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';

export interface Credential {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (docker's `identitytoken`), exchanged at the token endpoint. */
  identityToken?: string;
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** The credential files to read, in order. */
export function authFilePaths(env: NodeJS.ProcessEnv, configured?: string): string[] {
  if (env.ACE_DT_REGISTRY_AUTH_FILE) return [env.ACE_DT_REGISTRY_AUTH_FILE];
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
  if (configured) return [configured];
  const home = env.HOME || homedir();
  const files = [env.DOCKER_CONFIG ? join(env.DOCKER_CONFIG, 'config.json') : join(home, '.docker', 'config.json')];
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  files.push(join(home, '.config', 'containers', 'auth.json'));
  return files;
}

/** `https://index.docker.io/v1/` and `docker.io` name the same registry; keys may carry a scheme or path. */
export function normaliseAuthKey(key: string): string {
  let k = key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  if (k === 'index.docker.io' || k === 'registry-1.docker.io') k = 'docker.io';
  return k;
}

export class CredentialStore {
  private files?: Promise<DockerConfigFile[]>;
  private cache = new Map<string, Promise<Credential | undefined>>();

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly configuredFile?: string,
  ) {}

  private load(): Promise<DockerConfigFile[]> {
    this.files ??= Promise.all(authFilePaths(this.env, this.configuredFile).map(readConfig)).then((all) => all.filter((c) => c !== undefined));
    return this.files;
  }

  /** Credentials for a registry host (`host[:port]`, docker.io normalised), or undefined. */
  get(host: string): Promise<Credential | undefined> {
    const key = normaliseAuthKey(host);
    let p = this.cache.get(key);
    if (!p) {
      p = this.lookup(key);
      this.cache.set(key, p);
    }
    return p;
  }

  private async lookup(host: string): Promise<Credential | undefined> {
    for (const cfg of await this.load()) {
      const cred = await this.lookupIn(cfg, host);
      if (cred) return cred;
    }
    return undefined;
  }

  private async lookupIn(cfg: DockerConfigFile, host: string): Promise<Credential | undefined> {
    const helper = Object.entries(cfg.credHelpers ?? {}).find(([k]) => normaliseAuthKey(k) === host)?.[1];
    if (helper) return runHelper(helper, helperServer(cfg, host), this.env);
    if (cfg.credsStore) {
      const stored = await runHelper(cfg.credsStore, helperServer(cfg, host), this.env);
      if (stored) return stored;
    }
    const entry = Object.entries(cfg.auths ?? {}).find(([k]) => normaliseAuthKey(k) === host)?.[1];
    if (entry) {
      const cred: Credential = {};
      if (entry.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon < 0) throw new UserError('ECREDENTIALS', `credentials for ${host}: "auth" is not base64 of user:password`);
        cred.username = decoded.slice(0, colon);
        cred.password = decoded.slice(colon + 1);
      } else if (entry.username !== undefined) {
        cred.username = entry.username;
        cred.password = entry.password ?? '';
      }
      if (entry.identitytoken) cred.identityToken = entry.identitytoken;
      if (cred.username !== undefined || cred.identityToken) return cred;
    }
    return undefined;
  }
}

async function readConfig(path: string): Promise<DockerConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined; // no file: nothing from it
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
    return parsed as DockerConfigFile;
  } catch (e) {
    throw new UserError('ECREDENTIALS', `credentials file ${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** Docker stores Docker Hub under its legacy URL; helpers want the key as it was stored. */
function helperServer(cfg: DockerConfigFile, host: string): string {
  if (host === 'docker.io') return 'https://index.docker.io/v1/';
  const key = [...Object.keys(cfg.auths ?? {}), ...Object.keys(cfg.credHelpers ?? {})].find((k) => normaliseAuthKey(k) === host);
  return key ?? host;
}

/** Run `docker-credential-NAME get` (docker-credential-helpers protocol). */
function runHelper(name: string, server: string, env: NodeJS.ProcessEnv): Promise<Credential | undefined> {
  const bin = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['get'], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(new UserError('ECREDENTIALS', `credential helper ${bin} for ${server}: cannot run it (${e.code ?? e.message})`));
    });
    child.on('close', (code) => {
      if (code !== 0) {
        // "credentials not found" is not an error: anonymous access may still work.
        if (/not found/i.test(out + err)) return resolve(undefined);
        return reject(new UserError('ECREDENTIALS', `credential helper ${bin} for ${server} failed (exit ${code}): ${(out + err).trim().slice(0, 200)}`));
      }
      try {
        const r = JSON.parse(out) as { Username?: string; Secret?: string };
        if (r.Username === '<token>') return resolve({ identityToken: r.Secret });
        resolve({ username: r.Username ?? '', password: r.Secret ?? '' });
      } catch {
        reject(new UserError('ECREDENTIALS', `credential helper ${bin} for ${server}: output is not JSON`));
      }
    });
    child.stdin.on('error', () => {});
    child.stdin.end(server);
  });
}
