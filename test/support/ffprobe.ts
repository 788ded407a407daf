import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type ProbeJson, parseProbeOutput } from '../../src/media/probe.js';
import type { MediaInfo } from '../../src/media/types.js';

/**
 * The real ffprobe (and ffmpeg, for "does it decode") as tests and the bench use them to check
 * media: never the proxy's own probe code, except in {@link probeMediaInfo}, which deliberately
 * feeds ffprobe's JSON to the product's parser. Free of vitest so bench/ can import it.
 */

const execFileAsync = promisify(execFile);

/** The real ffmpeg: `FFMPEG_PATH`, else `ffmpeg` on the PATH (the binary test/global-setup.ts checks). */
export const REAL_FFMPEG = process.env.FFMPEG_PATH || 'ffmpeg';
/** The real ffprobe: `FFPROBE_PATH`, else `ffprobe` on the PATH (the binary test/global-setup.ts checks). */
export const REAL_FFPROBE = process.env.FFPROBE_PATH || 'ffprobe';

/** One stream of `ffprobe -show_streams` (the fields tests read; all optional beyond type and codec). */
export interface ProbedStream {
  index?: number;
  codec_type: 'video' | 'audio' | string;
  codec_name: string;
  profile?: string;
  level?: number;
  width?: number;
  height?: number;
  pix_fmt?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
  start_time?: string;
  duration?: string;
  nb_read_frames?: string;
  nb_read_packets?: string;
  tags?: Record<string, string>;
  side_data_list?: Array<{ side_data_type?: string; rotation?: number }>;
}

/** `ffprobe -show_format -show_streams` as JSON: the container and its streams. */
export interface ProbeResult {
  format: { format_name: string; duration?: string; size?: string; bit_rate?: string };
  streams: ProbedStream[];
}

/**
 * Runs the real ffprobe as `ffprobe -v error <args> -of json <file>` and parses its output.
 * Rejects (with ffprobe's stderr in the error) when ffprobe fails.
 */
export async function ffprobeJson<T>(file: string, args: readonly string[]): Promise<T> {
  const { stdout } = await execFileAsync(REAL_FFPROBE, ['-v', 'error', ...args, '-of', 'json', file], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as T;
}

/**
 * `ffprobe -show_format -show_streams` of a local file. `extraArgs` go before the show options
 * (e.g. `['-f', 'mov']` to force a demuxer).
 */
export function ffprobe<T = ProbeResult>(file: string, extraArgs: readonly string[] = []): Promise<T> {
  return ffprobeJson<T>(file, [...extraArgs, '-show_format', '-show_streams']);
}

/** Writes `body` to a temporary `body.<extension>`, probes it with {@link ffprobe}, and removes it. */
export async function ffprobeBytes(body: Buffer, extension: string): Promise<ProbeResult> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'ikvp-probe-'));
  const file = path.join(directory, `body.${extension}`);
  try {
    await writeFile(file, body);
    return await ffprobe(file);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/**
 * `ffprobe -v error [-select_streams <select>] <args> -show_entries <entries> -of csv=p=0 <file>`:
 * one array of comma-separated fields per non-empty output line, e.g.
 * `ffprobeCsv(file, 'packet=pts_time', { select: 'v:0' })` -> `[['0.000000'], ['0.033333'], ...]`.
 */
export async function ffprobeCsv(
  file: string,
  entries: string,
  options: { select?: string; args?: readonly string[] } = {},
): Promise<string[][]> {
  const select = options.select ? ['-select_streams', options.select] : [];
  const { stdout } = await execFileAsync(
    REAL_FFPROBE,
    ['-v', 'error', ...select, ...(options.args ?? []), '-show_entries', entries, '-of', 'csv=p=0', file],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => line.split(','));
}

/** The container duration ffprobe reports for a file, in seconds; undefined when it has none (or says N/A). */
export async function ffprobeDuration(file: string): Promise<number | undefined> {
  const probed = await ffprobeJson<{ format?: { duration?: string } }>(file, [
    '-show_entries',
    'format=duration',
  ]);
  const value = probed.format?.duration;
  return value === undefined || value === 'N/A' ? undefined : Number(value);
}

/** The first stream of a type, or undefined. */
export function streamOf(probed: ProbeResult, type: 'video' | 'audio'): ProbedStream | undefined {
  return probed.streams.find((stream) => stream.codec_type === type);
}

/**
 * Clockwise display rotation (0/90/180/270) from ffprobe's display matrix (which ffprobe reports
 * counter-clockwise: a phone's "rotate=90" is -90 there) or else the legacy clockwise `rotate` tag.
 */
export function displayRotation(stream: ProbedStream): number {
  const matrix = stream.side_data_list?.find((side) => side.side_data_type === 'Display Matrix');
  const counterClockwise = matrix?.rotation ?? -Number(stream.tags?.rotate ?? 0);
  return ((-counterClockwise % 360) + 360) % 360;
}

/**
 * Where a stream's content starts and ends on the output timeline, from its packets. A packet
 * without a duration is skipped: ffmpeg's fragmented mp4 writes the AAC priming packet that way
 * at time 0 (the encoder delay, not content), which would otherwise hide the real start.
 */
export async function packetSpan(file: string, type: 'v' | 'a'): Promise<{ first: number; end: number }> {
  const rows = await ffprobeCsv(file, 'packet=pts_time,duration_time', { select: `${type}:0` });
  let first = Number.POSITIVE_INFINITY;
  let end = Number.NEGATIVE_INFINITY;
  for (const [ptsText, durationText] of rows) {
    const pts = Number.parseFloat(ptsText ?? '');
    const duration = Number.parseFloat(durationText ?? '');
    if (!Number.isFinite(pts) || !Number.isFinite(duration)) continue;
    first = Math.min(first, pts);
    end = Math.max(end, pts + duration);
  }
  if (!Number.isFinite(first)) throw new Error(`No timed ${type} packets in ${file}`);
  return { first, end };
}

/**
 * A local file probed by the real ffprobe and read by the product's own parser
 * (`parseProbeOutput`), i.e. the `MediaInfo` the proxy would work from.
 */
export async function probeMediaInfo(file: string): Promise<MediaInfo> {
  const [json, { size }] = await Promise.all([ffprobe<ProbeJson>(file), stat(file)]);
  return parseProbeOutput(json, size);
}

/** Decodes every frame of a local file with the real ffmpeg; rejects if it does not decode cleanly (`-xerror`). */
export async function decodeCompletely(file: string): Promise<void> {
  await execFileAsync(REAL_FFMPEG, ['-hide_banner', '-v', 'error', '-xerror', '-i', file, '-f', 'null', '-']);
}

/** Decodes the whole file with the real ffmpeg and returns what it says is wrong ('' when nothing). */
export async function decodeErrors(file: string): Promise<string> {
  try {
    const { stderr } = await execFileAsync(
      REAL_FFMPEG,
      ['-hide_banner', '-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-'],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    return stderr.trim();
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    return (failure.stderr || failure.message).trim() || 'ffmpeg failed';
  }
}
