import { describe, expect, test } from 'vitest';
import {
  encodePath,
  formatSize,
  normaliseTypedPath,
  sourceUrl,
  thumbnailTimes,
  transformString,
  videoPaths,
} from './urls.js';

describe('playground page helpers (the browser module, run in Node)', () => {
  test('source URLs encode each path segment, keep slashes, and add the base, suffix and tr', () => {
    expect(encodePath('clips/a b#1.mp4')).toBe('clips/a%20b%231.mp4');
    expect(sourceUrl('', 'clips/a b.mp4')).toBe('/clips/a%20b.mp4');
    expect(sourceUrl('/v', 'a.mp4', '/ik-thumbnail.jpg', 'so-1,w-160')).toBe(
      '/v/a.mp4/ik-thumbnail.jpg?tr=so-1,w-160',
    );
    expect(sourceUrl('/v', '"><img>.mp4', '/ik-metadata.json')).toBe(
      '/v/%22%3E%3Cimg%3E.mp4/ik-metadata.json',
    );
  });

  test('thumbnail times are evenly spaced from 0, rounded down to 0.01 s, never past the end', () => {
    expect(thumbnailTimes(10, 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(thumbnailTimes(10.005, 4)).toEqual([0, 2.5, 5, 7.5]);
    expect(thumbnailTimes(0.333, 3)).toEqual([0, 0.11, 0.22]);
    for (const duration of [0, Number.NaN, -1]) expect(thumbnailTimes(duration, 2)).toEqual([0, 0]);
  });

  test('only video sources are opened by themselves, in listing order', () => {
    expect(
      videoPaths([
        { path: 'a.m4a', size: 1, type: 'audio/mp4' },
        { path: 'b.mp4', size: 1, type: 'video/mp4' },
        { path: 'c.webm', size: 1, type: 'video/webm' },
      ]),
    ).toEqual(['b.mp4', 'c.webm']);
  });

  test('the builder writes filled fields in order and drops empty ones', () => {
    expect(
      transformString([
        ['w', ' 320 '],
        ['h', ''],
        ['f', 'mp4'],
        ['rt', '  '],
      ]),
    ).toBe('w-320,f-mp4');
    expect(transformString([])).toBe('');
  });

  test('sizes and typed paths', () => {
    expect(formatSize(1_572_864)).toBe('1.5 MB');
    expect(normaliseTypedPath('  //clips/a.mp4 ')).toBe('clips/a.mp4');
  });
});
