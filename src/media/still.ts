import sharp, { type Sharp } from 'sharp';
import type { GeometryOp } from '../plan/geometry.js';
import type { StillFormat } from '../plan/types.js';

/** What `renderStill` needs: a decoded frame (any format sharp reads) and the planned work. */
export interface StillJob {
  frame: Buffer;
  /** Set when `frame` is bare pixels (see `parsePpm`) rather than an encoded image. */
  raw?: RawFrame;
  ops: readonly GeometryOp[];
  format: StillFormat;
  quality: number;
  /** sharp's decompression-bomb guard. */
  maxInputPixels: number;
}

/** The layout of bare 8-bit RGB pixels. */
export interface RawFrame {
  width: number;
  height: number;
  channels: 3;
}

/**
 * Splits a binary PPM (`P6`, maxval 255, as ffmpeg writes it) into its size and its pixels;
 * `undefined` for anything else or a body of the wrong length.
 */
export function parsePpm(ppm: Buffer): { raw: RawFrame; pixels: Buffer } | undefined {
  // "P6", whitespace, width, whitespace, height, whitespace, maxval, one whitespace byte.
  const header = /^P6\s+(\d{1,5})\s+(\d{1,5})\s+255\s/.exec(ppm.subarray(0, 32).toString('latin1'));
  if (!header) return undefined;
  const width = Number(header[1]);
  const height = Number(header[2]);
  const start = header[0].length;
  if (width === 0 || height === 0 || ppm.length - start !== width * height * 3) return undefined;
  return { raw: { width, height, channels: 3 }, pixels: ppm.subarray(start) };
}

function hexToRgb(hex: string): { r: number; g: number; b: number; alpha: number } {
  const value = Number.parseInt(hex, 16);
  return { r: (value >> 16) & 255, g: (value >> 8) & 255, b: value & 255, alpha: 1 };
}

async function applyOp(input: Sharp, op: GeometryOp, maxInputPixels: number): Promise<Sharp> {
  let next: Sharp;
  switch (op.op) {
    case 'rotate':
      next = input.rotate(op.degrees);
      break;
    case 'resize':
      next = input.resize(op.width, op.height, { fit: 'fill', kernel: 'lanczos3' });
      break;
    case 'crop':
      next = input.extract({ left: op.x, top: op.y, width: op.width, height: op.height });
      break;
    case 'pad': {
      const meta = await input.clone().metadata();
      const w = meta.width ?? 0;
      const h = meta.height ?? 0;
      next = input.extend({
        top: op.y,
        left: op.x,
        bottom: Math.max(0, op.height - h - op.y),
        right: Math.max(0, op.width - w - op.x),
        background: hexToRgb(op.color),
      });
      break;
    }
    case 'border':
      next = input.extend({
        top: op.width,
        bottom: op.width,
        left: op.width,
        right: op.width,
        background: hexToRgb(op.color),
      });
      break;
    case 'round': {
      const { data, info } = await input.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      const mask = Buffer.from(
        `<svg width="${info.width}" height="${info.height}"><rect x="0" y="0" width="${info.width}" height="${info.height}" rx="${op.radius}" ry="${op.radius}"/></svg>`,
      );
      next = sharp(data, { raw: info, limitInputPixels: maxInputPixels }).composite([
        { input: mask, blend: 'dest-in' },
      ]);
      break;
    }
  }
  // Materialise between steps: sharp reorders operations inside one pipeline, and ours must run in order.
  const { data, info } = await next.raw().toBuffer({ resolveWithObject: true });
  return sharp(data, { raw: info, limitInputPixels: maxInputPixels });
}

/**
 * Applies planned geometry to one decoded frame and encodes it. Rounded corners stay transparent
 * in formats with alpha and are flattened onto the planned colour in JPEG.
 */
export async function renderStill(job: StillJob): Promise<Buffer> {
  let image = sharp(job.frame, { limitInputPixels: job.maxInputPixels, raw: job.raw });
  let flattenColor: string | undefined;
  for (const op of job.ops) {
    image = await applyOp(image, op, job.maxInputPixels);
    if (op.op === 'round') flattenColor = op.color;
  }
  switch (job.format) {
    case 'jpg':
      if (flattenColor) image = image.flatten({ background: hexToRgb(flattenColor) });
      return image.jpeg({ quality: job.quality, mozjpeg: false }).toBuffer();
    case 'png':
      return image.png({ compressionLevel: 6 }).toBuffer();
    case 'webp':
      return image.webp({ quality: job.quality }).toBuffer();
    case 'avif':
      return image.avif({ quality: job.quality, effort: 2 }).toBuffer();
  }
}
