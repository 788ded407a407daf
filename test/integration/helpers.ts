import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { expect } from 'vitest';
import { startProxy, type TestProxy } from '../support/proxy.js';

const execFileAsync = promisify(execFile);

/** The real ffmpeg/ffprobe the tests compare against (never the proxy's own probe). */
export const REAL_FFMPEG = process.env.FFMPEG_PATH || '/usr/bin/ffmpeg';
export const REAL_FFPROBE = process.env.FFPROBE_PATH || '/usr/bin/ffprobe';

/** A fully read HTTP answer. */
export interface FetchedResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** Fetches `url` and reads the whole body (an empty buffer for HEAD, 304 and friends). */
export async function fetchBytes(url: string, init: RequestInit = {}): Promise<FetchedResponse> {
  const response = await fetch(url, init);
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body };
}

/** Headers that legitimately differ between two answers of the same resource. */
const PER_RESPONSE_HEADERS = new Set([
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'x-request-id',
  'server-timing',
]);

/** The headers of an answer that must be identical between GET and HEAD of the same resource. */
export function comparableHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (!PER_RESPONSE_HEADERS.has(name)) out[name] = value;
  });
  return out;
}

/** Asserts the design §2 error document: status, JSON `{error:{code,message}}`, `Cache-Control: no-store`. */
export function expectJsonError(
  response: FetchedResponse,
  status: number,
): { code: string; message: string } {
  expect(response.status, response.body.toString('utf8')).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(response.headers.get('cache-control')).toBe('no-store');
  const document = JSON.parse(response.body.toString('utf8')) as {
    error: { code: unknown; message: unknown };
  };
  expect(typeof document.error.code).toBe('string');
  expect(typeof document.error.message).toBe('string');
  expect(document.error.message).not.toBe('');
  return document.error as { code: string; message: string };
}

/** The still-image format a body really is, from its magic bytes (never from headers). */
export function imageFormatOf(body: Buffer): 'jpg' | 'png' | 'webp' | 'avif' | 'unknown' {
  if (body.length >= 3 && body[0] === 0xff && body[1] === 0xd8 && body[2] === 0xff) return 'jpg';
  if (body.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (body.toString('latin1', 0, 4) === 'RIFF' && body.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (body.toString('latin1', 4, 8) === 'ftyp' && /avi[fs]/.test(body.toString('latin1', 8, 32)))
    return 'avif';
  return 'unknown';
}

/** Decoded RGBA pixels of an image. */
export interface Pixels {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
}

/** Decodes an image to raw RGBA (alpha added when the image has none). */
export async function decodePixels(image: Buffer): Promise<Pixels> {
  const { data, info } = await sharp(image).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** The RGBA value at (x, y). */
export function pixelAt(pixels: Pixels, x: number, y: number): [number, number, number, number] {
  const at = (y * pixels.width + x) * pixels.channels;
  return [pixels.data[at]!, pixels.data[at + 1]!, pixels.data[at + 2]!, pixels.data[at + 3]!];
}

/** Mean absolute difference per channel value (0..255) of two same-sized decoded images. */
export function meanAbsoluteDifference(a: Pixels, b: Pixels): number {
  expect([a.width, a.height, a.channels]).toEqual([b.width, b.height, b.channels]);
  let total = 0;
  for (let index = 0; index < a.data.length; index++) total += Math.abs(a.data[index]! - b.data[index]!);
  return total / a.data.length;
}

/** One frame of a local file decoded by the real ffmpeg (seeking before the input), as PNG bytes. */
export async function referenceFrame(file: string, seconds = 0): Promise<Buffer> {
  const { stdout } = await execFileAsync(
    REAL_FFMPEG,
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-ss',
      String(seconds),
      '-i',
      file,
      '-frames:v',
      '1',
      '-c:v',
      'png',
      '-f',
      'image2pipe',
      'pipe:1',
    ],
    { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
}

/** The parts of `ffprobe -show_format -show_streams` the tests look at. */
export interface ProbeResult {
  format: { format_name: string; duration?: string; size?: string; bit_rate?: string };
  streams: Array<{
    codec_type: string;
    codec_name: string;
    width?: number;
    height?: number;
    duration?: string;
    tags?: Record<string, string>;
    side_data_list?: Array<{ side_data_type?: string; rotation?: number }>;
  }>;
}

/** Runs the real ffprobe on a local file. */
export async function ffprobe(file: string): Promise<ProbeResult> {
  const { stdout } = await execFileAsync(REAL_FFPROBE, [
    '-v',
    'error',
    '-print_format',
    'json',
    '-show_format',
    '-show_streams',
    file,
  ]);
  return JSON.parse(stdout) as ProbeResult;
}

/** Writes `body` to a temporary file, probes it with the real ffprobe, and removes the file. */
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

/** Decodes every frame of a local file with the real ffmpeg; rejects if the file does not decode cleanly. */
export async function decodeCompletely(file: string): Promise<void> {
  await execFileAsync(REAL_FFMPEG, ['-hide_banner', '-v', 'error', '-xerror', '-i', file, '-f', 'null', '-']);
}

/** Clockwise display rotation (0/90/180/270) from ffprobe's display matrix or legacy `rotate` tag. */
export function displayRotation(stream: ProbeResult['streams'][number]): number {
  const matrix = stream.side_data_list?.find((side) => side.side_data_type === 'Display Matrix');
  // ffprobe reports the matrix's counter-clockwise angle; a phone's "rotate=90" is -90 here.
  const counterClockwise = matrix?.rotation ?? -Number(stream.tags?.rotate ?? 0);
  return (((-counterClockwise % 360) + 360) % 360) as number;
}

/** One ffmpeg start seen by the spy wrapper. */
export interface FfmpegRun {
  pid: number;
  /** ffmpeg processes alive (including this one) when it started. */
  concurrent: number;
  argv: string;
}

/**
 * An `FFMPEG_PATH` that records every real ffmpeg run: a shell wrapper that registers its pid,
 * counts how many registered pids are alive (itself included), logs a line and then `exec`s the
 * real ffmpeg, so the pid stays alive exactly as long as ffmpeg does. `-version` runs (readiness
 * checks) are not counted as jobs.
 */
export interface FfmpegSpy {
  /** The wrapper to pass as `FFMPEG_PATH`. */
  path: string;
  /** Every job run so far. */
  runs(): Promise<FfmpegRun[]>;
  /** The most ffmpeg processes ever seen running at once. */
  maxConcurrent(): Promise<number>;
  remove(): Promise<void>;
}

/** Creates an {@link FfmpegSpy} in a fresh temporary directory; `real` may be ffprobe to spy on probes. */
export async function createFfmpegSpy(real = REAL_FFMPEG): Promise<FfmpegSpy> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'ikvp-ffmpeg-spy-'));
  const pids = path.join(directory, 'pids');
  const log = path.join(directory, 'runs.log');
  await mkdir(pids);
  await writeFile(log, '');
  const wrapper = path.join(directory, 'ffmpeg');
  // Register first, then count: two wrappers starting together each see the other.
  await writeFile(
    wrapper,
    `#!/bin/sh
touch "${pids}/$$"
live=0
for entry in "${pids}"/*; do
  pid="\${entry##*/}"
  if kill -0 "$pid" 2>/dev/null; then live=$((live + 1)); fi
done
echo "$$ $live $*" >> "${log}"
exec "${real}" "$@"
`,
  );
  await chmod(wrapper, 0o755);
  const runs = async (): Promise<FfmpegRun[]> => {
    const text = await readFile(log, 'utf8');
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        const [pid, concurrent, ...argv] = line.split(' ');
        return { pid: Number(pid), concurrent: Number(concurrent), argv: argv.join(' ') };
      })
      .filter((run) => !/(^| )-version( |$)/.test(run.argv));
  };
  return {
    path: wrapper,
    runs,
    async maxConcurrent() {
      return Math.max(0, ...(await runs()).map((run) => run.concurrent));
    },
    async remove() {
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Files under a folder, recursively (for checking what a cache directory holds). */
export async function listFilesRecursively(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

/**
 * `startProxy` with a cache directory this helper owns. `Proxy.close()` does not wait for a video
 * output's cache write that is still finishing, so the folder is removed with retries instead of
 * failing the test on ENOTEMPTY.
 */
export async function startOwnedProxy(env: Record<string, string> = {}): Promise<TestProxy> {
  const cacheDir = env.CACHE_DIR ?? (await mkdtemp(path.join(os.tmpdir(), 'ikvp-it-cache-')));
  const proxy = await startProxy({ ...env, CACHE_DIR: cacheDir });
  return {
    ...proxy,
    async close() {
      await proxy.close();
      if (!env.CACHE_DIR)
        await rm(cacheDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
    },
  };
}
