import { UserError } from '../errors.js';
import { isValidDigest } from './digest.js';

/**
 * Image references, after the distribution/reference grammar:
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path
 *   domain     := host [ ":" port ]        (a first component with ".", ":" or "localhost")
 *   path       := component ( "/" component )*
 *   component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [\w][\w.-]{0,127}
 *   digest     := algorithm ":" hex
 *
 * Docker Hub normalisation: no domain means `docker.io`; a one-component path on docker.io gets
 * the `library/` prefix; `index.docker.io` is `docker.io`. The registry API host for docker.io is
 * `registry-1.docker.io` (see `apiHost`).
 */
export interface Reference {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$|^\[[0-9a-fA-F:.]+\](?::[0-9]+)?$/;

export function parseReference(text: string): Reference {
  const bad = (why: string) => new UserError('EREFERENCE', `invalid reference ${JSON.stringify(text)}: ${why}`);
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isValidDigest(digest)) throw bad(`bad digest ${JSON.stringify(digest)}`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`bad tag ${JSON.stringify(tag)}`);
  }
  if (rest === '') throw bad('empty name');
  const parts = rest.split('/');
  let registry = 'docker.io';
  const first = parts[0];
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    registry = parts.shift()!;
    if (!HOST.test(registry)) throw bad(`bad registry host ${JSON.stringify(registry)}`);
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  for (const p of parts) {
    if (!COMPONENT.test(p)) throw bad(`bad repository component ${JSON.stringify(p)} (lower case letters, digits, separators)`);
  }
  if (registry === 'docker.io' && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (repository.length > 255) throw bad('repository name longer than 255 characters');
  return { registry, repository, tag, digest };
}

/** The host the registry API is served on. */
export function apiHost(ref: Reference): string {
  return ref.registry === 'docker.io' ? 'registry-1.docker.io' : ref.registry;
}

/** The part of a reference that names the manifest: the digest if given, else the tag (or latest). */
export function manifestSelector(ref: Reference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** Canonical text form: `registry/repository[:tag][@digest]`. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? ':' + ref.tag : ''}${ref.digest ? '@' + ref.digest : ''}`;
}

/** Is this host on the loopback interface (plain HTTP allowed without configuration)? */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.replace(/:\d+$/, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
