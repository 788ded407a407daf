import { describe, expect, test } from 'vitest';
import { HotResponses } from './hot-cache.js';

const entry = (size = 10) => ({
  body: Buffer.alloc(size, 1),
  headers: { ETag: '"e"' },
  etag: '"e"',
  kind: 'thumbnail',
});

describe('HotResponses', () => {
  test('replays an answer until the TTL passes', () => {
    const hot = new HotResponses({ maxBytes: 10_000, maxItemBytes: 1000, ttlMs: 1000 });
    hot.remember('http://h/a', entry(), undefined, 0);
    expect(hot.get('http://h/a', 999)?.etag).toBe('"e"');
    expect(hot.get('http://h/a', 1000)).toBeUndefined();
    expect(hot.size).toBe(0);
  });

  test('a signed URL lives no longer than its ik-t', () => {
    const hot = new HotResponses({ maxBytes: 10_000, maxItemBytes: 1000, ttlMs: 60_000 });
    hot.remember('http://h/s', entry(), 5, 0);
    expect(hot.get('http://h/s', 4_999)).toBeDefined();
    expect(hot.get('http://h/s', 5_000)).toBeUndefined();
    hot.remember('http://h/expired', entry(), 1, 2_000);
    expect(hot.get('http://h/expired', 2_000)).toBeUndefined();
  });

  test('keeps nothing larger than the item limit, nothing empty, nothing with TTL 0', () => {
    const hot = new HotResponses({ maxBytes: 10_000, maxItemBytes: 100, ttlMs: 1000 });
    hot.remember('http://h/big', entry(101), undefined, 0);
    hot.remember('http://h/empty', entry(0), undefined, 0);
    expect(hot.size).toBe(0);
    const off = new HotResponses({ maxBytes: 10_000, maxItemBytes: 100, ttlMs: 0 });
    off.remember('http://h/a', entry(), undefined, 0);
    expect(off.size).toBe(0);
  });

  test('stays within its byte budget, evicting the least recently used', () => {
    const hot = new HotResponses({ maxBytes: 3 * (600 + 20), maxItemBytes: 1000, ttlMs: 1000 });
    for (let i = 0; i < 10; i++) hot.remember(`http://h/${i}`, entry(100), undefined, 0);
    expect(hot.size).toBeLessThanOrEqual(3);
    expect(hot.get('http://h/9', 1)).toBeDefined();
    expect(hot.get('http://h/0', 1)).toBeUndefined();
  });
});
