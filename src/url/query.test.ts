import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { forwardedQuery } from './query.js';

describe('forwardedQuery', () => {
  test('keeps tr, ik-t and ik-s exactly as sent, in order', () => {
    expect(forwardedQuery('?x=1&tr=sr-240_360&utm=a&ik-t=99&ik-s=ab12')).toBe(
      '?tr=sr-240_360&ik-t=99&ik-s=ab12',
    );
    expect(forwardedQuery('?ik-s=ab&tr=w-10%2Ch-2')).toBe('?ik-s=ab&tr=w-10%2Ch-2');
    expect(forwardedQuery('tr=w-1')).toBe('?tr=w-1');
  });

  test('nothing else ever survives', () => {
    expect(forwardedQuery('')).toBe('');
    expect(forwardedQuery('?x=1&y')).toBe('');
    expect(forwardedQuery('?%E0%A4%A=1&tr=w-1')).toBe('?tr=w-1');
    fc.assert(
      fc.property(fc.webQueryParameters(), (query) => {
        const kept = new URLSearchParams(forwardedQuery(query));
        for (const name of kept.keys()) expect(['tr', 'ik-t', 'ik-s']).toContain(name);
      }),
    );
  });
});
