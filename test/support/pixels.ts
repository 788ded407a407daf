import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { expect } from 'vitest';
import { REAL_FFMPEG } from './ffprobe.js';

/**
 * Reading the pictures the proxy made: decode an image (sharp) or a video frame (the real ffmpeg)
 * to raw pixels, read a pixel's colour, compare two pictures.
 */

const execFileAsync = promisify(execFile);

/** Decoded, interleaved raw pixels: `channels` bytes per pixel (4 = RGBA, 3 = RGB), rows top to bottom. */
export interface Pixels {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
}

/** A decoded RGB video frame (3 channels). */
export type RgbFrame = Pixels;

/** One pixel's channel values, e.g. `[r, g, b, a]` for RGBA pixels, `[r, g, b]` for an RGB frame. */
export type Pixel = [number, number, number, ...number[]];

/** Decodes an image (JPEG, PNG, WebP, AVIF, ...) with sharp to raw RGBA (alpha added when the image has none). */
export async function decodePixels(image: Buffer): Promise<Pixels> {
  const { data, info } = await sharp(image).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** The channel values at (x, y): `[r, g, b, a]` for {@link decodePixels}, `[r, g, b]` for {@link firstFrame}. */
export function pixelAt(pixels: Pixels, x: number, y: number): Pixel {
  const at = (y * pixels.width + x) * pixels.channels;
  return Array.from({ length: pixels.channels }, (_, channel) => pixels.data[at + channel] ?? -1) as Pixel;
}

/** True when each of r, g, b is within `tolerance` of `hex` (RRGGBB), allowing for codec error; alpha is ignored. */
export function colourNear(pixel: readonly number[], hex: string, tolerance = 30): boolean {
  const expected = [0, 2, 4].map((at) => Number.parseInt(hex.slice(at, at + 2), 16));
  return expected.every((value, channel) => Math.abs((pixel[channel] ?? -1) - value) <= tolerance);
}

/** Mean absolute difference per channel value (0..255) of two same-sized decoded images (asserts the sizes match). */
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
      ...['-hide_banner', '-loglevel', 'error', '-ss', String(seconds), '-i', file],
      ...['-frames:v', '1', '-c:v', 'png', '-f', 'image2pipe', 'pipe:1'],
    ],
    { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
}

/**
 * The first decoded frame of a local file (after ffmpeg's default autorotation) as packed RGB24
 * bytes, unchecked: `width * height * 3` bytes for a `width`x`height` picture.
 */
export async function rawFirstFrame(file: string): Promise<Buffer> {
  const { stdout } = await execFileAsync(
    REAL_FFMPEG,
    [
      ...['-hide_banner', '-nostdin', '-v', 'error', '-i', file],
      ...['-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
    ],
    { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
}

/** The first decoded frame as RGB {@link Pixels}; throws unless it is `width`x`height`. */
export async function firstFrame(file: string, width: number, height: number): Promise<RgbFrame> {
  const data = await rawFirstFrame(file);
  if (data.length !== width * height * 3) {
    throw new Error(
      `Expected a ${width}x${height} frame (${width * height * 3} bytes) but got ${data.length} bytes`,
    );
  }
  return { width, height, channels: 3, data };
}
