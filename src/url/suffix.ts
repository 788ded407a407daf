import { DASH_MANIFEST_NAME, HLS_MASTER_NAME, parseAbsResource } from '../abs/layout.js';
import { BadRequestError } from '../errors.js';
import type { Suffix } from './types.js';

/** A suffix read off the end of the path, and how many path segments it used. */
export interface SuffixMatch {
  suffix: Suffix;
  segments: number;
}

/** Canonical non-negative integer: `0`, `17`, never `017`, bounded so indexes stay sane. */
const INDEX = /^(0|[1-9]\d{0,5})$/;

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
    case 'ik-seek-thumbnail-track.vtt':
      return { suffix: { kind: 'seek-vtt' }, segments: 1 };
    case 'ik-metadata.json':
      return { suffix: { kind: 'metadata' }, segments: 1 };
    case 'ik-video.mp4':
      return { suffix: { kind: 'video' }, segments: 1 };
  }
  const sprite = /^ik-sprite-(.*)\.jpg$/.exec(last);
  if (sprite) {
    const index = sprite[1] ?? '';
    if (!INDEX.test(index)) throw new BadRequestError(`Invalid sprite sheet index in '${last}'`, 'suffix');
    return { suffix: { kind: 'sprite', index: Number(index) }, segments: 1 };
  }
  const abs = parseAbsResource(segments);
  if (abs) return { suffix: abs, segments: 3 };
  return { suffix: { kind: 'video' }, segments: 0 };
}
