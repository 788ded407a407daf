import sharp from 'sharp';
import { beforeAll, describe, expect, test } from 'vitest';
import { fixturePath, fixturesWhere } from '../support/fixtures.js';
import {
  decodePixels,
  meanAbsoluteDifference,
  type Pixels,
  pixelAt,
  referenceFrame,
} from '../support/pixels.js';
import { useProxy } from '../support/proxy.js';
import {
  comparableHeaders,
  expectJsonError,
  type FetchedResponse,
  fetchBytes,
  imageFormatOf,
} from './helpers.js';

// sample.mp4: 1280x720, 12 s, a moving test pattern (so its frames differ over time).
const SAMPLE = fixturePath('sample.mp4');
const SAMPLE_DURATION = 12;

const proxy = useProxy();
/** The first frame of sample.mp4 as decoded by the real ffmpeg, independent of the proxy. */
let firstFrame: Buffer;

beforeAll(async () => {
  firstFrame = await referenceFrame(SAMPLE, 0);
});

function thumbnail(tr: string, source = 'sample.mp4', init: RequestInit = {}): Promise<FetchedResponse> {
  const query = tr ? `?tr=${tr}` : '';
  return fetchBytes(`${proxy.url}/${source}/ik-thumbnail.jpg${query}`, init);
}

/** Fetches a thumbnail, asserts 200 and returns it with its decoded size. */
async function okThumbnail(tr: string, source?: string) {
  const response = await thumbnail(tr, source);
  expect(response.status, response.body.toString('utf8').slice(0, 300)).toBe(200);
  const meta = await sharp(response.body).metadata();
  return { response, width: meta.width, height: meta.height, meta };
}

/** True when every pixel of the rectangle has exactly this RGB (PNG is lossless, so exact). */
function rectangleIs(
  pixels: Pixels,
  box: { x: number; y: number; width: number; height: number },
  rgb: number[],
) {
  for (let y = box.y; y < box.y + box.height; y++) {
    for (let x = box.x; x < box.x + box.width; x++) {
      const [r, g, b] = pixelAt(pixels, x, y);
      if (r !== rgb[0] || g !== rgb[1] || b !== rgb[2]) return false;
    }
  }
  return true;
}

describe('geometry parameters give the planned output size (decoded, not trusted from headers)', () => {
  test.each([
    { tr: '', width: 1280, height: 720 },
    { tr: 'w-300', width: 300, height: 169 },
    { tr: 'h-200', width: 356, height: 200 },
    { tr: 'w-0.5', width: 640, height: 360 },
    { tr: 'w-iw_div_4', width: 320, height: 180 },
    { tr: 'w-300,h-300', width: 300, height: 300 },
    { tr: 'ar-1-1,w-200', width: 200, height: 200 },
    { tr: 'ar-4-3,h-300', width: 400, height: 300 },
    { tr: 'c-force,w-300,h-100', width: 300, height: 100 },
    { tr: 'c-at_max,w-4000', width: 1280, height: 720 },
    { tr: 'cm-pad_resize,w-300,h-300', width: 300, height: 300 },
    { tr: 'cm-extract,w-200,h-100', width: 200, height: 100 },
    { tr: 'cm-pad_extract,w-1400,h-800', width: 1400, height: 800 },
    { tr: 'rt-90', width: 720, height: 1280 },
    { tr: 'rt-180', width: 1280, height: 720 },
    { tr: 'rt-270,w-200', width: 200, height: 356 },
    { tr: 'b-10_0000FF,w-200', width: 220, height: 133 },
    { tr: 'r-20,w-300', width: 300, height: 169 },
    { tr: 'r-max,w-100,h-100', width: 100, height: 100 },
    { tr: 'q-30,w-300', width: 300, height: 169 },
  ])('tr=$tr -> $width x $height', async ({ tr, width, height }) => {
    const result = await okThumbnail(tr);
    expect({ width: result.width, height: result.height }).toEqual({ width, height });
    // The .jpg suffix with no f gives a JPEG.
    expect(imageFormatOf(result.response.body)).toBe('jpg');
    expect(result.response.headers.get('content-type')).toBe('image/jpeg');
  });

  // Whether the free side is rounded, floored or ceiled is the planner's choice; the box rule is not.
  test('c-at_max fits inside the box, keeps the aspect ratio and touches one side', async () => {
    const { width, height } = await okThumbnail('c-at_max,w-300,h-300');
    expect(width).toBe(300);
    expect(height).toBeLessThanOrEqual(300);
    expect(Math.abs(height! - (300 * 720) / 1280)).toBeLessThan(1);
  });

  test('c-at_least covers the box, keeps the aspect ratio and touches one side', async () => {
    const { width, height } = await okThumbnail('c-at_least,w-300,h-300');
    expect(height).toBe(300);
    expect(width).toBeGreaterThanOrEqual(300);
    expect(Math.abs(width! - (300 * 1280) / 720)).toBeLessThan(1);
  });

  test('the path form /tr:.../ gives the same output as the query form', async () => {
    const query = await okThumbnail('w-150,h-150');
    const pathForm = await fetchBytes(`${proxy.url}/tr:w-150,h-150/sample.mp4/ik-thumbnail.jpg`);
    expect(pathForm.status).toBe(200);
    expect(pathForm.body.equals(query.response.body)).toBe(true);
    expect(pathForm.headers.get('etag')).toBe(query.response.headers.get('etag'));
  });
});

describe('f-jpg|png|webp|avif: the body is the format asked for', () => {
  test.each([
    { f: 'jpg', magic: 'jpg', sharpFormat: 'jpeg', contentType: 'image/jpeg' },
    { f: 'jpeg', magic: 'jpg', sharpFormat: 'jpeg', contentType: 'image/jpeg' },
    { f: 'png', magic: 'png', sharpFormat: 'png', contentType: 'image/png' },
    { f: 'webp', magic: 'webp', sharpFormat: 'webp', contentType: 'image/webp' },
    { f: 'avif', magic: 'avif', sharpFormat: 'heif', contentType: 'image/avif' },
  ])('f-$f -> $contentType', async ({ f, magic, sharpFormat, contentType }) => {
    const result = await okThumbnail(`f-${f},w-160`);
    expect(imageFormatOf(result.response.body)).toBe(magic);
    expect(result.meta.format).toBe(sharpFormat);
    expect(result.response.headers.get('content-type')).toBe(contentType);
    expect({ width: result.width, height: result.height }).toEqual({ width: 160, height: 90 });
  });
});

describe('pixels: the geometry does what it says', () => {
  test('no geometry gives the first frame as ffmpeg decodes it', async () => {
    const result = await okThumbnail('f-png');
    const difference = meanAbsoluteDifference(
      await decodePixels(result.response.body),
      await decodePixels(firstFrame),
    );
    expect(difference).toBeLessThan(0.5);
  });

  test.each([
    { focus: 'top_left', left: 0, top: 0 },
    { focus: 'bottom_right', left: 1280 - 200, top: 720 - 100 },
    { focus: 'center', left: 540, top: 310 },
  ])('cm-extract with fo-$focus crops that corner of the frame', async ({ focus, left, top }) => {
    const result = await okThumbnail(`cm-extract,w-200,h-100,fo-${focus},f-png`);
    const expected = await sharp(firstFrame).extract({ left, top, width: 200, height: 100 }).png().toBuffer();
    const actual = await decodePixels(result.response.body);
    expect(meanAbsoluteDifference(actual, await decodePixels(expected))).toBeLessThan(0.5);
    // And it is not some other region of the frame.
    const elsewhere = await sharp(firstFrame)
      .extract({ left: left === 0 ? 600 : 0, top: top === 0 ? 400 : 0, width: 200, height: 100 })
      .png()
      .toBuffer();
    expect(meanAbsoluteDifference(actual, await decodePixels(elsewhere))).toBeGreaterThan(5);
  });

  test('c-force stretches the whole frame into the box', async () => {
    const result = await okThumbnail('c-force,w-300,h-100,f-png');
    const expected = await sharp(firstFrame).resize(300, 100, { fit: 'fill' }).png().toBuffer();
    expect(
      meanAbsoluteDifference(await decodePixels(result.response.body), await decodePixels(expected)),
    ).toBeLessThan(4);
  });

  test('cm-pad_resize with bg-FF0000 pads with red bands above and below the picture', async () => {
    const result = await okThumbnail('cm-pad_resize,w-300,h-300,bg-FF0000,f-png');
    const pixels = await decodePixels(result.response.body);
    expect([pixels.width, pixels.height]).toEqual([300, 300]);
    // The 300x169 picture sits in the middle: (300 - 169) / 2 = 65 rows of padding above, 66 below.
    expect(rectangleIs(pixels, { x: 0, y: 0, width: 300, height: 64 }, [255, 0, 0])).toBe(true);
    expect(rectangleIs(pixels, { x: 0, y: 236, width: 300, height: 64 }, [255, 0, 0])).toBe(true);
    expect(rectangleIs(pixels, { x: 0, y: 100, width: 300, height: 100 }, [255, 0, 0])).toBe(false);
  });

  test('cm-pad_resize with fo-top puts the picture at the top and all the padding below', async () => {
    const result = await okThumbnail('cm-pad_resize,w-300,h-300,bg-00FF00,fo-top,f-png');
    const pixels = await decodePixels(result.response.body);
    expect(rectangleIs(pixels, { x: 0, y: 0, width: 300, height: 20 }, [0, 255, 0])).toBe(false);
    expect(rectangleIs(pixels, { x: 0, y: 170, width: 300, height: 130 }, [0, 255, 0])).toBe(true);
  });

  test('cm-pad_extract pads a crop larger than the frame with bg', async () => {
    const result = await okThumbnail('cm-pad_extract,w-1400,h-800,bg-0000FF,f-png');
    const pixels = await decodePixels(result.response.body);
    expect([pixels.width, pixels.height]).toEqual([1400, 800]);
    // 60 px each side horizontally, 40 px above and below.
    expect(rectangleIs(pixels, { x: 0, y: 0, width: 60, height: 800 }, [0, 0, 255])).toBe(true);
    expect(rectangleIs(pixels, { x: 0, y: 0, width: 1400, height: 40 }, [0, 0, 255])).toBe(true);
    expect(rectangleIs(pixels, { x: 1340, y: 0, width: 60, height: 800 }, [0, 0, 255])).toBe(true);
    expect(rectangleIs(pixels, { x: 60, y: 40, width: 1280, height: 720 }, [0, 0, 255])).toBe(false);
  });

  test('b-10_0000FF draws a 10 px blue ring around the resized picture', async () => {
    const result = await okThumbnail('b-10_0000FF,w-200,f-png');
    const pixels = await decodePixels(result.response.body);
    expect([pixels.width, pixels.height]).toEqual([220, 133]);
    const blue = [0, 0, 255];
    expect(rectangleIs(pixels, { x: 0, y: 0, width: 220, height: 10 }, blue)).toBe(true);
    expect(rectangleIs(pixels, { x: 0, y: 123, width: 220, height: 10 }, blue)).toBe(true);
    expect(rectangleIs(pixels, { x: 0, y: 0, width: 10, height: 133 }, blue)).toBe(true);
    expect(rectangleIs(pixels, { x: 210, y: 0, width: 10, height: 133 }, blue)).toBe(true);
    expect(rectangleIs(pixels, { x: 10, y: 10, width: 200, height: 113 }, blue)).toBe(false);
  });

  test('r-20 in PNG leaves the corners transparent and the middle opaque', async () => {
    const result = await okThumbnail('r-20,w-300,f-png');
    const pixels = await decodePixels(result.response.body);
    for (const [x, y] of [
      [0, 0],
      [299, 0],
      [0, 168],
      [299, 168],
    ] as const) {
      expect(pixelAt(pixels, x, y)[3], `alpha at ${x},${y}`).toBe(0);
    }
    for (const [x, y] of [
      [150, 84],
      [150, 0],
      [0, 84],
      [20, 20],
    ] as const) {
      expect(pixelAt(pixels, x, y)[3], `alpha at ${x},${y}`).toBe(255);
    }
  });

  test('r-max makes a circle: transparent corners, opaque edge midpoints', async () => {
    const result = await okThumbnail('r-max,w-100,h-100,f-png');
    const pixels = await decodePixels(result.response.body);
    expect(pixelAt(pixels, 0, 0)[3]).toBe(0);
    expect(pixelAt(pixels, 10, 10)[3]).toBe(0);
    expect(pixelAt(pixels, 99, 99)[3]).toBe(0);
    expect(pixelAt(pixels, 50, 1)[3]).toBe(255);
    expect(pixelAt(pixels, 50, 50)[3]).toBe(255);
  });

  test('r-20 in JPEG fills the rounded corners with bg', async () => {
    const result = await okThumbnail('r-20,w-300,bg-00FF00');
    const [r, g, b] = pixelAt(await decodePixels(result.response.body), 1, 1);
    expect(g).toBeGreaterThan(200);
    expect(r).toBeLessThan(60);
    expect(b).toBeLessThan(60);
  });

  test.each([
    { rt: 90, turn: 90 },
    { rt: 180, turn: 180 },
    { rt: 270, turn: 270 },
  ])('rt-$rt turns the frame clockwise by $turn degrees', async ({ rt, turn }) => {
    const result = await okThumbnail(`rt-${rt},f-png`);
    const expected = await sharp(firstFrame).rotate(turn).png().toBuffer();
    const actual = await decodePixels(result.response.body);
    expect(meanAbsoluteDifference(actual, await decodePixels(expected))).toBeLessThan(0.5);
  });

  test('q changes the encoding: q-5 is visibly further from the frame than q-95', async () => {
    const reference = await decodePixels(firstFrame);
    const low = await okThumbnail('q-5');
    const high = await okThumbnail('q-95');
    const lowError = meanAbsoluteDifference(await decodePixels(low.response.body), reference);
    const highError = meanAbsoluteDifference(await decodePixels(high.response.body), reference);
    expect(highError).toBeLessThan(3);
    expect(lowError).toBeGreaterThan(highError * 2);
  });
});

describe('so picks the time of the frame', () => {
  test('so-8 is the frame at 8 s (as ffmpeg decodes it), not the first one', async () => {
    const atEight = await decodePixels((await okThumbnail('so-8,f-png')).response.body);
    const referenceAtEight = await decodePixels(await referenceFrame(SAMPLE, 8));
    const first = await decodePixels(firstFrame);
    expect(meanAbsoluteDifference(atEight, referenceAtEight)).toBeLessThan(0.5);
    // Much of the test pattern is static, so whole-frame differences between times are a few units.
    expect(meanAbsoluteDifference(atEight, first)).toBeGreaterThan(2);
  });

  test('so-1 and so-8 give different pictures; so-0 is the default first frame', async () => {
    const one = await decodePixels((await okThumbnail('so-1,f-png')).response.body);
    const eight = await decodePixels((await okThumbnail('so-8,f-png')).response.body);
    const zero = await decodePixels((await okThumbnail('so-0,f-png')).response.body);
    expect(meanAbsoluteDifference(one, eight)).toBeGreaterThan(2);
    expect(meanAbsoluteDifference(zero, await decodePixels(firstFrame))).toBeLessThan(0.5);
  });

  test('so-idu_mul_0.5 is the middle of the video', async () => {
    const middle = await decodePixels((await okThumbnail('so-idu_mul_0.5,f-png')).response.body);
    const reference = await decodePixels(await referenceFrame(SAMPLE, SAMPLE_DURATION / 2));
    expect(meanAbsoluteDifference(middle, reference)).toBeLessThan(0.5);
  });

  test('a frame just before the end still works', async () => {
    const result = await okThumbnail('so-11.9,w-200');
    expect([result.width, result.height]).toEqual([200, 113]);
  });

  test.each(['so-100', 'so-12'])(
    '%s (at or beyond the end) -> 400 naming so and the duration',
    async (tr) => {
      const error = expectJsonError(await thumbnail(tr), 400);
      expect(error.message).toContain("'so'");
      expect(error.message).toMatch(/12(\.0+)? s/);
    },
  );
});

describe('rotation metadata', () => {
  test('the rotated phone clip gives a portrait thumbnail matching ffmpeg’s display orientation', async () => {
    const result = await okThumbnail('f-png', 'rotated-phone.mp4');
    expect(result.height).toBeGreaterThan(result.width!);
    expect([result.width, result.height]).toEqual([1080, 1920]);
    const reference = await decodePixels(await referenceFrame(fixturePath('rotated-phone.mp4'), 0));
    expect(meanAbsoluteDifference(await decodePixels(result.response.body), reference)).toBeLessThan(0.5);
  });

  test('w applies to the displayed (rotated) picture', async () => {
    const result = await okThumbnail('w-270', 'rotated-phone.mp4');
    expect([result.width, result.height]).toEqual([270, 480]);
  });
});

describe('every playable video fixture gives a thumbnail', () => {
  test.each(fixturesWhere({ kind: 'video' }).map((entry) => ({ ...entry })))(
    '$name ($videoCodec in $container)',
    async ({ name, width, height }) => {
      const result = await okThumbnail('w-64,f-png', name);
      expect(result.width).toBe(64);
      expect(result.height).toBe(Math.max(1, Math.round((64 * height!) / width!)));
    },
  );
});

describe('bad tr -> 400 naming the parameter', () => {
  test.each([
    { tr: 'w-abc', param: 'w' },
    { tr: 'h-0', param: 'h' },
    { tr: 'ar-16', param: 'ar' },
    { tr: 'c-squash', param: 'c' },
    { tr: 'cm-fill', param: 'cm' },
    { tr: 'fo-middle', param: 'fo' },
    { tr: 'bg-red', param: 'bg' },
    { tr: 'b-5', param: 'b' },
    { tr: 'r-round', param: 'r' },
    { tr: 'rt-45', param: 'rt' },
    { tr: 'so-abc', param: 'so' },
    { tr: 'q-0', param: 'q' },
    { tr: 'q-101', param: 'q' },
    { tr: 'f-gif', param: 'f' },
    { tr: 'f-mp4', param: 'f' },
    { tr: 'zz-1', param: 'zz' },
    { tr: 'vc-h264', param: 'vc' },
    { tr: 'du-3', param: 'du' },
  ])('tr=$tr', async ({ tr, param }) => {
    const error = expectJsonError(await thumbnail(tr), 400);
    expect(error.message).toContain(`'${param}'`);
  });

  test('the source is not a video -> 415; audio only -> 415', async () => {
    expectJsonError(await thumbnail('', 'not-a-video.txt'), 415);
    expectJsonError(await thumbnail('', 'audio-only.m4a'), 415);
  });
});

describe('a cached thumbnail is served like an original', () => {
  const tr = 'w-123,so-2';
  let first: FetchedResponse;

  beforeAll(async () => {
    first = await thumbnail(tr);
  });

  test('X-Cache is MISS the first time and HIT afterwards, with identical bytes and ETag', async () => {
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    const second = await thumbnail(tr);
    expect(second.status).toBe(200);
    expect(second.headers.get('x-cache')).toMatch(/^HIT/);
    expect(second.body.equals(first.body)).toBe(true);
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(first.headers.get('etag')).toMatch(/^"[^"]+"$/);
    expect(first.headers.get('cache-control')).toContain('max-age');
  });

  test('If-None-Match with its ETag -> 304', async () => {
    const revalidated = await thumbnail(tr, undefined, {
      headers: { 'If-None-Match': first.headers.get('etag')! },
    });
    expect(revalidated.status).toBe(304);
    expect(revalidated.body.length).toBe(0);
  });

  test.each([
    { range: 'bytes=0-9', start: 0, end: 9 },
    { range: 'bytes=-10', start: -10, end: -1 },
    { range: 'bytes=100-', start: 100, end: -1 },
  ])('Range $range -> 206 with the exact slice', async ({ range, start, end }) => {
    const size = first.body.length;
    const from = start < 0 ? size + start : start;
    const to = end < 0 ? size + end : end;
    const response = await thumbnail(tr, undefined, { headers: { Range: range } });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes ${from}-${to}/${size}`);
    expect(response.body.equals(first.body.subarray(from, to + 1))).toBe(true);
  });

  test('an unsatisfiable Range -> 416', async () => {
    const size = first.body.length;
    const response = await thumbnail(tr, undefined, { headers: { Range: `bytes=${size}-` } });
    expect(response.status).toBe(416);
    expect(response.headers.get('content-range')).toBe(`bytes */${size}`);
  });

  test('HEAD equals GET without the body', async () => {
    const get = await thumbnail(tr);
    const head = await thumbnail(tr, undefined, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(comparableHeaders(head.headers)).toEqual(comparableHeaders(get.headers));
    expect(head.headers.get('content-length')).toBe(String(first.body.length));
  });
});
