import { describe, expect, test } from 'vitest';
import { ffprobe, streamOf } from '../support/ffprobe.js';
import { colourNear, firstFrame, pixelAt } from '../support/pixels.js';
import { useProxy } from '../support/proxy.js';
import { download, useWorkDir } from './support.js';

// fixtures/sample.mp4 is 1280x720; every expected size below is worked out by hand from ImageKit's rules.
const proxy = useProxy();
const work = useWorkDir();

async function transform(tr: string) {
  const { response, file, body } = await download(`${proxy.url}/sample.mp4?tr=${tr},du-1`, work.dir);
  expect(response.status, body.subarray(0, 300).toString()).toBe(200);
  const probed = await ffprobe(file);
  const video = streamOf(probed, 'video');
  if (!video?.width || !video.height) throw new Error(`No video stream in the output of ${tr}`);
  return { file, width: video.width, height: video.height, video };
}

describe('decoded output size matches the geometry asked for', () => {
  test.each([
    ['w-320', 320, 180],
    ['h-90', 160, 90],
    ['w-0.25', 320, 180],
    ['h-0.125', 160, 90],
    ['w-iw_div_8', 160, 90],
    ['w-320,ar-1-1', 320, 320],
    ['h-180,ar-4-3', 240, 180],
    ['w-320,h-320', 320, 320],
    ['w-320,h-320,c-maintain_ratio,fo-left', 320, 320],
    ['w-320,h-100,c-force', 320, 100],
    ['w-320,h-320,c-at_max', 320, 180],
    ['w-3000,h-3000,c-at_max', 1280, 720],
    // 320 * 1280 / 720 = 568.9, rounded up to even so the box stays covered.
    ['w-320,h-320,c-at_least', 570, 320],
    ['w-320,h-320,cm-pad_resize', 320, 320],
    ['w-320,h-200,cm-extract,fo-bottom_right', 320, 200],
    ['w-1400,h-800,cm-pad_extract', 1400, 800],
    ['w-333', 334, 188],
    ['rt-90,w-180', 180, 320],
    ['rt-180,w-320', 320, 180],
    ['rt-270,h-320', 180, 320],
    ['w-320,b-10_00FF00', 340, 200],
    ['w-320,r-40', 320, 180],
  ])('%s -> %ix%i', async (tr, width, height) => {
    const output = await transform(tr);
    expect([output.width, output.height]).toEqual([width, height]);
    expect(output.video.pix_fmt).toBe('yuv420p');
    // Rotation is baked into the pixels; no display matrix is left for players to apply again.
    expect(
      output.video.side_data_list?.some((side) => side.rotation !== undefined && side.rotation !== 0) ??
        false,
    ).toBe(false);
  });
});

describe('padding, borders and corners have the right colours where they should be', () => {
  test('cm-pad_resize pads above and below a wide source with bg', async () => {
    const output = await transform('w-320,h-320,cm-pad_resize,bg-FF0000');
    const frame = await firstFrame(output.file, output.width, output.height);
    // The picture is 320x180, placed at y=70: rows 0..69 and 250..319 are padding.
    for (const [x, y] of [
      [160, 10],
      [5, 60],
      [315, 260],
      [160, 315],
    ] as const) {
      expect(colourNear(pixelAt(frame, x, y), 'FF0000'), `pixel ${x},${y} = ${pixelAt(frame, x, y)}`).toBe(
        true,
      );
    }
    const inside = [pixelAt(frame, 40, 160), pixelAt(frame, 160, 120), pixelAt(frame, 280, 200)];
    expect(inside.some((pixel) => !colourNear(pixel, 'FF0000'))).toBe(true);
  });

  test('cm-pad_resize with fo-top puts all the padding below', async () => {
    const output = await transform('w-320,h-320,cm-pad_resize,bg-0000FF,fo-top');
    const frame = await firstFrame(output.file, output.width, output.height);
    expect(colourNear(pixelAt(frame, 160, 300), '0000FF')).toBe(true);
    expect(colourNear(pixelAt(frame, 160, 200), '0000FF')).toBe(true);
    const top = [pixelAt(frame, 40, 20), pixelAt(frame, 160, 90), pixelAt(frame, 280, 150)];
    expect(top.some((pixel) => !colourNear(pixel, '0000FF'))).toBe(true);
  });

  test('cm-pad_extract pads around the whole source with bg', async () => {
    const output = await transform('w-1400,h-800,cm-pad_extract,bg-00FF00');
    const frame = await firstFrame(output.file, output.width, output.height);
    // The 1280x720 source sits at (60, 40).
    for (const [x, y] of [
      [20, 400],
      [1380, 400],
      [700, 10],
      [700, 790],
    ] as const) {
      expect(colourNear(pixelAt(frame, x, y), '00FF00'), `pixel ${x},${y} = ${pixelAt(frame, x, y)}`).toBe(
        true,
      );
    }
  });

  test('b-W_RRGGBB draws a border of that colour on every side', async () => {
    const output = await transform('w-320,b-10_FFFF00');
    const frame = await firstFrame(output.file, output.width, output.height);
    for (const [x, y] of [
      [4, 100],
      [335, 100],
      [170, 4],
      [170, 195],
    ] as const) {
      expect(colourNear(pixelAt(frame, x, y), 'FFFF00'), `pixel ${x},${y} = ${pixelAt(frame, x, y)}`).toBe(
        true,
      );
    }
  });

  test('r-N fills the corners with bg and leaves the middle of the edges alone', async () => {
    const output = await transform('w-320,r-60,bg-FF00FF');
    const frame = await firstFrame(output.file, output.width, output.height);
    for (const [x, y] of [
      [2, 2],
      [317, 2],
      [2, 177],
      [317, 177],
    ] as const) {
      expect(colourNear(pixelAt(frame, x, y), 'FF00FF'), `corner ${x},${y} = ${pixelAt(frame, x, y)}`).toBe(
        true,
      );
    }
    const edges = [pixelAt(frame, 160, 2), pixelAt(frame, 2, 90), pixelAt(frame, 160, 177)];
    expect(edges.some((pixel) => !colourNear(pixel, 'FF00FF'))).toBe(true);
  });
});
