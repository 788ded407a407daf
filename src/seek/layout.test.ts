import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseSpriteSheetName, SEEK_TRACK_NAME, seekTrackPathOf, spriteSheetName } from './layout.js';

describe('seek preview layout', () => {
  test('parse(build(n)) == n', () => {
    fc.assert(
      fc.property(fc.nat(999_999), (n) => {
        expect(parseSpriteSheetName(spriteSheetName(n))).toBe(n);
      }),
    );
  });

  test('a sheet path maps to the track that lists it', () => {
    expect(seekTrackPathOf('/v/a.mp4/ik-sprite-3.jpg')).toBe(`/v/a.mp4/${SEEK_TRACK_NAME}`);
    expect(seekTrackPathOf('/v/a.mp4/ik-thumbnail.jpg')).toBeUndefined();
    expect(seekTrackPathOf('/v/a.mp4/ik-sprite-03.jpg')).toBeUndefined();
  });

  test.each(['ik-sprite-.jpg', 'ik-sprite-01.jpg', 'ik-sprite-x.jpg', 'ik-sprite-1234567.jpg'])(
    '%s is a 400',
    (name) => {
      expect(() => parseSpriteSheetName(name)).toThrow(/Invalid sprite sheet index/);
    },
  );

  test('other names are not sheets', () => {
    expect(parseSpriteSheetName('sprite-1.jpg')).toBeUndefined();
  });
});
