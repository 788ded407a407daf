import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const FFMPEG = process.env.FFMPEG_PATH || 'ffmpeg';
const FFPROBE = process.env.FFPROBE_PATH || 'ffprobe';

/** One stream as ffprobe reports it (the fields these tests read). */
export interface ProbedStream {
  index: number;
  codec_type: 'video' | 'audio' | string;
  codec_name: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  start_time?: string;
  duration?: string;
  side_data_list?: Array<{ rotation?: number }>;
}

/** ffprobe's view of a file: streams and container. */
export interface Probed {
  streams: ProbedStream[];
  format: { format_name: string; duration?: string; bit_rate?: string; size: string };
}

/** A decoded RGB frame. */
export interface RgbFrame {
  width: number;
  height: number;
  data: Buffer;
}

/** A folder for downloaded outputs, removed by `dispose`. */
export async function makeWorkDir(): Promise<{ dir: string; dispose(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ikvp-video-test-'));
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}

let fileCounter = 0;

/** GETs `url`, saves the body under `dir`, and returns the response with the file path. */
export async function download(
  url: string,
  dir: string,
  init: RequestInit = {},
): Promise<{ response: Response; body: Buffer; file: string }> {
  const response = await fetch(url, init);
  const body = Buffer.from(await response.arrayBuffer());
  fileCounter += 1;
  const file = path.join(dir, `out-${process.pid}-${fileCounter}`);
  await writeFile(file, body);
  return { response, body, file };
}

/** ffprobe -show_streams -show_format as JSON. */
export async function probe(file: string): Promise<Probed> {
  const { stdout } = await run(
    FFPROBE,
    ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', file],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return JSON.parse(stdout) as Probed;
}

/** The first stream of a type, or undefined. */
export function streamOf(probed: Probed, type: 'video' | 'audio'): ProbedStream | undefined {
  return probed.streams.find((stream) => stream.codec_type === type);
}

/** Decodes the whole file and returns what ffmpeg says is wrong with it ('' when nothing). */
export async function decodeErrors(file: string): Promise<string> {
  try {
    const { stderr } = await run(
      FFMPEG,
      ['-hide_banner', '-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-'],
      {
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    return stderr.trim();
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    return (failure.stderr || failure.message).trim() || 'ffmpeg failed';
  }
}

/**
 * Where a stream's content starts and ends on the output timeline, from its packets. A packet
 * without a duration is skipped: ffmpeg's fragmented mp4 writes the AAC priming packet that way
 * at time 0 (the encoder delay, not content), which would otherwise hide the real start.
 */
export async function packetSpan(file: string, type: 'v' | 'a'): Promise<{ first: number; end: number }> {
  const { stdout } = await run(
    FFPROBE,
    [
      '-v',
      'error',
      '-select_streams',
      `${type}:0`,
      '-show_entries',
      'packet=pts_time,duration_time',
      '-of',
      'csv=p=0',
      file,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  let first = Number.POSITIVE_INFINITY;
  let end = Number.NEGATIVE_INFINITY;
  for (const line of stdout.split('\n')) {
    const [ptsText, durationText] = line.trim().split(',');
    const pts = Number.parseFloat(ptsText ?? '');
    const duration = Number.parseFloat(durationText ?? '');
    if (!Number.isFinite(pts) || !Number.isFinite(duration)) continue;
    first = Math.min(first, pts);
    end = Math.max(end, pts + duration);
  }
  if (!Number.isFinite(first)) throw new Error(`No timed ${type} packets in ${file}`);
  return { first, end };
}

/** The first decoded frame as packed RGB24 (the filter `-vf` may pick another one). */
export async function firstFrame(file: string, width: number, height: number): Promise<RgbFrame> {
  const { stdout } = await run(
    FFMPEG,
    [
      '-hide_banner',
      '-nostdin',
      '-v',
      'error',
      '-i',
      file,
      '-frames:v',
      '1',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-',
    ],
    { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
  );
  const data = stdout as unknown as Buffer;
  if (data.length !== width * height * 3) {
    throw new Error(
      `Expected a ${width}x${height} frame (${width * height * 3} bytes) but got ${data.length} bytes`,
    );
  }
  return { width, height, data };
}

/** The [r, g, b] at (x, y). */
export function pixelAt(frame: RgbFrame, x: number, y: number): [number, number, number] {
  const offset = (y * frame.width + x) * 3;
  return [frame.data[offset] ?? -1, frame.data[offset + 1] ?? -1, frame.data[offset + 2] ?? -1];
}

/** True when every channel is within `tolerance` of `hex` (RRGGBB), allowing for codec error. */
export function colourNear(pixel: [number, number, number], hex: string, tolerance = 30): boolean {
  const expected = [0, 2, 4].map((at) => Number.parseInt(hex.slice(at, at + 2), 16));
  return pixel.every((value, channel) => Math.abs(value - (expected[channel] ?? 0)) <= tolerance);
}

/** Runs `tasks` with at most `limit` in flight (ffmpeg-heavy tests share 2 cores). */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T);
    }
  });
  await Promise.all(workers);
  return results;
}
