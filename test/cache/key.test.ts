import { describe, expect, test } from 'vitest';
import { type CacheKeyParts, cacheKey } from '../../src/cache/key.js';

const base: CacheKeyParts = {
  sourcePath: 'videos/a.mp4',
  sourceVersion: '"etag-1"',
  kind: 'video',
  canonical: 'w-640,h-360',
};

describe('cacheKey', () => {
  test('is a sha256 hex string, the same for equal parts whatever the property order', () => {
    const key = cacheKey(base);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const reordered: CacheKeyParts = {
      canonical: base.canonical,
      kind: base.kind,
      sourceVersion: base.sourceVersion,
      sourcePath: base.sourcePath,
    };
    expect(cacheKey(reordered)).toBe(key);
  });

  test('changes when any part changes', () => {
    const variants: CacheKeyParts[] = [
      { ...base, sourcePath: 'videos/b.mp4' },
      { ...base, sourceVersion: '"etag-2"' },
      { ...base, kind: 'thumbnail' },
      { ...base, canonical: 'w-640,h-361' },
      { ...base, variant: 'segment-3' },
      { ...base, variant: '' },
    ];
    const keys = new Set([cacheKey(base), ...variants.map(cacheKey)]);
    expect(keys.size).toBe(variants.length + 1);
  });

  test('keeps parts apart when a separator-like character moves between them', () => {
    const a = cacheKey({ ...base, sourcePath: 'a","b', kind: 'c' });
    const b = cacheKey({ ...base, sourcePath: 'a', kind: 'b","c' });
    const c = cacheKey({ ...base, sourcePath: 'a|b', canonical: 'c' });
    const d = cacheKey({ ...base, sourcePath: 'a', canonical: 'b|c' });
    expect(new Set([a, b, c, d]).size).toBe(4);
  });
});
