import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { forwardedQuery } from './query.js';
import { parseRequestUrl } from './request.js';

const unsigned = (search: string, canonical = 'sr-240_360') =>
  forwardedQuery({ search, canonical, signed: false });
const signed = (search: string) => forwardedQuery({ search, canonical: 'sr-240_360', signed: true });

describe('forwardedQuery', () => {
  test('a verified signed request keeps tr, ik-t and ik-s exactly as sent, in order', () => {
    expect(signed('?x=1&tr=sr-240_360&utm=a&ik-t=99&ik-s=ab12')).toBe('?tr=sr-240_360&ik-t=99&ik-s=ab12');
    expect(signed('?ik-s=ab&tr=sr%2D240_360')).toBe('?ik-s=ab&tr=sr%2D240_360');
  });

  test('any other request repeats the canonical tr only: every spelling is one body', () => {
    for (const search of ['?tr=sr-240_360', '?tr=sr%2D240_360', '?tr=s%72-240_360&x=1', '?t%72=sr-240_360']) {
      expect(unsigned(search)).toBe('?tr=sr-240_360');
    }
    expect(unsigned('?tr=sr-240_360&ik-t=1&ik-s=forged')).toBe('?tr=sr-240_360');
    expect(unsigned('?ik-s=forged')).toBe('');
    expect(unsigned('?x=1', '')).toBe('');
  });

  test('the canonical query parses back to the same transformation', () => {
    const request = parseRequestUrl('/a.mp4/ik-master.m3u8', '?tr=sr-360_240,so-1.5:rt-90', { named: {} });
    const again = parseRequestUrl('/a.mp4/ik-master.m3u8', unsigned('?tr=x', request.canonical), {
      named: {},
    });
    expect(again.canonical).toBe(request.canonical);
  });

  test('nothing else ever survives, and the result is bounded', () => {
    fc.assert(
      fc.property(fc.webQueryParameters(), fc.boolean(), (query, isSigned) => {
        let kept: URLSearchParams;
        try {
          kept = new URLSearchParams(forwardedQuery({ search: query, canonical: 'w-1', signed: isSigned }));
        } catch {
          expect(query.length).toBeGreaterThan(4096);
          return;
        }
        for (const name of kept.keys()) expect(['tr', 'ik-t', 'ik-s']).toContain(name);
      }),
    );
    expect(() => signed(`?tr=sr-240&ik-s=${'a'.repeat(5000)}`)).toThrow(/longer than 4096/);
  });
});
