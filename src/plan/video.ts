import { BadRequestError, UnprocessableError, UnsupportedMediaError } from '../errors.js';
import type { MediaInfo } from '../media/types.js';
import type { AudioCodec, TransformParams, VideoCodec } from '../url/types.js';
import { browserClass } from './browser-class.js';
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
  /**
   * How long the output will last, known before the encode starts (0 when the source's length
   * is unknown), so a stream's header can carry it while the body is still being encoded.
   */
  expectedSeconds: number;
  ops: GeometryOp[];
  width: number;
  height: number;
  /** Encoder quality, codec-specific constant rate factor. */
  crf: number;
  /** 1..100 as asked. */
  quality: number;
  contentType: string;
}

/** Parameters that shape the picture, meaningless for an audio-only source. */
const GEOMETRY_KEYS = ['w', 'h', 'ar', 'c', 'cm', 'fo', 'bg', 'b', 'r', 'rt'] as const;

/** ImageKit's default video quality. */
export const DEFAULT_VIDEO_QUALITY = 50;

/** What `f-auto` resolved to for this client; part of the cache key. */
export type AutoFormat = 'mp4' | 'webm';

/**
 * Chooses mp4/h264 or webm/vp9 for `f-auto` from the User-Agent's browser class
 * (`browser-class.ts`, shared with the shipped CDN configs): WebKit browsers (Safari and every
 * iOS browser) and unknown clients get mp4, Chromium and Firefox get webm. The response carries
 * `Vary: User-Agent`.
 */
export function chooseAutoFormat(userAgent: string | undefined): AutoFormat {
  return browserClass(userAgent);
}

/**
 * CRF at q1, q50 and q100 per codec. q50 (ImageKit's default) is each encoder's usual default;
 * q1 is the worst the encoder allows; q100 is visually lossless, not the enormous files of CRF 0.
 */
const CRF_ANCHORS: Record<
  Exclude<VideoPlan['videoCodec'], 'none'>,
  { q1: number; q50: number; q100: number }
> = {
  h264: { q1: 51, q50: 23, q100: 17 },
  vp9: { q1: 63, q50: 32, q100: 15 },
  av1: { q1: 63, q50: 35, q100: 18 },
};

/** Maps ImageKit's q (1..100) to a constant rate factor per codec: piecewise linear through q50. */
export function crfFor(codec: VideoPlan['videoCodec'], quality: number): number {
  if (codec === 'none') return 0;
  const { q1, q50, q100 } = CRF_ANCHORS[codec];
  const q = Math.min(100, Math.max(1, quality));
  const crf = q <= 50 ? q1 + ((q - 1) * (q50 - q1)) / 49 : q50 + ((q - 50) * (q100 - q50)) / 50;
  return Math.round(crf);
}

function contentTypeFor(container: VideoContainer, hasVideo: boolean): string {
  if (container === 'webm') return hasVideo ? 'video/webm' : 'audio/webm';
  return hasVideo ? 'video/mp4' : 'audio/mp4';
}

/** Codecs each container may carry (design §1: mp4+h264/av1+aac, webm+vp9/av1+opus). */
const CONTAINER_CODECS: Record<
  VideoContainer,
  { video: readonly VideoCodec[]; audio: readonly AudioCodec[] }
> = {
  mp4: { video: ['h264', 'av1', 'none'], audio: ['aac', 'none'] },
  webm: { video: ['vp9', 'av1', 'none'], audio: ['opus', 'none'] },
};

function otherContainer(container: VideoContainer): VideoContainer {
  return container === 'mp4' ? 'webm' : 'mp4';
}

/**
 * The container an explicit codec demands (h264/aac only fit mp4, vp9/opus only webm). It wins
 * over `f-auto` and `f-orig`, so `f-auto,vc-h264` is mp4 for every client instead of a 400 for
 * the ones `f-auto` would give webm.
 */
function pinnedContainer(params: TransformParams): VideoContainer | undefined {
  const byVideo = params.vc === 'h264' ? 'mp4' : params.vc === 'vp9' ? 'webm' : undefined;
  const byAudio = params.ac === 'aac' ? 'mp4' : params.ac === 'opus' ? 'webm' : undefined;
  if (byVideo && byAudio && byVideo !== byAudio) {
    // Named as the URL parser names it, so the same URL gives the same 400 from either check.
    throw new BadRequestError(`vc-${params.vc} and ac-${params.ac} share no output container`, 'ac');
  }
  return byVideo ?? byAudio;
}

/**
 * Resolves container and codecs from f, vc and ac. The combination is checked as asked, before
 * the source's streams are considered, so a URL is valid or invalid whatever file it names; a
 * stream the source lacks is then simply not produced.
 */
function chooseFormat(params: TransformParams, info: MediaInfo, auto: AutoFormat) {
  const container: VideoContainer =
    params.f === 'mp4' || params.f === 'webm'
      ? params.f
      : (pinnedContainer(params) ??
        (params.f === 'auto'
          ? auto
          : params.f === 'orig' && /webm|matroska/.test(info.formatName)
            ? 'webm'
            : 'mp4'));
  const requestedVideo: VideoCodec = params.vc ?? (container === 'webm' ? 'vp9' : 'h264');
  const requestedAudio: AudioCodec = params.ac ?? (container === 'webm' ? 'opus' : 'aac');
  const allowed = CONTAINER_CODECS[container];
  const suggestion = `f-${otherContainer(container)}`;
  if (!allowed.video.includes(requestedVideo)) {
    throw new BadRequestError(
      `A ${container} output cannot carry vc-${requestedVideo} (it takes ${allowed.video.join(', ')}); use ${suggestion}`,
      'vc',
    );
  }
  if (!allowed.audio.includes(requestedAudio)) {
    throw new BadRequestError(
      `A ${container} output cannot carry ac-${requestedAudio} (it takes ${allowed.audio.join(', ')}); use ${suggestion}`,
      'ac',
    );
  }
  const videoCodec = info.video ? requestedVideo : 'none';
  const audioCodec = info.audio ? requestedAudio : 'none';
  return { container, videoCodec, audioCodec } as const;
}

/** Frame sizes SVT-AV1 (the AV1 encoder) accepts; outside them it refuses after ffmpeg has started. */
export const AV1_FRAME_LIMITS = { minSide: 64, maxWidth: 16384, maxHeight: 8704 } as const;

function checkAv1Size(width: number, height: number): void {
  const { minSide, maxWidth, maxHeight } = AV1_FRAME_LIMITS;
  if (width < minSide || height < minSide || width > maxWidth || height > maxHeight) {
    throw new UnprocessableError(
      `'vc-av1' encodes frames from ${minSide}x${minSide} to ${maxWidth}x${maxHeight}; the parameters ask for ${width}x${height}`,
      'output_size_unsupported',
    );
  }
}

/**
 * Plans a video transformation. Pure: everything comes from the parsed parameters, the probe,
 * the limits and the client's `f-auto` choice.
 */
export function planVideo(
  params: TransformParams,
  info: MediaInfo,
  limits: PlanLimits,
  auto: AutoFormat,
): VideoPlan {
  const { container, videoCodec, audioCodec } = chooseFormat(params, info, auto);
  if (!info.video) {
    // Nothing is silently ignored: a frame-shaping parameter on a source without frames is an error.
    const shaping = GEOMETRY_KEYS.find((key) => params[key] !== undefined);
    if (shaping) {
      throw new BadRequestError(
        `Parameter '${shaping}' shapes the picture, but the source has no video stream (audio only)`,
        shaping,
      );
    }
  }
  if (videoCodec === 'none' && audioCodec === 'none') {
    throw new UnsupportedMediaError(
      info.video
        ? 'The request removes both video and audio (vc-none with a silent source)'
        : 'The source has no video or audio to keep',
    );
  }
  const duration = info.duration;
  const start = resolveTime(params.so, duration, 'so') ?? 0;
  const end = resolveTime(params.eo, duration, 'eo');
  const length = resolveTime(params.du, duration, 'du');
  if (duration > 0 && start >= duration) {
    throw new BadRequestError(
      `Parameter 'so' is ${start} s but the video lasts ${duration.toFixed(2)} s`,
      'so',
    );
  }
  if (end !== undefined && end <= start)
    throw new BadRequestError(`Parameter 'eo' (${end} s) must be after the start (${start} s)`, 'eo');
  if (length !== undefined && length <= 0)
    throw new BadRequestError(`Parameter 'du' must be greater than 0`, 'du');
  let outDuration = end !== undefined ? end - start : length;
  if (outDuration !== undefined && duration > 0 && start + outDuration >= duration) outDuration = undefined;
  let geometry = { ops: [] as GeometryOp[], width: 0, height: 0 };
  if (videoCodec !== 'none' && info.video) {
    geometry = planGeometry(params, info.video, {
      even: true,
      defaultBackground: '000000',
      maxOutputPixels: limits.maxOutputPixels,
    });
    if (videoCodec === 'av1') checkAv1Size(geometry.width, geometry.height);
  }
  const quality = params.q ?? DEFAULT_VIDEO_QUALITY;
  const roundedDuration = outDuration === undefined ? undefined : Math.round(outDuration * 1000) / 1000;
  return {
    kind: 'video',
    container,
    videoCodec,
    audioCodec,
    start,
    duration: roundedDuration,
    expectedSeconds: roundedDuration ?? (duration > 0 ? Math.max(0, duration - start) : 0),
    ops: geometry.ops,
    width: geometry.width,
    height: geometry.height,
    crf: crfFor(videoCodec, quality),
    quality,
    contentType: contentTypeFor(container, videoCodec !== 'none'),
  };
}
