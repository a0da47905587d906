import type { Descriptor, Platform } from './descriptor.js';

/**
 * JSON exactly as Go's encoding/json writes the original's structs: struct fields in declaration
 * order, map keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped, control characters as \u00XX
 * (except \n \r \t). MarshalIndent adds no trailing newline; json.Encoder.Encode adds one.
 */
function goString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) {
      out += '\\u' + c.toString(16).padStart(4, '0');
    } else out += ch;
  }
  return out + '"';
}

function encode(v: unknown, indent: string, level: number): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return goString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const nl = indent ? '\n' + indent.repeat(level + 1) : '';
  const end = indent ? '\n' + indent.repeat(level) : '';
  const sep = indent ? ': ' : ':';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return '[' + v.map((x) => nl + encode(x, indent, level + 1)).join(',') + end + ']';
  }
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return '{}';
  return '{' + entries.map(([k, x]) => nl + goString(k) + sep + encode(x, indent, level + 1)).join(',') + end + '}';
}

/** json.Marshal (indent '') or json.MarshalIndent(v, "", indent). Key order is the object's. */
export function goJson(v: unknown, indent = ''): string {
  return encode(v, indent, 0);
}

function sortedMap(m: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!m || Object.keys(m).length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const k of Object.keys(m).sort()) out[k] = m[k];
  return out;
}

function platformFields(p: Platform | undefined): Platform | undefined {
  if (!p) return undefined;
  return {
    architecture: p.architecture,
    os: p.os,
    'os.version': p['os.version'] || undefined,
    'os.features': p['os.features']?.length ? p['os.features'] : undefined,
    variant: p.variant || undefined,
  } as Platform;
}

/** A descriptor with ocispec.Descriptor's field order and omitempty rules. */
export function goDescriptor(d: Descriptor): Descriptor {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    urls: d.urls?.length ? d.urls : undefined,
    annotations: sortedMap(d.annotations),
    data: d.data || undefined,
    platform: platformFields(d.platform),
    artifactType: d.artifactType || undefined,
  } as Descriptor;
}

/** An image index with ocispec.Index's field order. */
export function goIndex(manifests: Descriptor[], annotations: Record<string, string>): string {
  return goJson(
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: manifests.map(goDescriptor),
      annotations: sortedMap(annotations),
    },
    '  ',
  );
}
