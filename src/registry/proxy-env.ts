/**
 * Which proxy a request goes through, from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), as
 * Go's ProxyFromEnvironment decides it (registries' own tools are in Go). Pure; imports nothing of
 * the registry layer.
 */
import { BlockList, isIP } from 'node:net';
import { isLoopbackHost } from '../oci/reference.js';

/**
 * The proxy for a URL from HTTPS_PROXY / HTTP_PROXY and NO_PROXY (either case), as Go's
 * ProxyFromEnvironment (golang.org/x/net/http/httpproxy) reads them: localhost and loopback
 * addresses are never proxied; NO_PROXY entries are `*`, an IP range in CIDR notation
 * (`10.0.0.0/8`, `fd00::/8`), an IP address, or a domain (`example.com` matches it and its
 * subdomains, `.example.com` and `*.example.com` only subdomains), the last two with an
 * optional `:port` that must then match.
 */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv): string | undefined {
  const proxy = url.protocol === 'https:' ? (env.HTTPS_PROXY || env.https_proxy) : (env.HTTP_PROXY || env.http_proxy);
  if (!proxy) return undefined;
  if (isLoopbackHost(url.host)) return undefined;
  const host = url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const ipVersion = isIP(host);
  for (const raw of (env.NO_PROXY || env.no_proxy || '').split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return undefined;
    const cidr = /^([^/]+)\/(\d{1,3})$/.exec(entry);
    if (cidr && isIP(cidr[1])) {
      // A range matches IP hosts only, any port (Go's cidrMatch).
      if (ipVersion !== 0 && inRange(host, cidr[1], Number(cidr[2]))) return undefined;
      continue;
    }
    // host:port, [v6]:port, or a bare host / IPv6 address.
    const hp = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry) ?? (isIP(entry) === 6 ? null : /^([^:]+)(?::(\d+))?$/.exec(entry));
    const entryHost = hp ? hp[1] : entry;
    const entryPort = hp?.[2];
    if (entryPort !== undefined && entryPort !== port) continue;
    if (isIP(entryHost)) {
      if (ipVersion !== 0 && inRange(host, entryHost, isIP(entryHost) === 4 ? 32 : 128)) return undefined;
      continue;
    }
    const domain = entryHost.replace(/^\*\./, '.');
    if (domain.startsWith('.') ? host.endsWith(domain) : host === domain || host.endsWith('.' + domain)) return undefined;
  }
  return /^[a-z]+:\/\//i.test(proxy) ? proxy : `http://${proxy}`;
}

/** Whether the IP address `ip` is in `network`/`prefix` (either family). */
function inRange(ip: string, network: string, prefix: number): boolean {
  const family = (a: string) => (isIP(a) === 4 ? 'ipv4' : 'ipv6');
  const list = new BlockList();
  try {
    list.addSubnet(network, prefix, family(network));
  } catch {
    return false; // a prefix too long for its family: Go's ParseCIDR refuses it, so no match
  }
  return list.check(ip, family(ip));
}
