import { LANG_TAG } from '../captions/names.js';
import { BadRequestError } from '../errors.js';
import { STREAMING_HEIGHTS } from '../url/params.js';

/**
 * The URL layout of an adaptive stream, written once: every playlist, manifest and segment URL
 * is built by `absResourcePath` and read back by `parseAbsResource`, so the two cannot drift.
 *
 *   <source>/ik-master.m3u8                  HLS master playlist
 *   <source>/ik-master.mpd                   DASH manifest
 *   <source>/ik-abs/<track>/index.m3u8       HLS media playlist of one track
 *   <source>/ik-abs/<track>/init.mp4         CMAF init segment
 *   <source>/ik-abs/<track>/seg-<N>.m4s      CMAF media segment N (from 0)
 *   <source>/ik-abs/text-<lang>/index.m3u8   HLS playlist of a caption track
 *   <source>/ik-abs/text-<lang>/captions.vtt the caption track as WebVTT (HLS and DASH)
 *
 * `<track>` is a rendition height or `audio`; in code the audio track is height 0.
 */

/** The folder under a source that holds every per-track resource. */
export const ABS_FOLDER = 'ik-abs';
/** The audio track's height in code; `audio` in URLs. */
export const AUDIO_TRACK_HEIGHT = 0;
/** The last path segment of each manifest kind. */
export const HLS_MASTER_NAME = 'ik-master.m3u8';
export const DASH_MANIFEST_NAME = 'ik-master.mpd';

/** One per-track resource of a stream. */
export type AbsResource =
  | { kind: 'hls-media'; height: number }
  | { kind: 'abs-init'; height: number }
  | { kind: 'abs-segment'; height: number; index: number }
  | { kind: 'caption-playlist'; lang: string }
  | { kind: 'caption-track'; lang: string };

/** Folder prefix of a caption track (`text-en`). */
const TEXT_TRACK_PREFIX = 'text-';
/** File name of a caption track's WebVTT. */
const CAPTION_FILE = 'captions.vtt';

/** Canonical non-negative integer: `0`, `17`, never `017`, bounded so indexes stay sane. */
const INDEX = /^(0|[1-9]\d{0,5})$/;
const SEGMENT_NAME = /^seg-(.*)\.m4s$/;

/** Path segment of a track in URLs: the height, or `audio`. */
export function trackPathName(height: number): string {
  return height === AUDIO_TRACK_HEIGHT ? 'audio' : String(height);
}

/** The file name of a resource inside its track folder. */
export function absFileName(resource: AbsResource): string {
  switch (resource.kind) {
    case 'hls-media':
      return 'index.m3u8';
    case 'abs-init':
      return 'init.mp4';
    case 'abs-segment':
      return `seg-${resource.index}.m4s`;
    case 'caption-playlist':
      return 'index.m3u8';
    case 'caption-track':
      return CAPTION_FILE;
  }
}

/** `ik-abs/<track>/<file>`, relative to the source (and so to its manifests). */
export function absResourcePath(resource: AbsResource): string {
  if (resource.kind === 'caption-playlist' || resource.kind === 'caption-track') {
    return `${ABS_FOLDER}/${TEXT_TRACK_PREFIX}${resource.lang}/${absFileName(resource)}`;
  }
  return `${ABS_FOLDER}/${trackPathName(resource.height)}/${absFileName(resource)}`;
}

/**
 * Reads `ik-abs/<track>/<file>` off the end of decoded path segments. `undefined` when the
 * segments are not under an `ik-abs` folder; a 400 when they are but name nothing that exists.
 */
export function parseAbsResource(segments: readonly string[]): AbsResource | undefined {
  if (segments.at(-3) !== ABS_FOLDER) return undefined;
  const track = segments.at(-2) ?? '';
  if (track.startsWith(TEXT_TRACK_PREFIX)) return parseCaptionResource(track, segments.at(-1) ?? '');
  const height = track === 'audio' ? AUDIO_TRACK_HEIGHT : renditionHeight(track);
  if (height === undefined) {
    throw new BadRequestError(
      `Rendition height in ${ABS_FOLDER} must be one of ${STREAMING_HEIGHTS.join(', ')} or audio`,
      'suffix',
    );
  }
  const file = segments.at(-1) ?? '';
  if (file === 'index.m3u8') return { kind: 'hls-media', height };
  if (file === 'init.mp4') return { kind: 'abs-init', height };
  const segment = SEGMENT_NAME.exec(file);
  if (segment && INDEX.test(segment[1] ?? ''))
    return { kind: 'abs-segment', height, index: Number(segment[1]) };
  throw new BadRequestError(`Unknown ${ABS_FOLDER} resource '${file}'`, 'suffix');
}

function parseCaptionResource(track: string, file: string): AbsResource {
  const lang = track.slice(TEXT_TRACK_PREFIX.length);
  if (!LANG_TAG.test(lang)) {
    throw new BadRequestError(
      `Caption track '${track.slice(0, 40)}' does not name a language (text-en)`,
      'suffix',
    );
  }
  if (file === 'index.m3u8') return { kind: 'caption-playlist', lang };
  if (file === CAPTION_FILE) return { kind: 'caption-track', lang };
  throw new BadRequestError(`Unknown ${ABS_FOLDER} caption resource '${file.slice(0, 40)}'`, 'suffix');
}

/** A path (absolute or relative) ending in `/ik-abs/<track>/<file>`, with that tail removed. */
export function splitAbsPath(path: string): { base: string; resource: AbsResource } | undefined {
  const parts = path.split('/');
  if (parts.length < 3) return undefined;
  try {
    const resource = parseAbsResource(parts);
    return resource && { base: parts.slice(0, -3).join('/'), resource };
  } catch {
    return undefined;
  }
}

function renditionHeight(raw: string): number | undefined {
  const value = Number(raw);
  return /^[1-9]\d{2,3}$/.test(raw) && STREAMING_HEIGHTS.includes(value) ? value : undefined;
}
