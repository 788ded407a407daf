import { describe, expect, test } from 'vitest';
import { CACHE_STATUS, cachingHeaders, cappedCacheControl, signedExpiry } from './cache-headers.js';

const LONG = 'public, max-age=31536000, immutable';

describe('cachingHeaders', () => {
  test('a complete output carries CACHE_CONTROL as it is', () => {
    expect(cachingHeaders(LONG, false, undefined)).toEqual({ 'Cache-Control': LONG });
  });

  test('a growing output is never stored by a shared cache, signed or not', () => {
    expect(cachingHeaders(LONG, true, undefined)).toEqual({ 'Cache-Control': 'no-store' });
    expect(cachingHeaders(LONG, true, 2_000_000_000)).toEqual({ 'Cache-Control': 'no-store' });
  });

  test('a signed answer is fresh only until ik-t, with no stale serving and Expires beside it', () => {
    const now = 1_700_000_000_000;
    const headers = cachingHeaders(
      'public, max-age=31536000, s-maxage=600, stale-while-revalidate=60, stale-if-error=86400',
      false,
      1_700_000_100,
      now,
    );
    expect(headers['Cache-Control']).toBe('public, max-age=100, s-maxage=100, must-revalidate');
    expect(headers.Expires).toBe(new Date(1_700_000_100_000).toUTCString());
  });
});

describe('cappedCacheControl', () => {
  test('a shorter TTL than the expiry is kept; a past expiry is max-age=0', () => {
    expect(cappedCacheControl('public, max-age=30', 1000, 900)).toBe('public, max-age=30, must-revalidate');
    expect(cappedCacheControl(LONG, 1000, 2000)).toBe('public, max-age=0, immutable, must-revalidate');
  });

  test('no max-age at all gets one; no-store is left alone; re-capping is stable', () => {
    expect(cappedCacheControl('public', 1010, 1000)).toBe('public, max-age=10, must-revalidate');
    expect(cappedCacheControl('no-store', 1010, 1000)).toBe('no-store');
    const once = cappedCacheControl(LONG, 1010, 1000);
    expect(cappedCacheControl(once, 1010, 1005)).toBe('public, max-age=5, immutable, must-revalidate');
  });
});

test('signedExpiry reads only plain epoch seconds', () => {
  expect(signedExpiry('1700000000')).toBe(1_700_000_000);
  expect(signedExpiry(null)).toBeUndefined();
  expect(signedExpiry('1e9')).toBeUndefined();
  expect(signedExpiry('')).toBeUndefined();
});

test('Cache-Status values follow RFC 9211', () => {
  expect(Object.values(CACHE_STATUS)).toEqual([
    'ik-video-proxy; hit',
    'ik-video-proxy; fwd=miss',
    'ik-video-proxy; fwd=miss; detail=streaming',
    'ik-video-proxy; fwd=uri-miss; detail=original',
  ]);
});
