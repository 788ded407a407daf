import { DASH_MANIFEST_NAME, HLS_MASTER_NAME, parseAbsResource } from '../abs/layout.js';
import { parseSpriteSheetName, SEEK_TRACK_NAME } from '../seek/layout.js';
import type { Suffix } from './types.js';

/** A suffix read off the end of the path, and how many path segments it used. */
export interface SuffixMatch {
  suffix: Suffix;
  segments: number;
}

/**
 * Recognises the suffix at the end of decoded path segments. Segments that look like an
 * `ik-abs` rendition but are malformed are a 400 rather than part of a source path.
 */
export function matchSuffix(segments: readonly string[]): SuffixMatch {
  const last = segments.at(-1) ?? '';
  switch (last) {
    case 'ik-thumbnail.jpg':
      return { suffix: { kind: 'thumbnail' }, segments: 1 };
    case HLS_MASTER_NAME:
      return { suffix: { kind: 'hls-master' }, segments: 1 };
    case DASH_MANIFEST_NAME:
      return { suffix: { kind: 'dash-manifest' }, segments: 1 };
    case SEEK_TRACK_NAME:
      return { suffix: { kind: 'seek-vtt' }, segments: 1 };
    case 'ik-metadata.json':
      return { suffix: { kind: 'metadata' }, segments: 1 };
    case 'ik-video.mp4':
      return { suffix: { kind: 'video' }, segments: 1 };
    case 'ik-gif-video.mp4':
      return { suffix: { kind: 'gif-video' }, segments: 1 };
  }
  const sheet = parseSpriteSheetName(last);
  if (sheet !== undefined) return { suffix: { kind: 'sprite', index: sheet }, segments: 1 };
  const abs = parseAbsResource(segments);
  if (abs) return { suffix: abs, segments: 3 };
  return { suffix: { kind: 'video' }, segments: 0 };
}
