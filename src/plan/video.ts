import { BadRequestError, UnsupportedMediaError } from '../errors.js';
import type { MediaInfo } from '../media/types.js';
import type { AudioCodec, TransformParams, VideoCodec } from '../url/types.js';
import { type GeometryOp, planGeometry } from './geometry.js';
import { resolveTime } from './time.js';
import type { PlanLimits } from './types.js';

/** Containers a transformed video is written in. */
export type VideoContainer = 'mp4' | 'webm';

/** A transformed video (or audio-only) output. */
export interface VideoPlan {
  kind: 'video';
  container: VideoContainer;
  videoCodec: Exclude<VideoCodec, 'none'> | 'none';
  audioCodec: Exclude<AudioCodec, 'none'> | 'none';
  /** Seconds into the source where the output starts. */
  start: number;
  /** Output length in seconds (undefined: to the end). */
  duration?: number;
  ops: GeometryOp[];
  width: number;
  height: number;
  /** Encoder quality, codec-specific constant rate factor. */
  crf: number;
  /** 1..100 as asked. */
  quality: number;
  contentType: string;
}

/** ImageKit's default video quality. */
export const DEFAULT_VIDEO_QUALITY = 50;

/** What `f-auto` resolved to for this client; part of the cache key. */
export type AutoFormat = 'mp4' | 'webm';

/**
 * Chooses mp4/h264 or webm/vp9 for `f-auto` from the User-Agent: WebKit browsers (Safari and
 * every iOS browser) and unknown clients get mp4, Chromium and Firefox get webm. The response
 * carries `Vary: User-Agent`.
 */
export function chooseAutoFormat(userAgent: string | undefined): AutoFormat {
  if (!userAgent) return 'mp4';
  if (/iPhone|iPad|iPod/.test(userAgent)) return 'mp4';
  if (/Firefox\/|Chrome\/|Chromium\/|Edg\/|OPR\//.test(userAgent)) return 'webm';
  return 'mp4';
}

/** Maps ImageKit's q (1..100) to a constant rate factor per codec; q50 is each encoder's usual default. */
export function crfFor(codec: VideoPlan['videoCodec'], quality: number): number {
  switch (codec) {
    case 'h264':
      return Math.round(51 - quality * 0.56); // q50 -> 23 (x264's default), q100 -> 17
    case 'vp9':
      return Math.round(63 - quality * 0.62); // q50 -> 32, q100 -> 1
    case 'av1':
      return Math.round(63 - quality * 0.6); // q50 -> 33
    case 'none':
      return 0;
  }
}

function contentTypeFor(container: VideoContainer, hasVideo: boolean): string {
  if (container === 'webm') return hasVideo ? 'video/webm' : 'audio/webm';
  return hasVideo ? 'video/mp4' : 'audio/mp4';
}

/** Resolves container and codecs from f, vc and ac (already validated as a combination by the parser). */
function chooseFormat(params: TransformParams, info: MediaInfo, auto: AutoFormat) {
  let container: VideoContainer;
  if (params.f === 'webm') container = 'webm';
  else if (params.f === 'mp4') container = 'mp4';
  else if (params.f === 'auto') container = auto;
  else if (params.f === 'orig') container = /webm|matroska/.test(info.formatName) ? 'webm' : 'mp4';
  else if (params.vc === 'vp9' || params.ac === 'opus') container = 'webm';
  else container = 'mp4';
  const defaultVideo = container === 'webm' ? 'vp9' : 'h264';
  const defaultAudio = container === 'webm' ? 'opus' : 'aac';
  const videoCodec = info.video ? (params.vc ?? defaultVideo) : 'none';
  const audioCodec = info.audio ? (params.ac ?? defaultAudio) : 'none';
  if (container === 'mp4' && (videoCodec === 'vp9' || audioCodec === 'opus')) {
    throw new BadRequestError(`An mp4 output cannot carry ${videoCodec === 'vp9' ? 'vp9' : 'opus'}; use f-webm`, 'f');
  }
  if (container === 'webm' && (videoCodec === 'h264' || audioCodec === 'aac')) {
    throw new BadRequestError(`A webm output cannot carry ${videoCodec === 'h264' ? 'h264' : 'aac'}; use f-mp4`, 'f');
  }
  return { container, videoCodec, audioCodec } as const;
}

/**
 * Plans a video transformation. Pure: everything comes from the parsed parameters, the probe,
 * the limits and the client's `f-auto` choice.
 */
export function planVideo(params: TransformParams, info: MediaInfo, limits: PlanLimits, auto: AutoFormat): VideoPlan {
  const { container, videoCodec, audioCodec } = chooseFormat(params, info, auto);
  if (videoCodec === 'none' && audioCodec === 'none') {
    throw new UnsupportedMediaError(
      info.video ? 'The request removes both video and audio (vc-none with a silent source)' : 'The source has no video or audio to keep',
    );
  }
  const duration = info.duration;
  const start = resolveTime(params.so, duration, 'so') ?? 0;
  const end = resolveTime(params.eo, duration, 'eo');
  const length = resolveTime(params.du, duration, 'du');
  if (duration > 0 && start >= duration) {
    throw new BadRequestError(`Parameter 'so' is ${start} s but the video lasts ${duration.toFixed(2)} s`, 'so');
  }
  if (end !== undefined && end <= start) throw new BadRequestError(`Parameter 'eo' (${end} s) must be after the start (${start} s)`, 'eo');
  if (length !== undefined && length <= 0) throw new BadRequestError(`Parameter 'du' must be greater than 0`, 'du');
  let outDuration = end !== undefined ? end - start : length;
  if (outDuration !== undefined && duration > 0 && start + outDuration >= duration) outDuration = undefined;
  let geometry = { ops: [] as GeometryOp[], width: 0, height: 0 };
  if (videoCodec !== 'none' && info.video) {
    geometry = planGeometry(params, info.video, { even: true, defaultBackground: '000000', maxOutputPixels: limits.maxOutputPixels });
  }
  const quality = params.q ?? DEFAULT_VIDEO_QUALITY;
  return {
    kind: 'video',
    container,
    videoCodec,
    audioCodec,
    start,
    duration: outDuration === undefined ? undefined : Math.round(outDuration * 1000) / 1000,
    ops: geometry.ops,
    width: geometry.width,
    height: geometry.height,
    crf: crfFor(videoCodec, quality),
    quality,
    contentType: contentTypeFor(container, videoCodec !== 'none'),
  };
}
