/** Pure: ImageKit's JSON shape of a stored file, built from its record. */
import type { FileRecord } from './records.js';

/** Where answers point: the public base (`PUBLIC_URL` or the request's origin) and `BASE_PATH`. */
export interface UrlBase {
  origin: string;
  basePath: string;
}

/** The delivery URL of a stored path, each segment percent-encoded. */
export function deliveryUrl(base: UrlBase, path: string): string {
  return `${base.origin}${base.basePath}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** ImageKit's File object (details, list entries and, with the upload's fields, the upload answer). */
export function fileObject(record: FileRecord, base: UrlBase): Record<string, unknown> {
  const url = deliveryUrl(base, record.path);
  const thumbnailUrl =
    record.kind === 'video' ? `${url}/ik-thumbnail.jpg` : record.kind === 'image' ? url : undefined;
  return {
    fileId: record.fileId,
    type: 'file',
    name: record.name,
    filePath: `/${record.path}`,
    url,
    thumbnailUrl: thumbnailUrl ?? null,
    thumbnail: thumbnailUrl ?? null,
    size: record.size,
    width: record.width ?? null,
    height: record.height ?? null,
    duration: record.duration === undefined ? null : Math.round(record.duration * 1000) / 1000,
    videoCodec: record.videoCodec ?? null,
    audioCodec: record.audioCodec ?? null,
    bitRate: record.bitRate ?? null,
    fileType: record.kind === 'image' ? 'image' : 'non-image',
    mime: record.mime,
    hasAlpha: false,
    tags: record.tags,
    AITags: null,
    customCoordinates: null,
    customMetadata: record.customMetadata,
    description: record.description ?? null,
    isPrivateFile: record.isPrivateFile,
    isPublished: true,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    versionInfo: { id: `${record.fileId}.${record.versionNumber}`, name: `Version ${record.versionNumber}` },
  };
}
