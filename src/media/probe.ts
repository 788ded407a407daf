import { UnprocessableError } from '../errors.js';
import type { AudioStreamInfo, MediaInfo, VideoStreamInfo } from './types.js';

/** The subset of `ffprobe -print_format json -show_format -show_streams` we read. */
export interface ProbeJson {
  format?: { format_name?: string; duration?: string; bit_rate?: string; size?: string };
  streams?: Array<{
    codec_type?: string;
    codec_name?: string;
    width?: number;
    height?: number;
    avg_frame_rate?: string;
    r_frame_rate?: string;
    pix_fmt?: string;
    bit_rate?: string;
    sample_rate?: string;
    channels?: number;
    duration?: string;
    disposition?: { attached_pic?: number };
    tags?: Record<string, string>;
    side_data_list?: Array<{ side_data_type?: string; rotation?: number }>;
  }>;
}

function rate(value: string | undefined): number {
  if (!value) return 0;
  const [num, den] = value.split('/').map(Number);
  if (!num || !Number.isFinite(num)) return 0;
  if (den === undefined) return num;
  return den ? num / den : 0;
}

function number(value: string | undefined): number {
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : 0;
}

/** The clockwise display rotation, from the display matrix (ffmpeg >= 5) or the legacy `rotate` tag. */
function rotationOf(stream: NonNullable<ProbeJson['streams']>[number]): 0 | 90 | 180 | 270 {
  const matrix = stream.side_data_list?.find((side) => side.side_data_type === 'Display Matrix');
  // The display matrix stores counter-clockwise degrees; players rotate clockwise by the negation.
  const degrees = matrix?.rotation !== undefined ? -matrix.rotation : number(stream.tags?.rotate);
  const normalised = (((Math.round(degrees / 90) * 90) % 360) + 360) % 360;
  return normalised as 0 | 90 | 180 | 270;
}

/**
 * Slack before a file counts as truncated: ffprobe rounds each stream's bit rate to whole bits per
 * second, so the product with the duration is only nearly the sum of the sample sizes.
 */
const TRUNCATION_TOLERANCE = 1.05;
const TRUNCATION_SLACK_BYTES = 64 * 1024;

/**
 * The bytes of media samples an ISO BMFF (MP4/MOV/3GP/M4A) file's index says it holds. ffmpeg's
 * mov demuxer derives each stream's bit rate from its sample-size table and duration, so
 * `bit_rate * duration / 8` is that stream's sample bytes. Other containers estimate bit rates,
 * so there the answer is `undefined` (unknown).
 */
export function declaredSampleBytes(json: ProbeJson): number | undefined {
  if (!json.format?.format_name?.split(',').includes('mov')) return undefined;
  let total = 0;
  for (const stream of json.streams ?? []) total += (number(stream.bit_rate) * number(stream.duration)) / 8;
  return total;
}

/**
 * Refuses a source whose index promises far more sample bytes than the file holds: an upload cut
 * short. Its header probes as a healthy video, so without this check a thumbnail past the cut
 * fails late and a transcode streams a 200 that silently stops halfway.
 *
 * @throws UnprocessableError (422, `truncated_source`)
 */
export function assertNotTruncated(json: ProbeJson, size: number): void {
  const declared = declaredSampleBytes(json);
  if (declared === undefined || size <= 0) return;
  if (declared > size * TRUNCATION_TOLERANCE + TRUNCATION_SLACK_BYTES) {
    throw new UnprocessableError(
      `The source is truncated: its index lists ${Math.round(declared)} bytes of samples but the file has ${size} bytes`,
      'truncated_source',
    );
  }
}

/**
 * Turns ffprobe's JSON into `MediaInfo`. Pure, so it is tested without ffprobe.
 *
 * @throws UnprocessableError (422) when the file is truncated (see `assertNotTruncated`).
 */
export function parseProbeOutput(json: ProbeJson, size: number): MediaInfo {
  assertNotTruncated(json, size);
  const streams = json.streams ?? [];
  const videoStream = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  const audioStream = streams.find((s) => s.codec_type === 'audio');
  let video: VideoStreamInfo | undefined;
  if (videoStream?.width && videoStream.height) {
    const rotation = rotationOf(videoStream);
    const swap = rotation === 90 || rotation === 270;
    video = {
      codec: videoStream.codec_name ?? 'unknown',
      codedWidth: videoStream.width,
      codedHeight: videoStream.height,
      width: swap ? videoStream.height : videoStream.width,
      height: swap ? videoStream.width : videoStream.height,
      rotation,
      frameRate: rate(videoStream.avg_frame_rate) || rate(videoStream.r_frame_rate),
      pixelFormat: videoStream.pix_fmt ?? 'unknown',
      bitRate: number(videoStream.bit_rate),
    };
  }
  let audio: AudioStreamInfo | undefined;
  if (audioStream) {
    audio = {
      codec: audioStream.codec_name ?? 'unknown',
      sampleRate: number(audioStream.sample_rate),
      channels: audioStream.channels ?? 0,
      bitRate: number(audioStream.bit_rate),
    };
  }
  const streamDurations = streams.map((s) => number(s.duration)).filter((d) => d > 0);
  const duration = number(json.format?.duration) || Math.max(0, ...streamDurations);
  return {
    formatName: json.format?.format_name ?? 'unknown',
    duration,
    bitRate: number(json.format?.bit_rate),
    size,
    video,
    audio,
    streamCount: streams.length,
  };
}
