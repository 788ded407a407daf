/**
 * Pure: the live ladder (which heights, what bit rates) and the argv of the one ffmpeg job that
 * makes it. The job reads FLV on stdin (the RTMP session's messages, re-stamped) and writes one
 * fragmented MP4 (CMAF chunks) per rendition and one for audio to pipes, which the stream cuts
 * into parts and segments itself, plus a JPEG of the latest frame.
 */

/** One rendition of the live ladder. */
export interface LiveRung {
  /** Folder and public name, such as `360p`. */
  name: string;
  height: number;
  /** Width when the input's shape is known (even), else undefined. */
  width?: number;
  /** Target video bit rate, bits per second. */
  bitRate: number;
}

/** The audio variant's folder and public name. */
export const AUDIO_VARIANT = 'audio';
/** Audio bit rate of every live stream. */
export const AUDIO_BIT_RATE = 128_000;

/** `240_360_720` -> [240, 360, 720]. Throws a message for the config loader. */
export function parseLiveSr(raw: string): number[] {
  const parts = raw.split(/[_,]/).filter(Boolean);
  if (parts.length === 0 || parts.length > 6) throw new Error('expected 1 to 6 heights such as 240_360_720');
  const heights = parts.map((part) => {
    if (!/^\d{2,4}$/.test(part)) throw new Error(`'${part}' is not a height such as 360`);
    const height = Number(part);
    if (height < 64 || height > 2160 || height % 2 !== 0)
      throw new Error(`'${part}' must be an even height from 64 to 2160`);
    return height;
  });
  return [...new Set(heights)].sort((a, b) => a - b);
}

/** Bit rate for a height: about 2.5 Mbit/s at 720p, scaling with the pixel count. */
export function bitRateFor(height: number): number {
  return Math.max(200_000, Math.round((height * height * 0.005) / 10) * 10_000);
}

function even(value: number): number {
  return Math.max(2, Math.round(value / 2) * 2);
}

/**
 * The rungs for an input: the configured heights that do not exceed the input's (no upscaling);
 * when the input is smaller than all of them, one rung at the input's own height. An input of
 * unknown size gets the lowest configured rung only (a safe guess that never upscales much).
 */
export function liveRungs(
  heights: readonly number[],
  input: { width?: number; height?: number },
): LiveRung[] {
  const { width, height } = input;
  let chosen: number[];
  if (!height) chosen = [heights[0]!];
  else {
    chosen = heights.filter((h) => h <= height);
    if (chosen.length === 0) chosen = [even(height)];
  }
  return chosen.map((h) => ({
    name: `${h}p`,
    height: h,
    width: width && height ? even((width * h) / height) : undefined,
    bitRate: bitRateFor(h),
  }));
}

/** What the argv needs to know. */
export interface LiveJobShape {
  rungs: readonly LiveRung[];
  hasAudio: boolean;
  segmentSeconds: number;
  /** Part (CMAF chunk) length, seconds: the transcoder cuts a fragment at least this often. */
  partSeconds: number;
  /** Folder the job writes its thumbnail into (absolute). */
  outDir: string;
}

/** Name of the latest-frame JPEG inside `outDir`. */
export const THUMBNAIL_FILE = 'thumbnail.jpg';

/** Fragmented MP4 written as it is encoded: a fragment per part, a new one at every keyframe. */
function fragmentedOutput(partSeconds: number, fd: number): string[] {
  return [
    '-f',
    'mp4',
    '-movflags',
    '+empty_moov+default_base_moof+frag_keyframe+skip_trailer',
    '-frag_duration',
    String(Math.round(partSeconds * 1_000_000)),
    // Each fragment leaves for the pipe as soon as it is complete.
    '-flush_packets',
    '1',
    `pipe:${fd}`,
  ];
}

/**
 * The transcoder's argv (without the binary): one decode, a `split` into the ladder, one
 * fragmented-MP4 output per rung on pipes 3, 4... and the audio on the next pipe (the order of
 * `liveVariantNames`), plus a JPEG of the latest frame rewritten every second.
 */
export function liveTranscodeArgs(shape: LiveJobShape): string[] {
  const { rungs, hasAudio, segmentSeconds, partSeconds, outDir } = shape;
  const splits = rungs.length + 1;
  const labels = rungs.map((_, i) => `[s${i}]`).join('');
  const graph = [
    `[0:v:0]split=${splits}${labels}[st]`,
    ...rungs.map((r, i) => `[s${i}]scale=-2:${r.height},format=yuv420p[v${i}]`),
    "[st]fps=1,scale=-2:'min(ih,720)',format=yuvj420p[thumb]",
  ].join(';');
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostats',
    '-progress',
    'pipe:1',
    // Start from the first frames instead of analysing 5 s of input: latency.
    '-analyzeduration',
    '300000',
    '-probesize',
    '500000',
    '-f',
    'flv',
    '-i',
    'pipe:0',
    '-filter_complex',
    graph,
  ];
  rungs.forEach((r, i) => {
    args.push(
      ...['-map', `[v${i}]`, '-c:v', 'libx264', '-preset', 'veryfast'],
      // No B-frames or look-ahead: each frame leaves the encoder as soon as it is coded.
      ...['-tune', 'zerolatency', '-profile:v', 'high', '-sc_threshold', '0'],
      ...['-force_key_frames', `expr:gte(t,n_forced*${segmentSeconds})`],
      ...[
        '-b:v',
        String(r.bitRate),
        '-maxrate',
        String(Math.round(r.bitRate * 1.2)),
        '-bufsize',
        String(r.bitRate * 2),
      ],
      ...fragmentedOutput(partSeconds, 3 + i),
    );
  });
  if (hasAudio) {
    args.push(
      ...['-map', '0:a:0', '-c:a', 'aac', '-b:a', String(AUDIO_BIT_RATE), '-ac', '2', '-ar', '48000'],
      ...fragmentedOutput(partSeconds, 3 + rungs.length),
    );
  }
  args.push(
    '-map',
    '[thumb]',
    '-c:v',
    'mjpeg',
    '-q:v',
    '5',
    '-update',
    '1',
    '-atomic_writing',
    '1',
    `${outDir}/${THUMBNAIL_FILE}`,
  );
  return args;
}

/** The variants in the order of the transcoder's output pipes. */
export function liveVariantNames(rungs: readonly LiveRung[], hasAudio: boolean): string[] {
  return [...rungs.map((r) => r.name), ...(hasAudio ? [AUDIO_VARIANT] : [])];
}

/**
 * The argv that turns the recorded FLV into an MP4 with its index up front: a remux, no
 * re-encode, so it takes seconds even for an hour.
 */
export function recordingRemuxArgs(flvPath: string, mp4Path: string): string[] {
  return [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostdin',
    '-f',
    'flv',
    '-i',
    flvPath,
    '-map',
    '0:v:0?',
    '-map',
    '0:a:0?',
    '-c',
    'copy',
    '-movflags',
    '+faststart',
    '-f',
    'mp4',
    '-y',
    mp4Path,
  ];
}
