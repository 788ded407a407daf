import { expect, test } from 'vitest';
import { signPath } from '../../src/url/signature.js';
import { useProxy } from '../support/proxy.js';

/** A signed answer's freshness never reaches past its ik-t, also when the hot path replays it. */

const KEY = 'signed-ttl-key';
const proxy = useProxy({ SIGNING_KEY: KEY });

function maxAge(response: Response): number {
  return Number(/(?:^|,\s*)max-age=(\d+)/.exec(response.headers.get('cache-control') ?? '')?.[1]);
}

test('max-age counts down to ik-t on fresh answers and on hot-path replays', async () => {
  const expiry = Math.floor(Date.now() / 1000) + 30;
  const url = `${proxy.url}${signPath('/sample.mp4/ik-thumbnail.jpg?tr=w-120', KEY, expiry)}`;
  const first = await fetch(url);
  await first.arrayBuffer();
  expect(first.status).toBe(200);
  expect(maxAge(first)).toBeLessThanOrEqual(30);
  expect(maxAge(first)).toBeGreaterThan(25);
  expect(first.headers.get('cache-control')).toMatch(/must-revalidate/);
  expect(first.headers.get('cache-control')).not.toMatch(/stale-/);
  expect(first.headers.get('expires')).toBe(new Date(expiry * 1000).toUTCString());
  await new Promise((resolve) => setTimeout(resolve, 2100));
  const replay = await fetch(url);
  await replay.arrayBuffer();
  expect(replay.headers.get('x-cache')).toBe('HIT-MEMORY');
  expect(replay.headers.get('cache-status')).toBe('ik-video-proxy; hit');
  expect(maxAge(replay)).toBeLessThanOrEqual(expiry - Math.floor(Date.now() / 1000));
  expect(maxAge(replay)).toBeLessThan(maxAge(first));
});

test('an unsigned answer carries CACHE_CONTROL as it is', async () => {
  const response = await fetch(`${proxy.url}/sample.mp4/ik-thumbnail.jpg?tr=w-122`);
  await response.arrayBuffer();
  expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  expect(response.headers.get('expires')).toBeNull();
  expect(response.headers.get('cache-status')).toBe('ik-video-proxy; fwd=miss');
});
