import type { GeometryOp } from '../plan/geometry.js';
import type { Demuxer } from './sniff.js';

/**
 * Pure argv builders. Nothing here runs a process; `runner.ts` does. Tests check these arrays
 * without ffmpeg.
 */

/** Where ffmpeg reads a source from: always a loopback URL of the proxy's own source endpoint. */
export interface SourceInput {
  url: string;
  /** Forced demuxer, chosen by sniffing the bytes. */
  demuxer: Demuxer;
}

/** Input options shared by every ffmpeg/ffprobe invocation: narrow protocols, forced demuxer. */
export function inputArgs(input: SourceInput, seekSeconds?: number): string[] {
  // The source endpoint answers in windows; `-reconnect` makes ffmpeg ask for the next one.
  const args = [
    '-protocol_whitelist',
    'http,tcp',
    '-reconnect',
    '1',
    '-reconnect_delay_max',
    '1',
    '-f',
    input.demuxer,
  ];
  if (input.demuxer === 'mov') {
    // The moov index already describes every stream, so probing needs only the first packets;
    // the default (5 MB of packets) would read megabytes from the origin before seeking.
    args.push(
      '-enable_drefs',
      '0',
      '-use_absolute_path',
      '0',
      '-probesize',
      '131072',
      '-analyzeduration',
      '500000',
    );
  }
  if (seekSeconds !== undefined && seekSeconds > 0) args.push('-ss', seconds(seekSeconds));
  args.push('-i', input.url);
  return args;
}

/** Formats seconds for ffmpeg without exponent notation. */
export function seconds(value: number): string {
  return (Math.round(value * 1000) / 1000).toFixed(3);
}

/** `ffprobe` argv that prints format and streams as JSON. */
export function probeArgs(input: SourceInput): string[] {
  return ['-v', 'error', ...inputArgs(input), '-print_format', 'json', '-show_format', '-show_streams'];
}

/**
 * One decoded frame at `timeSeconds` as PNG on stdout. Seeking before `-i` lets the demuxer jump
 * to the nearest keyframe through the index (reading only the bytes around it) and decode
 * forward to the exact frame. ffmpeg applies the source's rotation metadata itself.
 */
export function frameArgs(
  input: SourceInput,
  timeSeconds: number,
  fromEnd = false,
  filters: readonly string[] = [],
): string[] {
  const seek = fromEnd ? ['-sseof', seconds(-Math.max(timeSeconds, 0.1))] : [];
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    // One frame: frame threading would only delay it behind a pipeline of frames.
    '-threads',
    '1',
    ...seek,
    ...inputArgs(input, fromEnd ? undefined : timeSeconds),
    '-map',
    '0:v:0',
    ...(filters.length > 0 ? ['-vf', filters.join(',')] : []),
    '-frames:v',
    '1',
    '-an',
    '-sn',
    '-dn',
    '-c:v',
    'png',
    '-compression_level',
    '0',
    '-f',
    'image2pipe',
    'pipe:1',
  ];
}

/**
 * Copies a finished local output into a new file with its seek index (WebM Cues) written. Only
 * ever run on files the proxy itself produced, hence the `file` protocol.
 */
export function remuxWithIndexArgs(inputPath: string, outputPath: string, format: 'webm'): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-protocol_whitelist',
    'file',
    '-f',
    format,
    '-i',
    inputPath,
    '-map',
    '0',
    '-c',
    'copy',
    '-f',
    format,
    '-y',
    outputPath,
  ];
}

/**
 * Moves the leading rotate/resize steps of a still's geometry into ffmpeg's filter chain, so a
 * 300 px thumbnail of a 4K frame leaves ffmpeg as 300 px instead of a 25 MB PNG for sharp. The
 * remaining steps (crop, pad, border, corners) stay with sharp.
 */
export function splitFrameFilters(ops: readonly GeometryOp[]): { filters: string[]; rest: GeometryOp[] } {
  const filters: string[] = [];
  let index = 0;
  for (; index < ops.length; index++) {
    const op = ops[index]!;
    if (op.op === 'rotate')
      filters.push(
        op.degrees === 90 ? 'transpose=clock' : op.degrees === 270 ? 'transpose=cclock' : 'hflip,vflip',
      );
    else if (op.op === 'resize') filters.push(`scale=${op.width}:${op.height}:flags=lanczos`, 'setsar=1');
    else break;
  }
  return { filters, rest: ops.slice(index) };
}

/**
 * One sprite sheet as JPEG on stdout: from the sheet's first second, keyframes only (a preview
 * needs no exact frame, and decoding every frame of a long source would take minutes), one tile
 * per `interval` seconds, laid into a `columns` x `rows` grid.
 */
export function spriteSheetArgs(
  input: SourceInput,
  sheet: {
    start: number;
    duration: number;
    interval: number;
    tileWidth: number;
    tileHeight: number;
    columns: number;
    rows: number;
  },
): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-skip_frame',
    'nokey',
    ...inputArgs(input, sheet.start),
    '-t',
    seconds(sheet.duration),
    '-map',
    '0:v:0',
    '-an',
    '-sn',
    '-dn',
    '-vf',
    // The last picture is held to the end, so the last tiles of a sheet are not left black.
    `tpad=stop_mode=clone:stop_duration=${sheet.interval * 2},fps=1/${sheet.interval},scale=${sheet.tileWidth}:${sheet.tileHeight}:flags=bicubic,setsar=1,tile=${sheet.columns}x${sheet.rows}`,
    '-frames:v',
    '1',
    '-c:v',
    'mjpeg',
    '-q:v',
    '5',
    '-f',
    'image2pipe',
    'pipe:1',
  ];
}

/**
 * ffmpeg reading a frame file (see `frameMp4`) on stdin and writing its first frame as a binary
 * PPM (RGB, with its size in a one-line header). The same for every still, so the process can be
 * started before the request (`StillDecoder`); sharp does the geometry. PPM rather than PNG: at
 * 1080p ffmpeg's PNG encoder adds about 80 ms, a PPM is a copy. A file rather than stdout: 6 MB
 * through a pipe in 64 KB reads cost about 40 ms more than one read of a file just written. One
 * thread: the frame file holds one keyframe interval.
 */
export function indexedFrameArgs(output: string): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-threads',
    '1',
    '-f',
    'mov',
    '-i',
    'pipe:0',
    '-map',
    '0:v:0',
    '-frames:v',
    '1',
    '-an',
    '-sn',
    '-dn',
    '-pix_fmt',
    'rgb24',
    '-c:v',
    'ppm',
    '-f',
    'image2',
    '-update',
    '1',
    '-y',
    `file:${output}`,
  ];
}
