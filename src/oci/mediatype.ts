/** Media types the walk recognises (OCI image-spec, Docker distribution). */
export const MediaType = {
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciArtifact: 'application/vnd.oci.artifact.manifest.v1+json',
  DockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  OciLayout: 'application/vnd.oci.image.layout.v1+json',
  OctetStream: 'application/octet-stream',
} as const;

/** Every manifest media type, in the order sent in `Accept`. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerList,
  MediaType.DockerManifest,
  MediaType.OciArtifact,
];

/** Indexes: children are manifests. */
export function isIndex(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerList;
}

/**
 * Manifests whose children the walk follows. The original follows only the four image types
 * (behaviour note 2.1); we also walk the deprecated OCI artifact manifest, one of its known gaps.
 */
export function isManifest(mediaType: string | undefined): boolean {
  return MANIFEST_MEDIA_TYPES.includes(mediaType ?? '');
}
