import { BadRequestError, UnprocessableError, UnsupportedMediaError } from '../errors.js';
import type { MediaInfo } from '../media/types.js';
import { resolveTime } from '../plan/time.js';
import type { TransformParams } from '../url/types.js';
import { AUDIO_TRACK_HEIGHT } from './layout.js';

/**
 * Adaptive streaming (HLS + DASH over CMAF fMP4), planned from the probe alone. Every playlist
 * and manifest is written at once; every segment is a stateless job described by
 * `segmentWindow`, so any process can encode any segment in any order and the pieces line up.
 *
 * Timing model: the output timeline starts at 0 at the window start (`so`). Video is constant
 * frame rate; a video segment is a whole number of frames (`framesPerSegment`, about D seconds),
 * so segment boundaries are exact on the video timescale and no segment is ever a frame short.
 * Audio is 48 kHz AAC; its boundaries sit on the 1024-sample AAC frame grid nearest the video
 * boundaries, so independently encoded audio segments join frame to frame with no gap or overlap.
 */

/** Reference ladder (ImageKit's): rendition height -> video bit rate in bits per second. */
export const ABS_LADDER: Readonly<Record<number, number>> = {
  240: 200_000,
  360: 400_000,
  480: 800_000,
  720: 3_300_000,
  1080: 5_500_000,
  1440: 12_000_000,
  2160: 18_000_000,
};

/**
 * Most segments one stream may list (about 22 hours at 4 s): it bounds the size of every
 * playlist and manifest, and the plan's memory, whatever the source declares.
 */
export const MAX_SEGMENTS = 20_000;

/** Segment duration when the caller does not choose one. */
export const DEFAULT_SEGMENT_SECONDS = 4;
export { AUDIO_TRACK_HEIGHT } from './layout.js';
/** Audio output: AAC-LC, 48 kHz stereo. */
export const AUDIO_SAMPLE_RATE = 48_000;
export const AUDIO_CHANNELS = 2;
export const AUDIO_BIT_RATE = 128_000;
export const AUDIO_CODECS = 'mp4a.40.2';
/** Samples per AAC-LC frame: audio segment boundaries are multiples of this. */
export const AAC_FRAME_SAMPLES = 1024;
/** Highest output frame rate; faster sources are resampled down to it. */
export const MAX_ABS_FRAME_RATE = 60;
/**
 * The VBV buffer is this many seconds of the ladder rate. It bounds how far one segment can
 * exceed the ladder rate, which is what the advertised peak `BANDWIDTH` must cover.
 */
export const VBV_BUFFER_SECONDS = 1;

/** A frame rate as an exact fraction (30000/1001 for 29.97). */
export interface FrameRate {
  num: number;
  den: number;
}

/** One video rendition of the ladder. */
export interface AbsRendition {
  height: number;
  /** Even width that keeps the displayed aspect ratio (after `rt`). */
  width: number;
  /** x264 `-maxrate` in bits per second (the ladder rate). */
  maxRate: number;
  /** x264 `-bufsize` in bits. */
  bufferSize: number;
  /** Peak bits per second of a segment, video + audio (HLS `BANDWIDTH`, DASH `bandwidth`). */
  bandwidth: number;
  /** Average bits per second, video + audio (HLS `AVERAGE-BANDWIDTH`). */
  averageBandwidth: number;
  /** H.264 level passed to x264 (`3.1`), chosen from frame size, frame rate and bit rate. */
  level: string;
  /** RFC 6381 codec string of the video stream alone (`avc1.64001f`). */
  codecs: string;
}

/** The video timeline shared by every rendition. */
export interface AbsVideoTimeline {
  frameRate: FrameRate;
  /** Track timescale (ticks per second): 90000 when a frame is a whole number of ticks, else the rate's numerator. */
  timescale: number;
  /** Ticks per frame on `timescale`. */
  frameTicks: number;
  framesPerSegment: number;
  totalFrames: number;
}

/** The audio track (present when the source has audio). */
export interface AbsAudioTrack {
  sampleRate: number;
  channels: number;
  bitRate: number;
  codecs: string;
  /** Segment boundaries in samples from the window start; `segmentCount + 1` entries, multiples of 1024. */
  boundaries: number[];
}

/** Everything needed to write manifests and to encode any segment. Plain data. */
export interface AbsPlan {
  kind: 'abs';
  /** Window on the source timeline, seconds: [start, end). */
  start: number;
  end: number;
  /** Nominal segment duration D, seconds. */
  segmentSeconds: number;
  /** Clockwise rotation requested with `rt` (the source's own rotation is applied by ffmpeg). */
  rotate: 0 | 90 | 180 | 270;
  /** Display size of the source after `rt`. */
  sourceWidth: number;
  sourceHeight: number;
  /** Ascending by height. */
  renditions: AbsRendition[];
  video: AbsVideoTimeline;
  audio?: AbsAudioTrack;
  /** Number of segments of every track (video and audio have the same count). */
  segmentCount: number;
}

/** Where one segment sits on its track. */
export interface SegmentWindow {
  /** Seconds from the window start (output timeline). */
  start: number;
  duration: number;
  /** The same on the track's timescale: `startTicks` is the fragment's baseMediaDecodeTime. */
  timescale: number;
  startTicks: number;
  durationTicks: number;
  /** Video: first frame index and frame count. Audio: first sample and sample count. */
  first: number;
  count: number;
}

const NTSC_BASES = [24, 30, 48, 60, 120];

/**
 * Turns a probed (average) frame rate into the constant output rate: NTSC rates become their
 * exact 1000/1001 fractions, anything else the nearest whole number, capped at 60.
 */
export function outputFrameRate(fps: number): FrameRate {
  if (!Number.isFinite(fps) || fps <= 0) return { num: 25, den: 1 };
  for (const base of NTSC_BASES) {
    const ntsc = (base * 1000) / 1001;
    if (Math.abs(fps - ntsc) < 0.01 && base <= MAX_ABS_FRAME_RATE) return { num: base * 1000, den: 1001 };
  }
  if (fps > MAX_ABS_FRAME_RATE) return { num: MAX_ABS_FRAME_RATE, den: 1 };
  return { num: Math.max(1, Math.round(fps)), den: 1 };
}

function videoTimescale(rate: FrameRate): number {
  return (90_000 * rate.den) % rate.num === 0 ? 90_000 : rate.num;
}

interface LevelLimits {
  name: string;
  idc: number;
  /** Macroblocks per frame. */
  maxFs: number;
  /** Macroblocks per second. */
  maxMbps: number;
  /** kbit/s, baseline/main values (High allows 1.25x). */
  maxBr: number;
}

const LEVELS: LevelLimits[] = [
  { name: '3.0', idc: 30, maxFs: 1620, maxMbps: 40_500, maxBr: 10_000 },
  { name: '3.1', idc: 31, maxFs: 3600, maxMbps: 108_000, maxBr: 14_000 },
  { name: '3.2', idc: 32, maxFs: 5120, maxMbps: 216_000, maxBr: 20_000 },
  { name: '4.0', idc: 40, maxFs: 8192, maxMbps: 245_760, maxBr: 20_000 },
  { name: '4.1', idc: 41, maxFs: 8192, maxMbps: 245_760, maxBr: 50_000 },
  { name: '4.2', idc: 42, maxFs: 8704, maxMbps: 522_240, maxBr: 50_000 },
  { name: '5.0', idc: 50, maxFs: 22_080, maxMbps: 589_824, maxBr: 135_000 },
  { name: '5.1', idc: 51, maxFs: 36_864, maxMbps: 983_040, maxBr: 240_000 },
  { name: '5.2', idc: 52, maxFs: 36_864, maxMbps: 2_073_600, maxBr: 240_000 },
];

/**
 * The lowest H.264 level (3.0 at least, for broad device support) whose frame size, macroblock
 * rate and bit rate limits admit the rendition. x264 is pinned to it, so the codec string is known
 * before any encode.
 */
export function h264Level(width: number, height: number, rate: FrameRate, maxRate: number): LevelLimits {
  const macroblocks = Math.ceil(width / 16) * Math.ceil(height / 16);
  const perSecond = (macroblocks * rate.num) / rate.den;
  const side = Math.max(Math.ceil(width / 16), Math.ceil(height / 16));
  for (const level of LEVELS) {
    // A side may not exceed sqrt(8 * MaxFS) macroblocks.
    const sideOk = side * side <= level.maxFs * 8;
    if (macroblocks <= level.maxFs && perSecond <= level.maxMbps && sideOk && maxRate <= level.maxBr * 1250)
      return level;
  }
  return LEVELS[LEVELS.length - 1]!;
}

/** `avc1.PPCCLL` for x264 High profile (profile_idc 100, no constraint flags) at a level. */
export function avcCodecString(levelIdc: number): string {
  return `avc1.6400${levelIdc.toString(16).padStart(2, '0')}`;
}

function resolveWindow(params: TransformParams, duration: number): { start: number; end: number } {
  const start = resolveTime(params.so, duration, 'so') ?? 0;
  const eo = resolveTime(params.eo, duration, 'eo');
  const du = resolveTime(params.du, duration, 'du');
  if (eo !== undefined && du !== undefined) {
    throw new BadRequestError("Parameters 'eo' and 'du' both set the end; give only one", 'du');
  }
  if (start >= duration) {
    throw new BadRequestError(
      `Parameter 'so' is ${start} s but the video lasts ${duration.toFixed(2)} s`,
      'so',
    );
  }
  let end = duration;
  if (eo !== undefined) {
    if (eo <= start)
      throw new BadRequestError(`Parameter 'eo' (${eo} s) must be after the start (${start} s)`, 'eo');
    end = Math.min(eo, duration);
  } else if (du !== undefined) {
    if (du <= 0) throw new BadRequestError(`Parameter 'du' must be positive, got ${du}`, 'du');
    end = Math.min(start + du, duration);
  }
  return { start, end };
}

function evenWidth(height: number, aspect: number): number {
  return Math.max(2, Math.round((height * aspect) / 2) * 2);
}

/**
 * Plans an adaptive stream for the `sr` ladder of `params` over the source described by `info`.
 * Pure. Throws `BadRequestError` when no rendition fits the source (the message names its
 * height) or the time window is empty, `UnsupportedMediaError` when there is no video.
 */
export function planAbs(
  params: TransformParams,
  info: MediaInfo,
  segmentSeconds = DEFAULT_SEGMENT_SECONDS,
): AbsPlan {
  const video = info.video;
  if (!video) throw new UnsupportedMediaError('The source has no video stream to stream adaptively');
  if (!(segmentSeconds > 0))
    throw new BadRequestError(`Segment duration must be positive, got ${segmentSeconds}`);
  const ladder = params.sr ?? [];
  if (ladder.length === 0)
    throw new BadRequestError('Adaptive streaming needs sr, e.g. tr=sr-240_360_720', 'sr');
  const rotate = params.rt ?? 0;
  const turned = rotate === 90 || rotate === 270;
  const sourceWidth = turned ? video.height : video.width;
  const sourceHeight = turned ? video.width : video.height;
  const aspect = sourceWidth / sourceHeight;

  const { start, end } = resolveWindow(params, info.duration);
  const frameRate = outputFrameRate(video.frameRate);
  const timescale = videoTimescale(frameRate);
  const frameTicks = (timescale * frameRate.den) / frameRate.num;
  const fps = frameRate.num / frameRate.den;
  const totalFrames = Math.max(1, Math.ceil((end - start) * fps - 1e-6));
  const framesPerSegment = Math.max(1, Math.round(segmentSeconds * fps));
  const segmentCount = Math.ceil(totalFrames / framesPerSegment);
  // The playlists list every segment and the plan holds a boundary per segment: bound both
  // before anything is allocated, whatever the source declares and the limits allow.
  if (!Number.isFinite(segmentCount) || segmentCount > MAX_SEGMENTS) {
    throw new UnprocessableError(
      `The stream would have ${Number.isFinite(segmentCount) ? segmentCount : 'unboundedly many'} segments; at most ${MAX_SEGMENTS} are listed (trim it with so/eo/du)`,
      'too_many_segments',
    );
  }

  const audioBitRate = info.audio ? AUDIO_BIT_RATE : 0;
  const heights = [...new Set(ladder)].sort((a, b) => a - b).filter((h) => h <= sourceHeight);
  if (heights.length === 0) {
    throw new BadRequestError(
      `Every rendition in sr-${ladder.join('_')} is taller than the source (${sourceHeight} px high); choose heights up to ${sourceHeight}`,
      'sr',
    );
  }
  const renditions = heights.map((height): AbsRendition => {
    const maxRate = ABS_LADDER[height];
    if (maxRate === undefined)
      throw new BadRequestError(`Rendition height ${height} is not in the ladder`, 'sr');
    const width = evenWidth(height, aspect);
    const level = h264Level(width, height, frameRate, maxRate);
    // VBV lets a segment carry at most one buffer more than the rate: D*rate + buffer bits.
    const peakVideo = Math.ceil(maxRate * (1 + VBV_BUFFER_SECONDS / segmentSeconds));
    return {
      height,
      width,
      maxRate,
      bufferSize: maxRate * VBV_BUFFER_SECONDS,
      bandwidth: peakVideo + audioBitRate,
      averageBandwidth: maxRate + audioBitRate,
      level: level.name,
      codecs: avcCodecString(level.idc),
    };
  });

  const plan: AbsPlan = {
    kind: 'abs',
    start,
    end,
    segmentSeconds,
    rotate,
    sourceWidth,
    sourceHeight,
    renditions,
    video: { frameRate, timescale, frameTicks, framesPerSegment, totalFrames },
    segmentCount,
  };
  if (info.audio) plan.audio = planAudio(plan.video, segmentCount);
  return plan;
}

function planAudio(video: AbsVideoTimeline, segmentCount: number): AbsAudioTrack {
  const toGrid = (frames: number): number => {
    const seconds = (frames * video.frameRate.den) / video.frameRate.num;
    return Math.round((seconds * AUDIO_SAMPLE_RATE) / AAC_FRAME_SAMPLES) * AAC_FRAME_SAMPLES;
  };
  const boundaries = [0];
  for (let k = 1; k <= segmentCount; k++) {
    const frames = Math.min(k * video.framesPerSegment, video.totalFrames);
    // Never an empty segment, even when a very short last video segment rounds to nothing.
    boundaries.push(Math.max(toGrid(frames), boundaries[k - 1]! + AAC_FRAME_SAMPLES));
  }
  return {
    sampleRate: AUDIO_SAMPLE_RATE,
    channels: AUDIO_CHANNELS,
    bitRate: AUDIO_BIT_RATE,
    codecs: AUDIO_CODECS,
    boundaries,
  };
}

/** Number of segments of any track of the plan (video renditions and audio share it). */
export function segmentCount(plan: AbsPlan): number {
  return plan.segmentCount;
}

/** True when `height` names a track of the plan (a rendition height, or 0 for audio when present). */
export function hasTrack(plan: AbsPlan, height: number): boolean {
  if (height === AUDIO_TRACK_HEIGHT) return plan.audio !== undefined;
  return plan.renditions.some((r) => r.height === height);
}

/** The rendition of `height`; throws `BadRequestError` when the plan has none. */
export function renditionOf(plan: AbsPlan, height: number): AbsRendition {
  const rendition = plan.renditions.find((r) => r.height === height);
  if (!rendition) {
    throw new BadRequestError(
      `Rendition ${height} is not available for this source (available: ${plan.renditions.map((r) => r.height).join(', ')})`,
      'sr',
    );
  }
  return rendition;
}

/**
 * Where segment `index` of the track `height` (0 = audio) lies: the job's seek point, length,
 * and the fragment's baseMediaDecodeTime. Throws `BadRequestError` for a track or index the plan
 * does not have.
 */
export function segmentWindow(plan: AbsPlan, height: number, index: number): SegmentWindow {
  if (!Number.isInteger(index) || index < 0 || index >= plan.segmentCount) {
    throw new BadRequestError(
      `Segment ${index} does not exist; this stream has ${plan.segmentCount} segments`,
      'suffix',
    );
  }
  if (height === AUDIO_TRACK_HEIGHT) {
    const audio = plan.audio;
    if (!audio) throw new BadRequestError('The source has no audio track', 'suffix');
    const first = audio.boundaries[index]!;
    const count = audio.boundaries[index + 1]! - first;
    return {
      start: first / audio.sampleRate,
      duration: count / audio.sampleRate,
      timescale: audio.sampleRate,
      startTicks: first,
      durationTicks: count,
      first,
      count,
    };
  }
  renditionOf(plan, height);
  const v = plan.video;
  const first = index * v.framesPerSegment;
  const count = Math.min(v.framesPerSegment, v.totalFrames - first);
  return {
    start: (first * v.frameRate.den) / v.frameRate.num,
    duration: (count * v.frameRate.den) / v.frameRate.num,
    timescale: v.timescale,
    startTicks: first * v.frameTicks,
    durationTicks: count * v.frameTicks,
    first,
    count,
  };
}

/** Length of the whole presentation in seconds (video timeline). */
export function presentationSeconds(plan: AbsPlan): number {
  return (plan.video.totalFrames * plan.video.frameRate.den) / plan.video.frameRate.num;
}
