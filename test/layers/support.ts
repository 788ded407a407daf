import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll } from 'vitest';
import { REAL_FFMPEG } from '../support/ffprobe.js';
import { decodePixels, type Pixels, referenceFrame } from '../support/pixels.js';

const run = promisify(execFile);

/** The base video every layer test draws on: 320x240, solid blue, 6 s, with a tone. */
export const BASE = { width: 320, height: 240, seconds: 6, color: '0000FF' };

/**
 * A private origin folder made for the layer tests (small files made here, not fixtures): a solid
 * blue video, a red logo, a subtitle file, and the hostile inputs. Registers its own
 * `beforeAll`/`afterAll`; call it before `useProxy({ ORIGIN: origin })`.
 */
export function useLayerOrigin(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ikvp-layers-origin-'));
  beforeAll(async () => {
    await run(REAL_FFMPEG, [
      ...['-hide_banner', '-loglevel', 'error', '-y'],
      ...[
        '-f',
        'lavfi',
        '-i',
        `color=c=0x${BASE.color}:s=${BASE.width}x${BASE.height}:r=25:d=${BASE.seconds}`,
      ],
      ...['-f', 'lavfi', '-i', `sine=d=${BASE.seconds}`],
      ...['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '25', '-c:a', 'aac', '-shortest'],
      path.join(dir, 'base.mp4'),
    ]);
    // A picture-in-picture clip: 2 s of green, 80x60, no audio.
    await run(REAL_FFMPEG, [
      ...['-hide_banner', '-loglevel', 'error', '-y'],
      ...['-f', 'lavfi', '-i', 'color=c=0x00FF00:s=80x60:r=25:d=2'],
      ...['-c:v', 'libx264', '-pix_fmt', 'yuv420p', path.join(dir, 'pip.mp4')],
    ]);
    // An animated GIF: red for 1 s, then green for 1 s (10 frames a second).
    await run(REAL_FFMPEG, [
      ...['-hide_banner', '-loglevel', 'error', '-y'],
      ...['-f', 'lavfi', '-i', 'color=c=red:s=161x121:r=10:d=1'],
      ...['-f', 'lavfi', '-i', 'color=c=lime:s=161x121:r=10:d=1'],
      ...['-filter_complex', '[0][1]concat=n=2:v=1,split[a][b];[a]palettegen[p];[b][p]paletteuse'],
      ...['-loop', '0', path.join(dir, 'anim.gif')],
    ]);
    const red = { r: 255, g: 0, b: 0, alpha: 1 };
    await sharp({ create: { width: 40, height: 30, channels: 4, background: red } })
      .png()
      .toFile(path.join(dir, 'logo.png'));
    await writeFile(
      path.join(dir, 'subs.srt'),
      '1\n00:00:01,000 --> 00:00:02,500\n{\\fs200\\pos(0,0)}<b>HELLO</b> WORLD\n\n2\n00:00:04,000 --> 00:00:04,500\nBYE\n',
    );
    // An ASS script given as a subtitle layer: drawing commands over the whole frame for hours.
    await writeFile(
      path.join(dir, 'evil.ass'),
      '[Script Info]\nScriptType: v4.00+\n\n[Events]\nFormat: Layer, Start, End, Style, Text\nDialogue: 0,0:00:00.00,9:00:00.00,Default,{\\fs999\\p1}m 0 0 l 9999 9999\n',
    );
    await writeFile(
      path.join(dir, 'svg.png'),
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
    );
    await writeFile(
      path.join(dir, 'playlist.png'),
      '#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n',
    );
    await sharp({ create: { width: 50_000, height: 8, channels: 3, background: red } })
      .png()
      .toFile(path.join(dir, 'wide.png'));
    const many = Array.from({ length: 100_000 }, (_, i) => {
      const t = (s: number) =>
        `00:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')},000`;
      return `${i + 1}\n${t(i)} --> ${t(i + 1)}\nx\n`;
    });
    await writeFile(path.join(dir, 'many.srt'), many.join('\n'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A frame of a video body at `seconds`, decoded by the real ffmpeg. */
export async function frameOf(body: Buffer, seconds: number, extension = 'mp4'): Promise<Pixels> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ikvp-layers-frame-'));
  try {
    const file = path.join(dir, `body.${extension}`);
    await writeFile(file, body);
    return await decodePixels(await referenceFrame(file, seconds));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** How many pixels of a rectangle are near `hex` (each channel within 60). */
export function countNear(
  pixels: Pixels,
  hex: string,
  box: { x: number; y: number; w: number; h: number },
): number {
  const want = [0, 2, 4].map((at) => Number.parseInt(hex.slice(at, at + 2), 16));
  let count = 0;
  for (let y = box.y; y < box.y + box.h; y++) {
    for (let x = box.x; x < box.x + box.w; x++) {
      const at = (y * pixels.width + x) * pixels.channels;
      if (want.every((value, c) => Math.abs((pixels.data[at + c] ?? -1) - value) <= 60)) count++;
    }
  }
  return count;
}
