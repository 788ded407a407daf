import { DASH_MANIFEST_NAME, HLS_MASTER_NAME, parseAbsResource } from '../abs/layout.js';
import { BadRequestError, InvalidParameterError } from '../errors.js';
import { IMAGE_FORMATS, PARAM_ORDER, type ParamKey } from './params.js';
import type { Suffix, TransformParams } from './types.js';

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

/** What each kind of output accepts; anything else given is a 400 naming the parameter. */
const ACCEPTED: Record<Suffix['kind'], readonly ParamKey[]> = {
  video: PARAM_ORDER.filter((key) => key !== 'sr'),
  thumbnail: ['w', 'h', 'ar', 'c', 'cm', 'fo', 'bg', 'b', 'r', 'rt', 'so', 'q', 'f'],
  'hls-master': ['sr', 'so', 'eo', 'du', 'rt'],
  'dash-manifest': ['sr', 'so', 'eo', 'du', 'rt'],
  'hls-media': ['sr', 'so', 'eo', 'du', 'rt'],
  'abs-init': ['sr', 'so', 'eo', 'du', 'rt'],
  'abs-segment': ['sr', 'so', 'eo', 'du', 'rt'],
  'seek-vtt': ['w', 'h'],
  sprite: ['w', 'h'],
  metadata: [],
};

const DESCRIPTION: Record<Suffix['kind'], string> = {
  video: 'video output',
  thumbnail: 'thumbnails (ik-thumbnail.jpg)',
  'hls-master': 'HLS playlists',
  'dash-manifest': 'DASH manifests',
  'hls-media': 'HLS playlists',
  'abs-init': 'streaming segments',
  'abs-segment': 'streaming segments',
  'seek-vtt': 'seek thumbnail tracks',
  sprite: 'sprite sheets',
  metadata: 'metadata (ik-metadata.json)',
};

const STREAMING_KINDS: ReadonlySet<Suffix['kind']> = new Set([
  'hls-master',
  'dash-manifest',
  'hls-media',
  'abs-init',
  'abs-segment',
]);
/** ImageKit's list of parameters that make no sense with an adaptive ladder. */
const NOT_WITH_SR: ReadonlySet<ParamKey> = new Set(['w', 'h', 'ar', 'f', 'vc', 'ac', 'q']);

/**
 * Checks the parameters against what the suffix can produce: a thumbnail has no codecs, a
 * master playlist needs a ladder (`sr`), metadata takes no parameters at all.
 */
export function checkParamsForSuffix(suffix: Suffix, params: TransformParams): void {
  const accepted = ACCEPTED[suffix.kind];
  const streaming = STREAMING_KINDS.has(suffix.kind);
  for (const key of PARAM_ORDER) {
    if (params[key] === undefined || accepted.includes(key)) continue;
    if (streaming && NOT_WITH_SR.has(key)) {
      throw new BadRequestError(`Parameter '${key}' cannot be combined with sr (adaptive streaming)`, key);
    }
    throw new BadRequestError(`Parameter '${key}' is not supported for ${DESCRIPTION[suffix.kind]}`, key);
  }
  if (suffix.kind === 'thumbnail' && params.f !== undefined && !IMAGE_FORMATS.includes(params.f)) {
    throw new InvalidParameterError('f', `an image format (${IMAGE_FORMATS.join(', ')})`, params.f);
  }
  if (suffix.kind === 'video' && params.f !== undefined && IMAGE_FORMATS.includes(params.f)) {
    throw new InvalidParameterError('f', 'a video format (mp4, webm, auto, orig)', params.f);
  }
  if ((suffix.kind === 'hls-master' || suffix.kind === 'dash-manifest') && params.sr === undefined) {
    throw new BadRequestError('Adaptive streaming manifests need sr, e.g. tr=sr-240_360_720', 'sr');
  }
  if (
    'height' in suffix &&
    suffix.height !== 0 &&
    params.sr !== undefined &&
    !params.sr.includes(suffix.height)
  ) {
    throw new BadRequestError(
      `Rendition ${suffix.height} is not in the ladder sr-${params.sr.join('_')}`,
      'sr',
    );
  }
}
