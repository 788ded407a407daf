import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { STREAMING_HEIGHTS } from '../url/params.js';
import { type AbsResource, absResourcePath, parseAbsResource, splitAbsPath } from './layout.js';

const track = fc.constantFrom(0, ...STREAMING_HEIGHTS);
const resource: fc.Arbitrary<AbsResource> = fc.oneof(
  track.map((height) => ({ kind: 'hls-media' as const, height })),
  track.map((height) => ({ kind: 'abs-init' as const, height })),
  fc
    .tuple(track, fc.integer({ min: 0, max: 999_999 }))
    .map(([height, index]) => ({ kind: 'abs-segment' as const, height, index })),
);

describe('ik-abs layout', () => {
  test('parse(build(x)) == x for every resource', () => {
    fc.assert(
      fc.property(resource, (r) => {
        expect(parseAbsResource(absResourcePath(r).split('/'))).toEqual(r);
        expect(splitAbsPath(`/v/a.mp4/${absResourcePath(r)}`)).toEqual({ base: '/v/a.mp4', resource: r });
      }),
    );
  });

  test('the audio track is written as audio', () => {
    expect(absResourcePath({ kind: 'abs-segment', height: 0, index: 3 })).toBe('ik-abs/audio/seg-3.m4s');
    expect(absResourcePath({ kind: 'hls-media', height: 720 })).toBe('ik-abs/720/index.m3u8');
  });

  test('paths outside ik-abs are not resources', () => {
    expect(parseAbsResource(['a.mp4'])).toBeUndefined();
    expect(splitAbsPath('/a.mp4/ik-master.m3u8')).toBeUndefined();
  });

  test.each([
    [['ik-abs', '250', 'index.m3u8'], /Rendition height/],
    [['ik-abs', '0720', 'init.mp4'], /Rendition height/],
    [['ik-abs', '720', 'seg-01.m4s'], /Unknown ik-abs resource/],
    [['ik-abs', '720', 'seg-1234567.m4s'], /Unknown ik-abs resource/],
    [['ik-abs', '720', 'seg-x.m4s'], /Unknown ik-abs resource/],
    [['ik-abs', 'audio', 'other.txt'], /Unknown ik-abs resource/],
  ])('%j is a 400', (segments, message) => {
    expect(() => parseAbsResource(segments)).toThrow(message);
  });
});
