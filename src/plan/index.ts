import { BadRequestError, UnprocessableError, UnsupportedMediaError } from '../errors.js';
import type { MediaInfo } from '../media/types.js';
import type { ProxyRequest } from '../url/types.js';
import { planGeometry } from './geometry.js';
import { resolveTime } from './time.js';
import { type PlanLimits, STILL_CONTENT_TYPES, type StillFormat, type ThumbnailPlan } from './types.js';

export { type GeometryOp, type GeometryPlan, planGeometry } from './geometry.js';
export { resolveTime } from './time.js';
export * from './types.js';
export * from './video.js';

/** Default JPEG/WebP/AVIF quality of stills (ImageKit's image default). */
export const DEFAULT_STILL_QUALITY = 80;

/**
 * Checks the source against the configured limits. The render path calls it once, for every
 * output kind, before any kind plans. Pure: takes the probe result as data.
 */
export function checkSourceLimits(info: MediaInfo, limits: PlanLimits): void {
  if (info.duration > limits.maxSourceDuration) {
    throw new UnprocessableError(
      `The source lasts ${info.duration.toFixed(1)} s; the limit is ${limits.maxSourceDuration} s (MAX_SOURCE_DURATION)`,
      'source_too_long',
    );
  }
  if (info.video && info.video.codedWidth * info.video.codedHeight > limits.maxSourcePixels) {
    throw new UnprocessableError(
      `The source is ${info.video.codedWidth}x${info.video.codedHeight}; the limit is ${limits.maxSourcePixels} pixels (MAX_SOURCE_PIXELS)`,
      'source_too_many_pixels',
    );
  }
  if (info.streamCount > limits.maxSourceStreams) {
    throw new UnprocessableError(
      `The source has ${info.streamCount} streams; the limit is ${limits.maxSourceStreams} (MAX_SOURCE_STREAMS)`,
      'source_too_many_streams',
    );
  }
}

/** Plans a still frame (`/ik-thumbnail.jpg`). Pure. */
export function planThumbnail(request: ProxyRequest, info: MediaInfo, limits: PlanLimits): ThumbnailPlan {
  const video = info.video;
  if (!video) throw new UnsupportedMediaError('The source has no video stream to take a thumbnail from');
  const params = request.params;
  const time = resolveTime(params.so, info.duration, 'so') ?? 0;
  if (info.duration > 0 && time >= info.duration) {
    throw new BadRequestError(
      `Parameter 'so' is ${time} s but the video lasts ${info.duration.toFixed(2)} s; choose a time before the end`,
      'so',
    );
  }
  const geometry = planGeometry(params, video, {
    even: false,
    defaultBackground: '000000',
    maxOutputPixels: limits.maxOutputPixels,
  });
  const format: StillFormat =
    params.f === 'png' || params.f === 'webp' || params.f === 'avif' ? params.f : 'jpg';
  return {
    kind: 'thumbnail',
    time,
    ops: geometry.ops,
    width: geometry.width,
    height: geometry.height,
    format,
    quality: params.q ?? DEFAULT_STILL_QUALITY,
    contentType: STILL_CONTENT_TYPES[format],
  };
}

/** True when the request asks for the source's own bytes. */
export function wantsOriginal(request: ProxyRequest): boolean {
  if (request.suffix.kind !== 'video') return false;
  const keys = Object.keys(request.params);
  return (
    keys.length === 0 || request.params.orig === true || (keys.length === 1 && request.params.f === 'orig')
  );
}
