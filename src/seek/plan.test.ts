import { describe, expect, test } from 'vitest';
import { mediaInfo } from '../../test/support/media-info.js';
import type { MediaInfo } from '../media/types.js';
import { MAX_TILES, planSprites, seekThumbnailTrack } from './plan.js';

const limits = {
  maxOutputPixels: 3840 * 2160,
  maxSourceDuration: 10_800,
  maxSourcePixels: 4096 * 2304,
  maxSourceStreams: 16,
};
function source(duration: number, width = 1280, height = 720): MediaInfo {
  return mediaInfo({ duration, width, height, audio: false, formatName: 'mov' });
}

describe('planSprites', () => {
  test('a short clip gets a tile a second, 160 px wide keeping the aspect', () => {
    const plan = planSprites({}, source(12), limits);
    expect(plan).toMatchObject({ interval: 1, count: 12, tileWidth: 160, tileHeight: 90, sheets: 1 });
  });

  test('a long video gets a coarser interval, never more than MAX_TILES tiles', () => {
    const plan = planSprites({}, source(3600), limits);
    expect(plan.count).toBeLessThanOrEqual(MAX_TILES);
    expect(plan.interval).toBe(18);
    expect(plan.sheets).toBe(2);
  });

  test('w/h size the tiles; no video or no duration is refused', () => {
    expect(planSprites({ h: { kind: 'px', value: 100 } }, source(10), limits)).toMatchObject({
      tileHeight: 100,
      tileWidth: 178,
    });
    expect(() => planSprites({}, { ...source(10), video: undefined }, limits)).toThrow(/no video/);
    expect(() => planSprites({}, source(0), limits)).toThrow(/duration/);
  });
});

describe('seekThumbnailTrack', () => {
  test('one cue per tile with #xywh into the right sheet, the query repeated', () => {
    const plan = planSprites({}, source(250), limits);
    const vtt = seekThumbnailTrack(plan, '?tr=w-160');
    expect(vtt.startsWith('WEBVTT\n\n')).toBe(true);
    const cues = vtt.trim().split('\n\n').slice(1);
    expect(cues).toHaveLength(plan.count);
    expect(cues[0]).toBe('00:00:00.000 --> 00:00:02.000\nik-sprite-0.jpg?tr=w-160#xywh=0,0,160,90');
    expect(cues[11]).toBe('00:00:22.000 --> 00:00:24.000\nik-sprite-0.jpg?tr=w-160#xywh=160,90,160,90');
    expect(cues[100]).toMatch(
      /^00:03:20\.000 --> 00:03:22\.000\nik-sprite-1\.jpg\?tr=w-160#xywh=0,0,160,90$/,
    );
    expect(cues.at(-1)).toMatch(/--> 00:04:10\.000\n/);
  });
});
