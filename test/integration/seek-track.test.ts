import { expect, test } from 'vitest';
import { decodePixels, meanAbsoluteDifference } from '../support/pixels.js';
import { useProxy } from '../support/proxy.js';
import { fetchBytes } from './helpers.js';

/**
 * The seek-preview track: a WebVTT file whose cues point into sprite sheets with #xywh, as
 * players read it. The sheet must really hold the frames at those times.
 */
const proxy = useProxy();

test('the VTT lists a tile per second of sample.mp4 and its sheet decodes to that grid', async () => {
  const track = await fetchBytes(`${proxy.url}/sample.mp4/ik-seek-thumbnail-track.vtt?tr=w-120`);
  expect(track.status).toBe(200);
  expect(track.headers.get('content-type')).toBe('text/vtt; charset=utf-8');
  const cues = track.body.toString().trim().split('\n\n').slice(1);
  expect(cues).toHaveLength(12);
  const [, target] = cues[11]!.split('\n');
  expect(target).toBe('ik-sprite-0.jpg?tr=w-120#xywh=120,68,120,68');
  const sheet = await fetchBytes(`${proxy.url}/sample.mp4/ik-sprite-0.jpg?tr=w-120`);
  expect(sheet.status).toBe(200);
  expect(sheet.headers.get('content-type')).toBe('image/jpeg');
  const pixels = await decodePixels(sheet.body);
  expect([pixels.width, pixels.height]).toEqual([1200, 136]);
  // The picture moves over time: the first and sixth tiles differ, and the last tile is not blank.
  const tile = async (x: number, y: number) => {
    const sharp = (await import('sharp')).default;
    return decodePixels(
      await sharp(sheet.body).extract({ left: x, top: y, width: 120, height: 68 }).png().toBuffer(),
    );
  };
  expect(meanAbsoluteDifference(await tile(0, 0), await tile(600, 0))).toBeGreaterThan(2);
  const last = await tile(120, 68);
  const black = await tile(600, 68);
  expect(meanAbsoluteDifference(last, black)).toBeGreaterThan(20);
  expect((await fetchBytes(`${proxy.url}/sample.mp4/ik-sprite-1.jpg?tr=w-120`)).status).toBe(400);
});
