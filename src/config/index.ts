/**
 * ace-dt's configuration file (behaviour note 7.4): YAML with `apiVersion:
 * config.dt.act3-ace.io/v1alpha1`, `kind: Configuration`. Search order: the `--config` values,
 * else `$ACE_DT_CONFIG` split on `:`, else ./ace-dt-config.yaml, $XDG_CONFIG_HOME (or ~/.config)
 * /ace/dt/config.yaml, /etc/ace/dt/config.yaml. The first readable file wins and the others are
 * ignored. Decoding is strict: an unknown key, a wrong apiVersion/kind or broken YAML is an error
 * naming the file and the key, as the original's strict decoder does.
 *
 * src/config's one job; it may import `util` and `errors.ts` only (test/layers.test.ts).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type * as Yaml from 'yaml';
import { UserError } from '../errors.js';
import { parseBytes } from '../util/bytes.js';

/**
 * The yaml package, required when a configuration file is actually there to parse: it is about
 * 70 modules, and most runs have no file, so loading it up front cost every run's start-up
 * (about 40 ms of CPU here) for nothing.
 */
let yaml: typeof Yaml | undefined;
const loadYaml = () => (yaml ??= createRequire(import.meta.url)('yaml') as typeof Yaml);

export const CONFIG_API_VERSION = 'config.dt.act3-ace.io/v1alpha1';
export const CONFIG_KIND = 'Configuration';

export type ReferrersMode = 'tag' | 'api' | 'auto';

export interface RegistryHostConfig {
  /** Endpoint URLs; only the first is used (as the original). `http://` means plain HTTP. */
  endpoints?: string[];
  /** Regular expression -> replacement applied to the repository path on pulls. */
  rewritePull?: Record<string, string>;
  noncompliant?: boolean;
}

export interface EndpointConfig {
  tls?: { insecureSkipVerify?: boolean };
  supportsReferrers?: ReferrersMode;
}

export interface Config {
  /** The file this came from, or undefined for defaults. */
  file?: string;
  cachePath?: string;
  cachePruneMax?: number;
  concurrentHTTP?: number;
  chunkSize?: number;
  registryAuthFile?: string;
  registryConfig: {
    registries: Record<string, RegistryHostConfig>;
    endpointConfig: Record<string, EndpointConfig>;
  };
}

export function defaultConfig(): Config {
  return { registryConfig: { registries: {}, endpointConfig: {} } };
}

/** The candidate files, in the original's order. */
export function configSearchPath(paths: string[] | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  if (paths && paths.length > 0) return paths;
  if (env.ACE_DT_CONFIG) return env.ACE_DT_CONFIG.split(':').filter((p) => p !== '');
  const xdg = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return ['ace-dt-config.yaml', join(xdg, 'ace', 'dt', 'config.yaml'), '/etc/ace/dt/config.yaml'];
}

export async function loadConfig(paths: string[] | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  for (const file of configSearchPath(paths, env)) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue; // not readable: the next candidate (first readable file wins)
    }
    return applyEnv(parseConfig(text, file), env);
  }
  return applyEnv(defaultConfig(), env);
}

/** The original's environment overrides (behaviour note 7.4), applied over the file. */
function applyEnv(config: Config, env: NodeJS.ProcessEnv): Config {
  const fail = (key: string, why: string) => new UserError('ECONFIG', `environment ${key}: ${why}`);
  if (env.ACE_DT_CACHE_PATH) config.cachePath = env.ACE_DT_CACHE_PATH;
  if (env.ACE_DT_CACHE_PRUNE_MAX) config.cachePruneMax = byteSize(env.ACE_DT_CACHE_PRUNE_MAX, 'ACE_DT_CACHE_PRUNE_MAX', fail);
  if (env.ACE_DT_CHUNK_SIZE) config.chunkSize = byteSize(env.ACE_DT_CHUNK_SIZE, 'ACE_DT_CHUNK_SIZE', fail);
  if (env.ACE_DT_CONCURRENT_HTTP) {
    const n = Number(env.ACE_DT_CONCURRENT_HTTP);
    if (!Number.isInteger(n) || n < 1) throw fail('ACE_DT_CONCURRENT_HTTP', 'expected a positive integer');
    config.concurrentHTTP = n;
  }
  if (env.ACE_DT_REGISTRY_AUTH_FILE) config.registryAuthFile = env.ACE_DT_REGISTRY_AUTH_FILE;
  return config;
}

/** Strictly decode a configuration document. */
export function parseConfig(text: string, file = '<config>'): Config {
  const fail = (key: string, why: string) => new UserError('ECONFIG', `configuration file ${file}: ${key ? key + ': ' : ''}${why}`);
  let doc: unknown;
  try {
    doc = loadYaml().parse(text, { strict: true, uniqueKeys: true });
  } catch (e) {
    const msg = e instanceof loadYaml().YAMLParseError ? e.message.split('\n')[0] : String(e);
    throw fail('', `not valid YAML: ${msg}`);
  }
  if (doc === null || doc === undefined) doc = {};
  const top = object(doc, '', fail);
  const config = defaultConfig();
  config.file = file;
  for (const [k, v] of Object.entries(top)) {
    switch (k) {
      case 'apiVersion':
        if (v !== CONFIG_API_VERSION) throw fail(k, `expected ${CONFIG_API_VERSION}, got ${JSON.stringify(v)}`);
        break;
      case 'kind':
        if (v !== CONFIG_KIND) throw fail(k, `expected ${CONFIG_KIND}, got ${JSON.stringify(v)}`);
        break;
      case 'cachePath':
      case 'registryAuthFile':
        config[k] = string(v, k, fail);
        break;
      case 'cachePruneMax':
      case 'chunkSize':
        config[k] = byteSize(v, k, fail);
        break;
      case 'concurrentHTTP':
        if (!Number.isInteger(v) || (v as number) < 1) throw fail(k, 'expected a positive integer');
        config.concurrentHTTP = v as number;
        break;
      case 'registryConfig':
        parseRegistryConfig(v, config, fail);
        break;
      default:
        throw fail(k, 'unknown key');
    }
  }
  if (!('apiVersion' in top) || !('kind' in top)) {
    throw fail(!('apiVersion' in top) ? 'apiVersion' : 'kind', `missing (expected apiVersion: ${CONFIG_API_VERSION}, kind: ${CONFIG_KIND})`);
  }
  return config;
}

type Fail = (key: string, why: string) => UserError;

function object(v: unknown, key: string, fail: Fail): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(key, 'expected a mapping');
  return v as Record<string, unknown>;
}

function string(v: unknown, key: string, fail: Fail): string {
  if (typeof v !== 'string') throw fail(key, 'expected a string');
  return v;
}

function byteSize(v: unknown, key: string, fail: Fail): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string') {
    try {
      return parseBytes(v);
    } catch {
      /* fall through */
    }
  }
  throw fail(key, `expected a byte size like 100Mi, got ${JSON.stringify(v)}`);
}

function parseRegistryConfig(v: unknown, config: Config, fail: Fail): void {
  if (v === null) return;
  const rc = object(v, 'registryConfig', fail);
  for (const [k, val] of Object.entries(rc)) {
    const key = `registryConfig.${k}`;
    if (val === null) continue;
    if (k === 'registries') {
      for (const [host, hv] of Object.entries(object(val, key, fail))) {
        const hkey = `${key}.${host}`;
        const out: RegistryHostConfig = {};
        for (const [f, fv] of Object.entries(hv === null ? {} : object(hv, hkey, fail))) {
          const fkey = `${hkey}.${f}`;
          if (f === 'endpoints') {
            if (!Array.isArray(fv) || fv.some((e) => typeof e !== 'string')) throw fail(fkey, 'expected a list of URLs');
            for (const e of fv as string[]) {
              if (!/^https?:\/\/[^/\s]+\/?$/.test(e)) throw fail(fkey, `${JSON.stringify(e)} is not an http:// or https:// URL of a host`);
            }
            out.endpoints = fv as string[];
          } else if (f === 'rewritePull') {
            const m = object(fv, fkey, fail);
            for (const [re, rep] of Object.entries(m)) {
              string(rep, `${fkey}.${re}`, fail);
              try {
                new RegExp(re);
              } catch {
                throw fail(`${fkey}.${re}`, 'not a valid regular expression');
              }
            }
            out.rewritePull = m as Record<string, string>;
          } else if (f === 'noncompliant') {
            if (typeof fv !== 'boolean') throw fail(fkey, 'expected true or false');
            out.noncompliant = fv;
          } else {
            throw fail(fkey, 'unknown key');
          }
        }
        config.registryConfig.registries[host] = out;
      }
    } else if (k === 'endpointConfig') {
      for (const [url, ev] of Object.entries(object(val, key, fail))) {
        const ekey = `${key}.${url}`;
        const out: EndpointConfig = {};
        for (const [f, fv] of Object.entries(ev === null ? {} : object(ev, ekey, fail))) {
          const fkey = `${ekey}.${f}`;
          if (f === 'tls') {
            for (const [tk, tv] of Object.entries(fv === null ? {} : object(fv, fkey, fail))) {
              if (tk !== 'insecureSkipVerify') throw fail(`${fkey}.${tk}`, 'unknown key');
              if (typeof tv !== 'boolean') throw fail(`${fkey}.${tk}`, 'expected true or false');
              out.tls = { insecureSkipVerify: tv };
            }
          } else if (f === 'supportsReferrers') {
            if (fv !== 'tag' && fv !== 'api' && fv !== 'auto') throw fail(fkey, `expected tag, api or auto, got ${JSON.stringify(fv)}`);
            out.supportsReferrers = fv;
          } else {
            throw fail(fkey, 'unknown key');
          }
        }
        config.registryConfig.endpointConfig[normaliseEndpoint(url)] = out;
      }
    } else {
      throw fail(key, 'unknown key');
    }
  }
}

/** Endpoint URLs compare without a trailing slash. */
export function normaliseEndpoint(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Where a registry host's requests go, after the config's endpoints (first one only). */
export interface Endpoint {
  /** `https://host[:port]` or `http://host[:port]` */
  url: string;
  /** host[:port] of the endpoint (for TLS material and credentials of the mirror). */
  host: string;
  plainHttp: boolean;
  insecureSkipVerify: boolean;
  referrers: ReferrersMode;
  rewritePull?: Record<string, string>;
}

export function endpointFor(config: Config, registry: string, apiHost: string, loopback: boolean): Endpoint {
  const regs = config.registryConfig.registries;
  // Docker Hub goes by three names; a key with any of them applies.
  const hub = registry === 'docker.io' ? (regs['docker.io'] ?? regs['index.docker.io'] ?? regs['registry-1.docker.io']) : undefined;
  const rc = regs[registry] ?? regs[apiHost] ?? hub;
  const first = rc?.endpoints?.[0];
  const url = normaliseEndpoint(first ?? `${loopback ? 'http' : 'https'}://${apiHost}`);
  const ec = config.registryConfig.endpointConfig[url] ?? {};
  const u = new URL(url);
  return {
    url,
    host: u.host,
    plainHttp: u.protocol === 'http:',
    insecureSkipVerify: ec.tls?.insecureSkipVerify ?? false,
    referrers: ec.supportsReferrers ?? 'auto',
    rewritePull: rc?.rewritePull,
  };
}
