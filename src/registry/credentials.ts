/**
 * Registry credentials from Docker's config.json and credential helpers, as docker, podman,
 * skopeo and crane read them.
 *
 * File: $ACE_DT_REGISTRY_AUTH_FILE, else $REGISTRY_AUTH_FILE, else the config's registryAuthFile,
 * else $DOCKER_CONFIG/config.json, else ~/.docker/config.json (behaviour note 7.4 precedence).
 * Entry: `credHelpers[host]`, else `auths[host]` (`auth` = base64 user:password, or
 * `username`/`password`, `identitytoken`), else `credsStore` (`docker-credential-NAME get`, the
 * host on stdin).
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

export function authFilePath(env: NodeJS.ProcessEnv, configured?: string): string {
  if (env.ACE_DT_REGISTRY_AUTH_FILE) return env.ACE_DT_REGISTRY_AUTH_FILE;
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  if (configured) return configured;
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, 'config.json');
  return join(env.HOME || homedir(), '.docker', 'config.json');
}

/** `https://index.docker.io/v1/` and `docker.io` name the same registry; keys may carry a scheme or path. */
export function normaliseAuthKey(key: string): string {
  let k = key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  if (k === 'index.docker.io' || k === 'registry-1.docker.io') k = 'docker.io';
  return k;
}

export class CredentialStore {
  private file?: Promise<DockerConfigFile | undefined>;
  private cache = new Map<string, Promise<Credential | undefined>>();

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly configuredFile?: string,
  ) {}

  private load(): Promise<DockerConfigFile | undefined> {
    this.file ??= (async () => {
      const path = authFilePath(this.env, this.configuredFile);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch {
        return undefined; // no file: anonymous access
      }
      try {
        const parsed = JSON.parse(text) as unknown;
        if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
        return parsed as DockerConfigFile;
      } catch (e) {
        throw new UserError('ECREDENTIALS', `credentials file ${path}: not valid JSON (${(e as Error).message})`);
      }
    })();
    return this.file;
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
    const cfg = await this.load();
    if (!cfg) return undefined;
    const helper = Object.entries(cfg.credHelpers ?? {}).find(([k]) => normaliseAuthKey(k) === host)?.[1];
    if (helper) return runHelper(helper, helperServer(cfg, host), this.env);
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
    if (cfg.credsStore) return runHelper(cfg.credsStore, helperServer(cfg, host), this.env);
    return undefined;
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
