/** An OCI content descriptor (image-spec descriptor.md). */
export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
  data?: string;
}

/** Annotation keys of the ace-dt ecosystem (behaviour note 1.4, 4.1). */
export const Annotation = {
  Offset: 'vnd.act3-ace.data.offset',
  Version: 'vnd.act3-ace.data.version',
  SerializationVersion: 'vnd.act3-ace.data.serialization.version',
  DedupSize: 'vnd.act3-ace.data.layer.size.deduplicated',
  ExtraManifests: 'vnd.act3-ace.data.extra-manifests',
  ManifestSource: 'vnd.act3-ace.manifest.source',
  RefName: 'org.opencontainers.image.ref.name',
} as const;

/** The three fields that identify content; used when copying a descriptor into a new context. */
export function basicDescriptor(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/** Checks the shape of untrusted JSON claiming to be a descriptor. */
export function isDescriptor(v: unknown): v is Descriptor {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o.mediaType === 'string' &&
    typeof o.digest === 'string' &&
    typeof o.size === 'number' &&
    Number.isSafeInteger(o.size) &&
    o.size >= 0
  );
}
