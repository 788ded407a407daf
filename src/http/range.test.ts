import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseOpenRange, parseRangeHeader } from './range.js';

describe('parseRangeHeader', () => {
  test('no header means the whole body', () => {
    expect(parseRangeHeader(undefined, 100)).toBeUndefined();
  });

  test.each([
    ['bytes=0-0', 100, { start: 0, end: 0 }],
    ['bytes=0-1', 100, { start: 0, end: 1 }],
    ['bytes=10-19', 100, { start: 10, end: 19 }],
    ['bytes=90-200', 100, { start: 90, end: 99 }],
    ['bytes=99-', 100, { start: 99, end: 99 }],
    ['bytes=0-', 100, { start: 0, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=-500', 100, { start: 0, end: 99 }],
    ['BYTES=1-2', 100, { start: 1, end: 2 }],
    [' bytes=1 - 2 ', 100, { start: 1, end: 2 }],
    ['bytes=0-99999999999999999999999', 100, { start: 0, end: 99 }],
  ])('%s of %i bytes', (header, size, expected) => {
    expect(parseRangeHeader(header, size)).toEqual(expected);
  });

  test.each([
    ['bytes=100-', 100],
    ['bytes=100-200', 100],
    ['bytes=-0', 100],
    ['bytes=0-', 0],
    ['bytes=-5', 0],
    ['bytes=99999999999999999999999-', 100],
  ])('%s of %i bytes is unsatisfiable', (header, size) => {
    expect(parseRangeHeader(header, size)).toBe('unsatisfiable');
  });

  test.each([
    'bytes=0-1,5-6',
    'bytes=5-1',
    'bytes=-',
    'bytes=',
    'bytes=a-b',
    'bytes=1.5-2',
    'bytes=-1-2',
    'items=0-1',
    'bytes 0-1',
    '',
    'bytes=0x1-2',
  ])('%s is ignored (the whole body is served)', (header) => {
    expect(parseRangeHeader(header, 100)).toBeUndefined();
  });

  test('any result lies inside the body and is never empty', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 40, unit: 'binary' }),
          fc
            .tuple(fc.option(fc.nat(300), { nil: undefined }), fc.option(fc.nat(300), { nil: undefined }))
            .map(([a, b]) => `bytes=${a ?? ''}-${b ?? ''}`),
        ),
        fc.nat(200),
        (header, size) => {
          const range = parseRangeHeader(header, size);
          if (range === undefined || range === 'unsatisfiable') return;
          expect(Number.isInteger(range.start) && Number.isInteger(range.end)).toBe(true);
          expect(range.start).toBeGreaterThanOrEqual(0);
          expect(range.start).toBeLessThanOrEqual(range.end);
          expect(range.end).toBeLessThan(size);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('parseOpenRange (a body whose length is not known yet)', () => {
  test('reads one range from a known first byte; anything else is served whole', () => {
    expect(parseOpenRange('bytes=0-1')).toEqual({ start: 0, end: 1 });
    expect(parseOpenRange('bytes=1000-')).toEqual({ start: 1000 });
    // A suffix needs the length; several ranges, a reversed or malformed one are served whole.
    for (const header of [undefined, 'bytes=-500', 'bytes=0-1,5-9', 'bytes=9-2', 'bytes=a-b', 'items=0-1']) {
      expect(parseOpenRange(header), String(header)).toBeUndefined();
    }
  });

  test('absurd numbers stay numbers the caller bounds (never NaN, never below zero)', () => {
    const huge = parseOpenRange(`bytes=${'9'.repeat(400)}-`);
    expect(huge?.start).toBe(Number.POSITIVE_INFINITY);
    const wide = parseOpenRange(`bytes=5-${'9'.repeat(400)}`);
    expect(wide).toEqual({ start: 5, end: Number.POSITIVE_INFINITY });
  });
});
